#!/usr/bin/env bash
# End-to-end tests of `green fetch` against a private nginx on loopback
# (tests/e2e/lib/httpd.sh), a misbehaving Python peer (503-then-200, and a
# listener that never answers) and a port nobody listens on.
# Usage: fetch_test.sh PATH/TO/green
set -u
green=${1:?usage: fetch_test.sh PATH/TO/green}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/green-fetch-test.XXXXXX)
chmod 755 "$work"  # nginx's workers run as nobody when the test runs as root
flaky_pid=
cleanup() {
  "$here/lib/httpd.sh" stop "$work/httpd" >/dev/null 2>&1
  "$here/../dns/knot.sh" stop "$work/knot" >/dev/null 2>&1
  [ -n "$flaky_pid" ] && kill "$flaky_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

"$here/lib/httpd.sh" start "$work/httpd" >/dev/null || { echo "FAIL: nginx did not start" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/httpd/env"
H=http://127.0.0.1:$HTTP_PORT
S=https://127.0.0.1:$HTTPS_PORT
python3 "$here/lib/flaky_server.py" "$work/flaky.env" &
flaky_pid=$!
for _ in $(seq 100); do [ -f "$work/flaky.env" ] && break; sleep 0.05; done
# shellcheck disable=SC1091
. "$work/flaky.env"
F=http://127.0.0.1:$FLAKY_PORT
refused=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
asan=0
grep -q __asan_init "$green" && asan=1

# ---- byte-exact bodies of several sizes, saved with -o ----------------------
sizes="0 1 1000 65536 1048576 3000000"
for n in $sizes; do echo "$H/files/size-$n.bin"; done >"$work/sizes.txt"
out=$("$green" fetch -q -o "$work/dl" "$work/sizes.txt"); rc=$?
[ $rc -eq 0 ] || fail "sizes: exit $rc"
[ "$(wc -l <<<"$out")" -eq 6 ] || fail "sizes: want 6 result lines: $out"
for n in $sizes; do
  line=$(grep -P "\t$H/files/size-$n.bin\t" <<<"$out")
  [ "$(cut -f1 <<<"$line")" = 200 ] || fail "size $n: status $(cut -f1 <<<"$line")"
  [ "$(cut -f2 <<<"$line")" = "$n" ] || fail "size $n: bytes $(cut -f2 <<<"$line")"
  [ "$(cut -f5 <<<"$line")" = "$work/dl/size-$n.bin" ] || fail "size $n: path $(cut -f5 <<<"$line")"
  want=$(grep " files/size-$n.bin\$" "$WWW/SHA256SUMS" | cut -d' ' -f1)
  got=$(sha256sum <"$work/dl/size-$n.bin" | cut -d' ' -f1)
  [ "$want" = "$got" ] || fail "size $n: checksum differs"
done

# ---- statuses, redirects, exit codes ----------------------------------------
out=$(printf '%s\n' "$H/status/404" "$H/status/500" "$H/files/size-1.bin" | "$green" fetch -q --ordered); rc=$?
[ $rc -eq 1 ] || fail "404/500: exit $rc, want 1"
[ "$(cut -f1 <<<"$out" | tr '\n' ' ')" = "404 500 200 " ] || fail "404/500: statuses $(cut -f1 <<<"$out" | tr '\n' ' ')"

out=$("$green" fetch -q --json <<<"$H/r3"); rc=$?
[ $rc -eq 0 ] || fail "redirect chain: exit $rc"
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["status"]==200 and o["final_url"].endswith("/files/size-1000.bin") and o["bytes"]==1000, o' "$out" ||
  fail "redirect chain: $out"
out=$("$green" fetch -q --no-location <<<"$H/r3"); rc=$?
[ $rc -eq 1 ] || fail "--no-location: exit $rc, want 1"
[ "$(cut -f1 <<<"$out")" = 302 ] || fail "--no-location: $out"
err=$("$green" fetch -q --max-redirs 3 <<<"$H/loop-a" 2>&1 >"$work/loop.out"); rc=$?
[ $rc -eq 1 ] || fail "redirect loop: exit $rc"
[ "$(cut -f1 "$work/loop.out")" = ERR ] || fail "redirect loop: $(cat "$work/loop.out")"
grep -q "redirects" <<<"$err" || fail "redirect loop: reason missing on stderr: $err"

# ---- HTTPS: --cacert passes, the default verification fails, HTTP/2 ---------
out=$("$green" fetch -q --json --cacert "$CERT" <<<"$S/files/size-65536.bin"); rc=$?
[ $rc -eq 0 ] || fail "https --cacert: exit $rc: $out"
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["status"]==200 and o["http_version"]=="2" and o["bytes"]==65536, o' "$out" ||
  fail "https --cacert over HTTP/2: $out"
out=$("$green" fetch -q --json <<<"$S/files/size-1.bin" 2>"$work/tls.err"); rc=$?
[ $rc -eq 1 ] || fail "https without the CA: exit $rc, want 1"
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["status"] is None and "certificate" in o["error"], o' "$out" ||
  fail "https without the CA: $out"
grep -q "certificate" "$work/tls.err" || fail "https without the CA: no reason on stderr"
out=$("$green" fetch -q -k --http1.1 --json <<<"$S/files/size-1.bin"); rc=$?
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["status"]==200 and o["http_version"]=="1.1", o' "$out" ||
  fail "-k --http1.1: $out"
out=$("$green" fetch -q --http2 --cacert "$CERT" --json <<<"$S/files/size-1.bin"); rc=$?
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["status"]==200 and o["http_version"]=="2", o' "$out" ||
  fail "--http2: $out"
# nginx has no h2c upgrade: --http2 on cleartext falls back to HTTP/1.1.
out=$("$green" fetch -q --http2 --json <<<"$H/files/size-1.bin"); rc=$?
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["status"]==200 and o["http_version"]=="1.1", o' "$out" ||
  fail "--http2 cleartext fallback: $out"

# ---- timeouts: a slow body, a silent listener; connection refused -----------
out=$(printf '%s\n' "$H/slow/size-65536.bin" "http://127.0.0.1:$SILENT_PORT/" "http://127.0.0.1:$refused/" |
  "$green" fetch -q --timeout 1s --json 2>"$work/to.err"); rc=$?
[ $rc -eq 1 ] || fail "timeouts: exit $rc"
python3 - "$out" <<'PY' || fail "timeouts: $out"
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
assert len(rows) == 3, rows
for r in rows:
    assert r["status"] is None and r["error"], r
slow = [r for r in rows if "/slow/" in r["url"]][0]
assert "timed out" in slow["error"] and 0 < slow["bytes"] < 65536, slow
assert len([r for r in rows if "timed out" in r["error"]]) == 2, rows
assert len([r for r in rows if "connect" in r["error"].lower()]) == 1, rows
PY
grep -q "Connection refused\|Couldn't connect\|Failed to connect" "$work/to.err" || fail "refused: no reason on stderr"
[ "$(grep -c "timed out" "$work/to.err")" -eq 2 ] || fail "want 2 timeouts on stderr: $(cat "$work/to.err")"

# ---- a server closes idle keep-alive connections while another transfer runs --
# Each quick URL's connection goes back to curl's cache and the server closes
# it 200 ms later (CLOSE-WAIT here) while /trickle (about 3 s) still runs. The
# hub once spun on such a socket forever, deaf to signals: the run must end,
# and with little CPU (a spin would burn seconds; a normal run takes ~0.05 s).
I=http://127.0.0.1:$IDLE_PORT
printf '%s\n' "$I/trickle/20" "$I/a" "$I/b" "$I/c" >"$work/idle.txt"
/usr/bin/time -f '%U %S' -o "$work/idle.time" timeout -s KILL 60 "$green" fetch -q -c 4 "$work/idle.txt" \
  >"$work/idle.out"; rc=$?
[ $rc -eq 0 ] || fail "idle connections closed by the server: exit $rc (137: killed after 60 s)"
[ "$(grep -c "^200	" "$work/idle.out")" -eq 4 ] || fail "idle connections closed by the server: $(cat "$work/idle.out")"
cpu=$(tail -n 1 "$work/idle.time" | awk '{print $1 + $2}')
awk -v c="$cpu" 'BEGIN { exit !(c < 1.0) }' || fail "idle connections closed by the server: ${cpu} s of CPU (a spinning hub)"

# ---- stalls: a listener that never answers, a body that stops half-way ---------
# No --timeout: the default idle abort (--speed-time 60s, shortened here) ends both.
out=$(printf '%s\n' "$F/stall/1000" "http://127.0.0.1:$SILENT_PORT/" |
  timeout -s KILL 60 "$green" fetch -q --json --speed-time 1s 2>"$work/stall.err"); rc=$?
[ $rc -eq 1 ] || fail "stalls: exit $rc, want 1 (137: not aborted)"
python3 - "$out" <<'PY' || fail "stalls: $out"
import json, sys
rows = {json.loads(l)["url"].split("/")[3]: json.loads(l) for l in sys.argv[1].splitlines()}
assert len(rows) == 2, rows
for r in rows.values():
    assert r["status"] is None and r["error"].startswith("stalled: no data for 1 s"), r
assert rows["stall"]["bytes"] == 1000 and rows[""]["bytes"] == 0, rows
PY
[ "$(grep -c "stalled" "$work/stall.err")" -eq 2 ] || fail "stalls: reasons on stderr: $(cat "$work/stall.err")"
"$green" fetch --help | grep -A1 -- "--speed-time DUR " | grep -q "(default 1m;" || fail "--help: --speed-time's default"

# ---- retries: a 503 that succeeds on the third try; 429 with Retry-After ----
out=$(printf '%s\n' "$F/fail/2/a" "$F/fail/5/b" | "$green" fetch -q --retries 3 --retry-delay 10ms --json --ordered); rc=$?
[ $rc -eq 1 ] || fail "retries: exit $rc, want 1 (b still fails)"
python3 - "$out" <<'PY' || fail "retries: $out"
import json, sys
a, b = [json.loads(l) for l in sys.argv[1].splitlines()]
assert a["status"] == 200 and a["attempts"] == 3, a
assert b["status"] == 503 and b["attempts"] == 4, b
PY
[ "$(curl -s "$F/count/a")" = 3 ] || fail "retries: server saw $(curl -s "$F/count/a") requests for a, want 3"
[ "$(curl -s "$F/count/b")" = 4 ] || fail "retries: server saw $(curl -s "$F/count/b") requests for b, want 4"
out=$("$green" fetch -q --retries 1 --json <<<"$H/status/429")
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["status"]==429 and o["attempts"]==2, o' "$out" ||
  fail "429 retried: $out"
out=$("$green" fetch -q --retries 2 --retry-delay 10ms --json <<<"http://127.0.0.1:$refused/" 2>/dev/null)
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["status"] is None and o["attempts"]==3, o' "$out" ||
  fail "connection errors are retried: $out"
out=$("$green" fetch -q --retries 2 --json <<<"$H/status/404")
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["attempts"]==1, o' "$out" || fail "a 404 is not retried: $out"

# A Retry-After past --retry-max-time (default 60s) is reported, not waited for.
out=$(timeout -s KILL 60 "$green" fetch -q --retries 3 --json <<<"$F/retry-after/3600/long" 2>"$work/ra.err"); rc=$?
[ $rc -eq 1 ] || fail "Retry-After 3600: exit $rc, want 1 (137: it waited)"
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["status"]==503 and o["attempts"]==1, o' "$out" ||
  fail "Retry-After 3600: $out"
grep -q "not retried: Retry-After 1h is past --retry-max-time 1m" "$work/ra.err" || fail "Retry-After 3600: $(cat "$work/ra.err")"

# SIGINT while a URL waits on Retry-After (and one on a silent server): every
# URL read still ends up on stdout, the unfinished ones as ERR "interrupted".
printf '%s\n' "$F/retry-after/30/int" "$F/count/x" "http://127.0.0.1:$SILENT_PORT/" "$F/count/y" >"$work/int.txt"
"$green" fetch --retries 1 --retry-max-time 1h --ordered "$work/int.txt" >"$work/int.out" 2>"$work/int.err" &
pid=$!
for _ in $(seq 200); do [ "$(curl -s "$F/count/int")" = 1 ] && break; sleep 0.05; done
sleep 0.2
kill -INT $pid
wait $pid; rc=$?
[ $rc -eq 130 ] || fail "SIGINT: exit $rc, want 130"
[ "$(cut -f4 "$work/int.out")" = "$(cat "$work/int.txt")" ] || fail "SIGINT: not every URL on stdout: $(cat "$work/int.out")"
grep -q "^ERR	.*/retry-after/30/int$" "$work/int.out" || fail "SIGINT: the waiting URL: $(cat "$work/int.out")"
grep -q "retry-after/30/int: interrupted" "$work/int.err" || fail "SIGINT: no reason on stderr: $(cat "$work/int.err")"
grep -q "interrupted 2" "$work/int.err" || fail "SIGINT: summary: $(cat "$work/int.err")"

# ---- duplicates and -o names for tricky URLs --------------------------------
long=$(printf 'x%.0s' $(seq 300))
printf '%s\n' "$H/files/size-1.bin" "$H/files/size-1.bin" "$H/files/size-1.bin" \
  "$H/files/size-1.bin?a=1&b=../../etc/passwd" "$H/files/..%2F..%2Fsize-1.bin" "$H/$long/$long.bin" \
  "$H/" "$H/files/.hidden" >"$work/tricky.txt"
mkdir -p "$work/names"
touch "$work/names/size-1.bin"  # an existing file is never overwritten
out=$("$green" fetch -q --ordered -o "$work/names" "$work/tricky.txt"); rc=$?
[ $rc -eq 1 ] || fail "tricky names: exit $rc (some are 404s)"
[ "$(wc -l <<<"$out")" -eq 8 ] || fail "tricky names: want 8 lines: $out"
[ ! -s "$work/names/size-1.bin" ] || fail "an existing file was overwritten"
paths=$(cut -f5 <<<"$out")
[ "$(sort -u <<<"$paths" | wc -l)" -eq 8 ] || fail "tricky names: paths are not unique: $paths"
while read -r p; do
  case "$p" in "$work/names/"*) ;; *) fail "path outside the directory: $p" ;; esac
  base=${p#"$work/names/"}
  [[ "$base" =~ ^[A-Za-z0-9_-][A-Za-z0-9._-]*$ ]] || fail "unsafe file name: $base"
  [ "${#base}" -le 140 ] || fail "file name too long: ${#base}"
  [ -f "$p" ] || fail "missing file $p"
done <<<"$paths"
[ "$(find "$work/names" -type f | wc -l)" -eq 9 ] || fail "tricky names: files outside the expected set: $(find "$work/names")"
for i in 1 2 3; do
  [ "$(sed -n ${i}p <<<"$paths")" = "$work/names/size-1-$i.bin" ] || fail "duplicate name $i: $(sed -n ${i}p <<<"$paths")"
done
# The query goes between the stem and the extension, its dots made '_'.
[ "$(sed -n 4p <<<"$paths")" = "$work/names/size-1_a_1_b_______etc_passwd.bin" ] ||
  fail "a URL with a query: $(sed -n 4p <<<"$paths")"
out=$(printf '%s\n' "$H/files/size-1000.bin" "$H/files/size-1000.bin" | "$green" fetch -q); rc=$?
[ "$(grep -c "^200	1000	" <<<"$out")" -eq 2 ] || fail "duplicate URLs: want two results: $out"

# ---- --ordered, --cat order, --json validity --------------------------------
for i in $(seq 1 40); do
  case $((i % 4)) in 0) echo "$H/files/size-3000000.bin" ;; 1) echo "$H/files/size-1.bin" ;;
    2) echo "$H/status/404?i=$i" ;; 3) echo "$H/files/size-65536.bin?i=$i" ;; esac
