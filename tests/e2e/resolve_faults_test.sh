#!/usr/bin/env bash
# `green resolve` against a misbehaving DNS server (tests/dns/fake_dns.py) on
# loopback: queries dropped (all, some, the first copy), late answers,
# SERVFAIL, junk, truncated and wrong-id replies before the real one, and a
# server whose small socket buffer overflows under the default window, also
# after it hung for a while.
# Results are checked by counts and values; `timeout` only catches a hang.
# Usage: resolve_faults_test.sh PATH/TO/green
set -u
green=${1:?usage: resolve_faults_test.sh PATH/TO/green}
here=$(cd "$(dirname "$0")" && pwd)
fake="$here/../dns/fake_dns.py"
work=$(mktemp -d /tmp/green-resolve-faults-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# start NAME [ARGS...]: a fake server logging to $work/NAME.log; sets port.
start() {
  local name=$1; shift
  /usr/bin/python3 "$fake" "$work/$name.port" "$work/$name.log" "$@" &
  pids+=($!)
  for _ in $(seq 1 200); do [ -s "$work/$name.port" ] && break; sleep 0.05; done
  port=$(cat "$work/$name.port")
}
resolve() { timeout -s KILL 120 "$green" resolve --no-progress "$@"; }
want_addr() { echo "10.0.$(($1 / 256)).$(($1 % 256))"; }

# ---- one server, every fault at once ------------------------------------------
start mixed --late 0.3
mixed=127.0.0.1:$port
{
  for i in $(seq 0 299); do echo "ok$i.fake.test"; done
  for k in lossy garbage badid trunc late; do for i in $(seq 0 29); do echo "$k$i.fake.test"; done; done
  for i in $(seq 0 19); do echo "drop$i.fake.test"; echo "servfail$i.fake.test"; done
} >"$work/mixed.txt"
# --retries 0: a try is one ares query with one id, so a lossy name is
# answered only if green sends the same query again itself.
resolve --server "$mixed" --timeout 3s --retries 0 "$work/mixed.txt" >"$work/mixed.out" 2>"$work/mixed.err"
rc=$?
[ $rc -eq 1 ] || fail "mixed faults exited $rc, want 1 (drops and SERVFAILs)"
bad=$(awk -F'\t' '{ split($1, l, "."); k = l[1]; sub(/[0-9]+$/, "", k); i = substr(l[1], length(k) + 1) + 0
  want = sprintf("10.0.%d.%d", int(i / 256), i % 256)
  if ($2 != "A" || $4 != want || k == "drop" || k == "servfail") print }' "$work/mixed.out")
[ -z "$bad" ] || fail "answers that do not match their names:\n$bad"
[ "$(cut -f1 "$work/mixed.out" | sort -u | wc -l)" -eq 450 ] || fail "mixed: $(wc -l <"$work/mixed.out") answers, want 450 names"
for k in lossy garbage badid trunc late; do
  n=$(grep -c "^$k[0-9]*\.fake\.test" "$work/mixed.out")
  [ "$n" -eq 30 ] || fail "$k: $n of 30 names answered"
done
[ "$(grep -c ': TIMEOUT$' "$work/mixed.err")" -eq 20 ] || fail "dropped names not all TIMEOUT: $(grep -c TIMEOUT "$work/mixed.err")"
[ "$(grep -c 'servfail.*: SERVFAIL$' "$work/mixed.err")" -eq 20 ] || fail "SERVFAIL names not reported"
grep -q 'NOERROR 450, NXDOMAIN 0, NODATA 0, SERVFAIL 20, REFUSED 0, TIMEOUT 20, ERROR 0;' "$work/mixed.err" ||
  fail "mixed summary: $(tail -n 1 "$work/mixed.err")"
# Each lossy name reached the server twice with one id (dropped, re-sent).
lossy_ids=$(grep -c '^lossy' "$work/mixed.log")
[ "$lossy_ids" -ge 60 ] || fail "lossy names reached the server $lossy_ids times, want 2 each"

# ---- a dead server: the names time out together, not in turns -------------------
start dead
dead=127.0.0.1:$port
for i in $(seq 0 199); do echo "drop$i.fake.test"; done >"$work/dead.txt"
out=$(resolve --server "$dead" --timeout 1s --retries 1 "$work/dead.txt" 2>"$work/dead.err"); rc=$?
[ $rc -eq 1 ] || fail "dead server exited $rc, want 1"
[ -z "$out" ] || fail "dead server printed answers: $out"
grep -q 'NOERROR 0, .* TIMEOUT 200, ERROR 0;' "$work/dead.err" || fail "dead summary: $(tail -n 1 "$work/dead.err")"
# Every name reached the server before any name was asked a second time:
# the window does not hold names back behind a silent server's timeouts.
first_repeat=$(awk '{ if (seen[$1]++) { print NR; exit } }' "$work/dead.log")
distinct_before=$(head -n "$((${first_repeat:-100000} - 1))" "$work/dead.log" | cut -d' ' -f1 | sort -u | wc -l)
[ "$distinct_before" -eq 200 ] || fail "dead server: only $distinct_before names asked before the first repeat"
[ "$(cut -d' ' -f1 "$work/dead.log" | sort -u | wc -l)" -eq 200 ] || fail "dead server did not see every name"
# The same with green stopped across the silence threshold (0.5 s) and the
# first timeouts (1 s), as a loaded machine may: it wakes to both at once,
# and the names the silence lets go still go out before the first retries.
start dead2
"$green" resolve --no-progress --server "127.0.0.1:$port" --timeout 1s --retries 1 "$work/dead.txt" >/dev/null 2>&1 &
rpid=$!
pids+=("$rpid")
sleep 0.3
kill -STOP "$rpid"
sleep 1.2
kill -CONT "$rpid"
wait "$rpid"
first_repeat=$(awk '{ if (seen[$1]++) { print NR; exit } }' "$work/dead2.log")
distinct_before=$(head -n "$((${first_repeat:-100000} - 1))" "$work/dead2.log" | cut -d' ' -f1 | sort -u | wc -l)
[ "$distinct_before" -eq 200 ] || fail "dead server, green stalled: only $distinct_before names asked before the first repeat"

# ---- a server whose socket overflows: the window adapts, nothing is lost ----------
start small --rcvbuf 4096
small=127.0.0.1:$port
for i in $(seq 0 2999); do echo "ok$i.fake.test"; done >"$work/small.txt"
resolve --server "$small" --timeout 2s --retries 2 "$work/small.txt" >"$work/small.out" 2>"$work/small.err"
rc=$?
[ $rc -eq 0 ] || fail "small buffer exited $rc: $(tail -n 1 "$work/small.err")"
[ "$(cut -f1 "$work/small.out" | sort -u | wc -l)" -eq 3000 ] || fail "small buffer: $(wc -l <"$work/small.out") answers, want 3000"
echo "small-buffer server: $(($(wc -l <"$work/small.log") - 3000)) datagrams beyond one per name"

# ---- the same server hangs for 1.5 s mid-run: the window starts small again -------
# It stops reading at its 500th datagram (as a stopped or starved process
# does): green finds it silent and sends what waited; its answers then
# reopen the window from the start, not wide (a burst there, and at each
# re-send, overflowed the 4 KiB buffer: 500-700 of 3,000 names timed out).
start paused --rcvbuf 4096 --pause 500:1.5
resolve --server "127.0.0.1:$port" --timeout 2s --retries 1 "$work/small.txt" >"$work/paused.out" 2>"$work/paused.err"
rc=$?
[ $rc -eq 0 ] || fail "server hung for 1.5 s: exited $rc: $(tail -n 1 "$work/paused.err")"
[ "$(cut -f1 "$work/paused.out" | sort -u | wc -l)" -eq 3000 ] || fail "server hung for 1.5 s: $(wc -l <"$work/paused.out") answers, want 3000"

if [ $failures -gt 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all resolve fault checks passed"
