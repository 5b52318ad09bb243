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

"$green" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "no subcommand exited $rc, want 2"
"$green" --no-such-option >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "an unknown option exited $rc, want 2"
err=$("$green" demo --tasks 0 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "an out-of-range value exited $rc, want 2"
grep -q -- "--tasks" <<<"$err" || fail "the usage error does not name the option: $err"

out=$("$green" demo --tasks 40 --concurrency 10 2>/dev/null); rc=$?
[ $rc -eq 0 ] || fail "demo exited $rc"
expected_switch=$'== two greenlets switching with sleep(0)\n12\n56\n34\n78'
[ "$(head -n 5 <<<"$out")" = "$expected_switch" ] || fail "demo's first lines differ: $(head -n 5 <<<"$out")"
grep -q "^40 results (sum of squares 20540)" <<<"$out" || fail "demo's Pool.map result is wrong"
[ "$(grep -c '^Quitting time!$' <<<"$out")" -eq 3 ] || fail "demo's workers did not all quit"
[ "$(grep -c '^Worker .* got task [1-9]$' <<<"$out")" -eq 9 ] || fail "demo's queue lost tasks"
grep -q "^Could not complete: timed out after 0.05s$" <<<"$out" || fail "demo's Timeout did not fire"

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