done >"$work/mixed.txt"
out=$("$green" fetch -q -c 8 --ordered "$work/mixed.txt")
[ "$(cut -f4 <<<"$out")" = "$(cat "$work/mixed.txt")" ] || fail "--ordered: lines are not in input order"
out=$("$green" fetch -q -c 8 "$work/mixed.txt")
[ "$(cut -f4 <<<"$out" | sort)" = "$(sort "$work/mixed.txt")" ] || fail "unordered: results differ from the input set"
printf '%s\n' "$H/files/size-1048576.bin" "$H/files/size-1.bin" "$H/files/size-1000.bin" "$H/files/size-3000000.bin" |
  "$green" fetch -q -c 4 --cat >"$work/cat.out"; rc=$?
[ $rc -eq 0 ] || fail "--cat: exit $rc"
cat "$WWW/files/size-1048576.bin" "$WWW/files/size-1.bin" "$WWW/files/size-1000.bin" "$WWW/files/size-3000000.bin" |
  cmp -s - "$work/cat.out" || fail "--cat: bodies differ from the files in input order"
"$green" fetch -q --json "$work/mixed.txt" >"$work/mixed.json"
python3 - "$work/mixed.json" <<'PY' || fail "--json: invalid output"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 40, len(rows)
keys = {"url", "final_url", "status", "bytes", "time", "error", "path", "attempts", "http_version"}
for r in rows:
    assert set(r) == keys, r
    assert isinstance(r["time"], float) and r["error"] is None and r["path"] is None
