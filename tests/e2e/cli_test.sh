#!/usr/bin/env bash
# End-to-end checks of the green binary's skeleton: help, version, exit
# codes, and the demo's output. Usage: cli_test.sh PATH/TO/green
set -u
green=${1:?usage: cli_test.sh PATH/TO/green}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

out=$("$green" --help 2>&1); rc=$?
[ $rc -eq 0 ] || fail "--help exited $rc"
grep -q "demo" <<<"$out" || fail "--help does not list the demo subcommand"
grep -q "Exit status" <<<"$out" || fail "--help does not document exit status"

out=$("$green" --version 2>&1); rc=$?
[ $rc -eq 0 ] || fail "--version exited $rc"
for want in "^green [0-9]+\.[0-9]+\.[0-9]+$" "^Boost 1\.81\." "^libcurl [0-9]" "^c-ares 1\."; do
  grep -Eq "$want" <<<"$out" || fail "--version lacks a line matching '$want': $out"
done

# A rejected command line: one line naming the word, in plain words (not
# CLI11's), the nearest command or option when it looks like a typo; status 2.
usage() {  # WANT ARGS...: `green ARGS` exits 2 and its first line of stderr is WANT
  local want=$1 err rc; shift
  err=$("$green" "$@" 2>&1 >/dev/null); rc=$?
  [ $rc -eq 2 ] || fail "green $* exited $rc, want 2"
  [ "$(head -n 1 <<<"$err")" = "$want" ] || fail "green $*: '$(head -n 1 <<<"$err")', want '$want'"
}
usage "green: no command given (the commands: cron, demo, fetch, resolve, serve); run 'green --help' for more"
usage "green: unknown command 'fetc' (did you mean 'fetch'?); run 'green --help' for more" fetc
usage "green: unknown command 'reslove' (did you mean 'resolve'?); run 'green --help' for more" reslove
usage "green: unknown command 'bogus' (the commands: cron, demo, fetch, resolve, serve); run 'green --help' for more" bogus
[ "$("$green" bogus 2>&1 | wc -l)" -eq 1 ] || fail "green bogus printed more than one line"
usage "green: unknown option '--no-such-option' (the commands: cron, demo, fetch, resolve, serve); run 'green --help' for more" --no-such-option
usage "green fetch: unknown option '--concurency' (did you mean '--concurrency'?)" fetch --concurency 5
usage "green demo: --tasks: '0' is out of range (want a whole number from 1 to 1000000)" demo --tasks 0
usage "green resolve: --rate: '0' is not a rate (want N, N/s, N/m or N/h with N above 0)" resolve --rate 0
usage "green fetch: --rate: '5/d' is not a rate (want N, N/s, N/m or N/h with N above 0)" fetch --rate 5/d
usage "green cron: --every needs DUR CMD after it" cron --every 1s
usage "green cron: --tab takes one value, got 2 (give it once)" cron --tab a --tab b
usage "green serve: MODE: 'ech' is not one of echo, chat, http (did you mean 'echo'?)" serve ech
usage "green serve: unexpected arguments 'b' 'c'" serve echo a b c
usage "green resolve: --json and --addresses cannot be used together" resolve --json --addresses
usage "green fetch: --color: 'alwys' is not one of auto, always, never (did you mean 'always'?)" fetch --color alwys
usage "green fetch: -L takes no value (got '-L=x')" fetch -L=x
usage "green fetch: --location takes no value (got '--location=x')" fetch --location=x
usage "green fetch: -k takes no value (got '-k=1')" fetch -d -k=1 -k=1

out=$("$green" demo --tasks 40 --concurrency 10 2>/dev/null); rc=$?
[ $rc -eq 0 ] || fail "demo exited $rc"
expected_switch=$'== two greenlets switching with sleep(0)\n12\n56\n34\n78'
[ "$(head -n 5 <<<"$out")" = "$expected_switch" ] || fail "demo's first lines differ: $(head -n 5 <<<"$out")"
grep -q "^40 results (sum of squares 20540)" <<<"$out" || fail "demo's Pool.map result is wrong"
[ "$(grep -c '^Quitting time!$' <<<"$out")" -eq 3 ] || fail "demo's workers did not all quit"
[ "$(grep -c '^Worker .* got task [1-9]$' <<<"$out")" -eq 9 ] || fail "demo's queue lost tasks"
grep -q "^Could not complete: timed out after 0.05s$" <<<"$out" || fail "demo's Timeout did not fire"
out=$("$green" demo --tasks 1 2>/dev/null)
grep -q "^== Pool(20).map over 1 task, each" <<<"$out" && grep -q "^1 result (sum of squares 0)" <<<"$out" ||
  fail "demo --tasks 1: not '1 task', '1 result': $out"

# serve -v counts its clients in words ("1 client", not "1 clients").
tmp=$(mktemp -d)
"$green" serve echo -v --port 0 2>"$tmp/serve.err" &
serve_pid=$!
for _ in $(seq 100); do grep -q "^listening on" "$tmp/serve.err" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/serve.err")
if [ -n "$port" ] && exec 3<>"/dev/tcp/127.0.0.1/$port"; then
  for _ in $(seq 100); do grep -q "connect " "$tmp/serve.err" && break; sleep 0.05; done
  grep -q "^green serve echo: connect 127\.0\.0\.1:[0-9]* (1 client)$" "$tmp/serve.err" || fail "serve -v: $(cat "$tmp/serve.err")"
  printf x >&3
  read -r -n 1 -t 10 echoed <&3
  exec 3>&-
  for _ in $(seq 100); do grep -q "disconnect " "$tmp/serve.err" && break; sleep 0.05; done
  grep -q "^green serve echo: disconnect 127\.0\.0\.1:[0-9]*: .*, 1 byte echoed$" "$tmp/serve.err" ||
    fail "serve -v, echoed '${echoed:-}': $(cat "$tmp/serve.err")"
else
  fail "serve echo did not listen: $(cat "$tmp/serve.err")"
fi
kill -TERM $serve_pid; wait $serve_pid
rm -rf "$tmp"

# A closed stdout ends the run quietly.
"$green" demo 2>/dev/null | head -n 1 >/dev/null
rc=${PIPESTATUS[0]}
[ $rc -eq 0 ] || [ $rc -eq 141 ] || fail "demo | head exited $rc"

# A full disk is not a reader that left: it is said, and the exit status is 1
# (results were lost).
err=$("$green" demo 2>&1 >/dev/full); rc=$?
[ $rc -eq 1 ] || fail "demo >/dev/full exited $rc, want 1"
grep -q "^green demo: cannot write stdout: No space left on device$" <<<"$err" || fail "demo >/dev/full did not say why: $err"
printf '@hourly true\n' >"${TMPDIR:-/tmp}/green-cli-$$.cron"
err=$("$green" cron --test --tab "${TMPDIR:-/tmp}/green-cli-$$.cron" 2>&1 >/dev/full); rc=$?
rm -f "${TMPDIR:-/tmp}/green-cli-$$.cron"
[ $rc -eq 1 ] || fail "cron --test >/dev/full exited $rc, want 1"
grep -q "^green cron: cannot write stdout: No space left on device$" <<<"$err" || fail "cron --test >/dev/full did not say why: $err"

if [ $failures -gt 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all CLI checks passed"