PY

# --cat behind one slow URL: 100 x 3 MB finish while the first trickles; the
# bodies wait in temporary files past 64 MiB, so memory stays flat (it was
# the sum of the bodies), and the bytes still come out in input order.
{ echo "$I/trickle/20"; for i in $(seq 100); do echo "$H/files/size-3000000.bin?$i"; done; } >"$work/cat-slow.txt"
ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1" /usr/bin/time -f %M -o "$work/cat-slow.rss" \
  "$green" fetch -q -c 8 --cat "$work/cat-slow.txt" |
  cmp -s - <(printf 't%.0s' $(seq 20); for i in $(seq 100); do cat "$WWW/files/size-3000000.bin"; done) ||
  fail "--cat behind a slow URL: the bytes differ"
rss=$(tail -n 1 "$work/cat-slow.rss")
[ $asan -eq 1 ] || [ "$rss" -le $((160 * 1024)) ] || fail "--cat behind a slow URL: peak RSS ${rss} KiB for 300 MB of bodies"

# ---- methods, data, headers, user agent ---------------------------------------
[ "$("$green" fetch -q --cat -d hello <<<"$H/method")" = "POST 5" ] || fail "-d: not a POST with the body"
[ "$("$green" fetch -q --cat -X PUT -d abc <<<"$H/method")" = "PUT 3" ] || fail "-X PUT -d"
[ "$("$green" fetch -q --cat -A probe/1 <<<"$H/echo-ua")" = "ua=probe/1" ] || fail "-A"
[ "$("$green" fetch -q --cat -H 'User-Agent: hdr/2' <<<"$H/echo-ua")" = "ua=hdr/2" ] || fail "-H"
"$green" fetch -q --cat <<<"$H/echo-ua" | grep -q "^ua=green-fetch/" || fail "default user agent"

# ---- usage errors, bad lines, summary, a closed stdout ------------------------
for bad in "--rate fast" "--cat --json" "--http1.1 --http2" "-c 0" "--timeout soon" "-H nocolon"; do
  # shellcheck disable=SC2086
  "$green" fetch $bad </dev/null >/dev/null 2>&1; rc=$?
  [ $rc -eq 2 ] || fail "usage error '$bad': exit $rc, want 2"
done
for bad in "-H|X Y: z" "-H|a: b"$'\r\n'"Evil: 1" "-X|GE T" "-X|" "--resolve|host:80" "--resolve|host:0:127.0.0.1"; do
  "$green" fetch "${bad%%|*}" "${bad#*|}" </dev/null >/dev/null 2>"$work/usage.err"; rc=$?
  [ $rc -eq 2 ] || fail "usage error '$bad': exit $rc, want 2"
  { [ "$(wc -l <"$work/usage.err")" -eq 1 ] && grep -q -- "^green fetch: ${bad%%|*}: '" "$work/usage.err"; } ||
    fail "usage error '$bad': want one line naming the option and the input: $(cat "$work/usage.err")"
done
# -o that cannot be written to: said once, before any URL (root writes through
# mode bits, so /proc/self stands in for a read-only directory there).
ro=/proc/self
if [ "$(id -u)" -ne 0 ]; then ro=$work/ro && mkdir "$ro" && chmod 555 "$ro"; fi
out=$(printf '%s\n' "$H/files/size-1.bin" "$H/files/size-0.bin" | "$green" fetch -o "$ro" 2>"$work/ro.err"); rc=$?
[ $rc -eq 2 ] || fail "-o not writable: exit $rc, want 2"
{ [ -z "$out" ] && [ "$(wc -l <"$work/ro.err")" -eq 1 ] && grep -q "^green fetch: -o: cannot write in $ro: " "$work/ro.err"; } ||
  fail "-o not writable: want one error before any URL: $out $(cat "$work/ro.err")"
# Passwords never show; the rest of the URL does.
out=$("$green" fetch <<<"http://user:s3cret@127.0.0.1:$HTTP_PORT/files/size-1.bin" 2>&1)
grep -q "s3cret" <<<"$out" && fail "a password shows: $out"
grep -q "	http://user:\*\*\*@127.0.0.1:$HTTP_PORT/files/size-1.bin$" <<<"$out" || fail "redacted URL: $out"
# --resolve: names that no resolver knows, connected to the given addresses.
out=$(printf '%s\n' "http://green.test:$HTTP_PORT/files/size-1.bin" "http://other.test:$HTTP_PORT/files/size-1.bin" |
  "$green" fetch -q --ordered --resolve "green.test:$HTTP_PORT:127.0.0.1" --resolve "other.test:$HTTP_PORT:127.0.0.9" 2>&1)
[ "$(grep -c "^200	1	.*green.test" <<<"$out")" -eq 1 ] || fail "--resolve: green.test: $out"
# nginx listens on 127.0.0.1 only: refused at 127.0.0.9, so resolved as told.
grep -q "other.test.*: Failed to connect" <<<"$out" || fail "--resolve: other.test did not go to 127.0.0.9: $out"
# The README's pipeline: green resolve --addresses asks Knot (a CNAME, a name
# without an address, one that does not exist), and fetch connects where
# resolve said through --resolve; no system resolver anywhere.
if KNOT_EXTRA_RECORDS=$'site 60 IN A 127.0.0.1\nsite2 60 IN CNAME site.green.test.' \
  "$here/../dns/knot.sh" start "$work/knot" 0 >/dev/null; then
  printf '%s\n' site.green.test site2.green.test txtonly.green.test nope.green.test >"$work/names.txt"
  "$green" resolve -q --addresses --server "127.0.0.1:$(cat "$work/knot/port")" "$work/names.txt" >"$work/addrs.tsv" 2>/dev/null
  # shellcheck disable=SC2046
  out=$(cut -f1 "$work/addrs.tsv" | sort -u | sed "s|^|http://|; s|\$|:$HTTP_PORT/files/size-1000.bin|" |
    "$green" fetch -q $(awk -F'\t' -v p="$HTTP_PORT" '{print "--resolve=" $1 ":" p ":" $2}' "$work/addrs.tsv") - 2>&1)
  [ "$(cut -f1,2,4 <<<"$out" | sort)" = "$(printf '200\t1000\t%s\n' "http://site.green.test:$HTTP_PORT/files/size-1000.bin" \
    "http://site2.green.test:$HTTP_PORT/files/size-1000.bin" | sort)" ] ||
    fail "resolve | fetch: $(cat "$work/addrs.tsv") -> $out"
else
  fail "knotd did not start"
fi
"$green" fetch "$work/no-such-file" >/dev/null 2>"$work/nofile.err"; rc=$?
[ $rc -eq 2 ] || fail "missing input file: exit $rc"
grep -q "no-such-file" "$work/nofile.err" || fail "missing input file not named: $(cat "$work/nofile.err")"
{
  printf '%s\n' "$H/files/size-1.bin" "not a url" "# comment" "" "ftp://example/x" "$H/files/size-0.bin" "http:///files"
  printf 'http://127.0.0.1:%s/a\0b\n' "$HTTP_PORT"
  printf 'http://127.0.0.1:1/%01048000d\n' 0
  printf 'http://127.0.0.1:1/\x01\n'
} >"$work/bad.txt"
out=$("$green" fetch "$work/bad.txt" 2>"$work/bad.err"); rc=$?
[ $rc -eq 2 ] || fail "bad lines: exit $rc, want 2"
[ "$(wc -l <<<"$out")" -eq 2 ] || fail "bad lines: the good URLs were not fetched: $out"
grep -q "bad.txt:2: contains whitespace: not a url$" "$work/bad.err" || fail "bad line 2 not reported with its number: $(cat "$work/bad.err")"
grep -q "bad.txt:5: unsupported scheme ftp (want http or https): ftp://example/x$" "$work/bad.err" || fail "bad line 5 not reported: $(cat "$work/bad.err")"
grep -q "bad.txt:7: no host: http:///files$" "$work/bad.err" || fail "http:///files: $(cat "$work/bad.err")"
grep -q "bad.txt:8: contains a NUL byte: http://127.0.0.1:$HTTP_PORT/a\\\\x00b$" "$work/bad.err" || fail "NUL: $(cat "$work/bad.err")"
grep -q "bad.txt:9: longer than 65536 bytes: http://127.0.0.1:1/0000.*\.\.\.$" "$work/bad.err" || fail "1 MB URL: $(cut -c1-300 "$work/bad.err")"
grep -q "bad.txt:10: contains the control byte 0x01: http://127.0.0.1:1/\\\\x01$" "$work/bad.err" || fail "control byte: $(cat "$work/bad.err")"
[ "$(grep -c "bad.txt:" "$work/bad.err")" -eq 6 ] || fail "bad lines: want 6 reports: $(cut -c1-300 "$work/bad.err")"
grep -q "status 1xx 0  2xx 2  3xx 0  4xx 0  5xx 0  errors 0  bad lines 6" "$work/bad.err" || fail "summary counts: $(cat "$work/bad.err")"
grep -q "latency p50 .* p90 .* p99 " "$work/bad.err" || fail "summary latency: $(cat "$work/bad.err")"
grep -q "requests/s" "$work/bad.err" || fail "summary rate"
for i in $(seq 2000); do echo "$H/files/size-1.bin?$i"; done | "$green" fetch 2>/dev/null | head -n 1 >/dev/null
rc=${PIPESTATUS[1]}
[ "$rc" -eq 0 ] || fail "fetch | head exited $rc"
out=$(for i in $(seq 50); do echo "$H/files/size-1000.bin?$i"; done | "$green" fetch -q --rate 1000/s --max-per-host 2 -c 10)
[ "$(grep -c "^200	" <<<"$out")" -eq 50 ] || fail "--rate/--max-per-host: not every URL fetched"

# --shard: every URL lands in exactly one of the shards, whole hosts at a time.
printf '%s\n' "$H/files/size-1.bin" "http://localhost:$HTTP_PORT/files/size-1.bin" "$H/files/size-0.bin" >"$work/shard.txt"
s1=$("$green" fetch -q --shard 1/2 "$work/shard.txt" | cut -f4 | sort)
s2=$("$green" fetch -q --shard 2/2 "$work/shard.txt" | cut -f4 | sort)
[ "$(printf '%s\n' "$s1" "$s2" | grep -v '^$' | sort)" = "$(sort "$work/shard.txt")" ] || fail "--shard: shards do not partition the input"
[ "$(grep -c 127.0.0.1 <<<"$s1")" -eq 0 ] || [ "$(grep -c 127.0.0.1 <<<"$s2")" -eq 0 ] || fail "--shard: one host split across shards"

# ---- 100,000 URLs (30,000 under ASan, with a small quarantine so freed memory
# is reused) streamed through stdin: flat memory --------------------------------
big=100000; small=10000
[ $asan -eq 1 ] && big=30000 && small=3000
rss() {
  local n=$1
  python3 -c "
import sys
h = sys.argv[1]
for i in range(int(sys.argv[2])):
    sys.stdout.write(f'{h}/files/size-1.bin?{i}\n' if i % 10 else f'{h}/status/404?{i}\n')
" "$H" "$n" |
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1" /usr/bin/time -f %M -o "$work/rss.$n" "$green" fetch -q -c 50 \
      >"$work/stream.$n"
  tail -n 1 "$work/rss.$n"
}
rss_small=$(rss $small)
rss_big=$(rss $big)
[ "$(wc -l <"$work/stream.$big")" -eq $big ] || fail "streaming: $(wc -l <"$work/stream.$big") results, want $big"
[ "$(grep -c '^404	' "$work/stream.$big")" -eq $((big / 10)) ] || fail "streaming: wrong number of 404s"
[ "$rss_big" -le $((rss_small + 8192)) ] || fail "memory grows with the input: ${rss_small} KiB for $small, ${rss_big} KiB for $big"
if [ $asan -eq 0 ]; then
  [ "$rss_big" -le 65536 ] || fail "peak memory ${rss_big} KiB for $big URLs, want <= 64 MiB"
fi
echo "streaming: peak RSS ${rss_small} KiB for $small URLs, ${rss_big} KiB for $big"

if [ $failures -gt 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "fetch e2e: all passed"
