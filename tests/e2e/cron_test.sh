#!/usr/bin/env bash
# End-to-end checks of `green cron` with real children: the seeds' demo,
# MAIN's exit status, overlap skipping, --timeout, SIGTERM with --grace,
# 100 jobs on a 100 ms grid (tick counts and zombies), crontab --test in a
# named time zone and crontab errors. Usage: cron_test.sh PATH/TO/green
set -u
green=${1:?usage: cron_test.sh PATH/TO/green}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Waits (up to 30 s) until FILE contains PATTERN: the run is under way
# (a fixed sleep is not enough on a loaded machine or under ASan).
wait_for() {
  for _ in $(seq 1 300); do
    grep -q -- "$1" "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "timed out waiting for '$1' in $2"
}
# 'R', 'S', 'Z', ... of a pid, empty when it is gone.
state() { sed -n 's/^[0-9]* (.*) \([A-Z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null; }
# 1. The seeds' subprocess example: five `cron`, then `Linux`, MAIN's status.
want=$'cron\ncron\ncron\ncron\ncron\nLinux'
for i in 1 2; do
  out=$("$green" cron --every 200ms 'echo cron' -- sh -c 'sleep 1; uname'); rc=$?
  [ $rc -eq 0 ] || fail "demo run $i exited $rc"
  [ "$out" = "$want" ] || fail "demo run $i printed: $(printf '%q' "$out")"
done

# 2. MAIN's exit status is ours; a MAIN that does not exist is 127.
"$green" cron --every 1s true -- sh -c 'exit 7'; rc=$?
[ $rc -eq 7 ] || fail "MAIN exit 7 gave $rc"
"$green" cron -- sh -c 'kill -TERM $$'; rc=$?
[ $rc -eq 143 ] || fail "MAIN killed by SIGTERM gave $rc, want 143"
err=$("$green" cron --every 1s true -- /nonexistent/main 2>&1); rc=$?
[ $rc -eq 127 ] || fail "missing MAIN gave $rc, want 127"
grep -q "/nonexistent/main" <<<"$err" || fail "missing MAIN not named: $err"

# 3. A job that overruns its period: the overlapping ticks are skipped with
#    one warning for the job, not one per tick.
err=$("$green" cron --json --every 100ms 'sleep 0.35' -- sleep 1.05 2>&1 >"$tmp/overlap.json"); rc=$?
[ $rc -eq 0 ] || fail "overlap run exited $rc"
warnings=$(grep -c "still running: skipping" <<<"$err")
[ "$warnings" -eq 1 ] || fail "want one overlap warning, got $warnings: $err"
skips=$(grep -c '"event":"skip"' "$tmp/overlap.json")
starts=$(grep -c '"event":"start"' "$tmp/overlap.json")
[ "$skips" -ge 4 ] || fail "want at least 4 skipped ticks, got $skips"
[ "$starts" -ge 2 ] && [ "$starts" -le 4 ] || fail "want 2-4 runs of the overrunning job, got $starts"
[ $((skips + starts)) -ge 10 ] || fail "ticks (runs + skips) $((skips + starts)), want 10"

# 4. --timeout: SIGTERM, then SIGKILL after --grace for a job ignoring SIGTERM.
err=$("$green" cron --json --timeout 200ms --grace 200ms --every 100ms \
        "trap '' TERM; echo started; sleep 5" -- sleep 0.45 2>&1 >"$tmp/timeout.json"); rc=$?
[ $rc -eq 0 ] || fail "timeout run exited $rc"
grep -q "ran longer than --timeout 200ms: sending SIGTERM" <<<"$err" || fail "no SIGTERM diagnostic: $err"
grep -q "sending SIGKILL" <<<"$err" || fail "no SIGKILL diagnostic: $err"
grep -q '"event":"exit".*"exit_code":137.*"timed_out":true' "$tmp/timeout.json" ||
  fail "no exit event with code 137 and timed_out: $(cat "$tmp/timeout.json")"
for pid in $(sed -n 's/.*"event":"start".*"pid":\([0-9]*\).*/\1/p' "$tmp/timeout.json"); do
  s=$(state "$pid")
  [ -z "$s" ] || [ "$s" = Z ] || fail "job pid $pid still running (state $s)"
done

# 5. SIGTERM while jobs run: no new runs, running ones finish within --grace,
#    exit status 143. Then a job ignoring SIGTERM is killed after --grace.
"$green" cron --grace 2s --every 100ms 'sleep 0.3; echo finished' >"$tmp/term.out" 2>"$tmp/term.err" &
gpid=$!; pids+=("$gpid")
wait_for "finished" "$tmp/term.out"
sleep 0.15  # the next run is under way now
kill -TERM "$gpid"
wait "$gpid"; rc=$?
[ $rc -eq 143 ] || fail "SIGTERM gave $rc, want 143"
grep -q "stopped by signal" "$tmp/term.err" || fail "no summary after SIGTERM: $(cat "$tmp/term.err")"
grep -q "finished" "$tmp/term.out" || fail "the running job did not finish within --grace"
grep -q "killing" "$tmp/term.err" && fail "a job was killed although it fit in --grace"

"$green" cron --json --grace 300ms --every 100ms "trap '' TERM; sleep 30" >"$tmp/term2.json" 2>"$tmp/term2.err" &
gpid=$!; pids+=("$gpid")
wait_for '"event":"start"' "$tmp/term2.json"
kill -TERM "$gpid"
wait "$gpid"; rc=$?
[ $rc -eq 143 ] || fail "SIGTERM with a stubborn job gave $rc, want 143"
grep -q "killing 1 job run(s) still running after --grace 300ms" "$tmp/term2.err" ||
  fail "no kill diagnostic: $(cat "$tmp/term2.err")"
grep -q '"event":"exit".*"exit_code":137' "$tmp/term2.json" || fail "the stubborn job was not killed"

# 6. 100 jobs every 100 ms for 10 s: every tick of the grid happens (runs
#    and skipped overlapping ones together are numbered 1..N without a gap
#    and N >= 100, since MAIN lives >= 10 s; a drifting grid would fall
#    behind), every run is reaped (exit events = start events) and zombies
#    never pile up (sampled from /proc).
args=()
for i in $(seq -w 1 100); do args+=(--every 100ms "true job$i"); done
"$green" cron --json "${args[@]}" -- sleep 10 >"$tmp/many.json" 2>"$tmp/many.err" &
gpid=$!; pids+=("$gpid")
max_zombies=0
for i in $(seq 1 9); do
  sleep 1
  z=0
  for f in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null <"$f" || continue
    rest=${line##*) }
    read -r st pp _ <<<"$rest"
    [ "$st" = Z ] && [ "$pp" = "$gpid" ] && z=$((z + 1))
  done
  [ $z -gt $max_zombies ] && max_zombies=$z
done
wait "$gpid"; rc=$?
[ $rc -eq 0 ] || fail "100 jobs: exited $rc: $(tail -3 "$tmp/many.err")"
[ "$max_zombies" -le 100 ] || fail "100 jobs: $max_zombies zombie children at once"
starts=$(grep -c '"event":"start"' "$tmp/many.json")
exits=$(grep -c '"event":"exit"' "$tmp/many.json")
[ "$starts" -eq "$exits" ] || fail "100 jobs: $starts starts but $exits exits"
for i in 001 050 100; do
  ticks=$(grep -E '"event":"(start|skip)"' "$tmp/many.json" | grep "\"job\":\"true job$i\"" |
          sed -n 's/.*"tick":\([0-9]*\).*/\1/p' | sort -n)
  n=$(wc -l <<<"$ticks")
  [ "$ticks" = "$(seq 1 "$n")" ] || fail "job $i: ticks not numbered 1..$n without gaps"
  [ "$n" -ge 100 ] || fail "job $i: $n ticks while MAIN ran 10 s, want >= 100"
done
echo "100 jobs: $starts runs, max $max_zombies zombie(s) at a sample" >&2

# 7. --test: the next five times of each job, in a named zone across DST.
cat >"$tmp/tab" <<'TAB'
# maintenance
GREETING=hello
30 2 * * *    echo nightly
*/20 1-3 8 3 sun  echo sunday
@every 90s echo often
TAB
out=$(TZ=America/New_York "$green" cron --test --tab "$tmp/tab" --from '2026-03-06 12:00'); rc=$?
[ $rc -eq 0 ] || fail "--test exited $rc"
want="$tmp/tab:3	30 2 * * *	echo nightly
	2026-03-07 02:30:00 EST
	2026-03-08 03:00:00 EDT
	2026-03-09 02:30:00 EDT
	2026-03-10 02:30:00 EDT
	2026-03-11 02:30:00 EDT
$tmp/tab:4	*/20 1-3 8 3 sun	echo sunday
	2026-03-08 01:00:00 EST
	2026-03-08 01:20:00 EST
	2026-03-08 01:40:00 EST
	2026-03-08 03:00:00 EDT
	2026-03-08 03:20:00 EDT
$tmp/tab:5	@every 90s	echo often
	2026-03-06 12:01:30.000 EST
	2026-03-06 12:03:00.000 EST
	2026-03-06 12:04:30.000 EST
	2026-03-06 12:06:00.000 EST
	2026-03-06 12:07:30.000 EST"
[ "$out" = "$want" ] || fail "--test printed:
$out"

# 8. A bad crontab line is an error naming file and line, before anything runs.
printf '* * * * * * touch %s/ran\n\n61 * * * * echo bad\n' "$tmp" >"$tmp/bad"
err=$("$green" cron --tab "$tmp/bad" 2>&1); rc=$?
[ $rc -eq 2 ] || fail "bad crontab exited $rc, want 2"
grep -q "$tmp/bad:3: minute field '61': 61 is out of range 0-59" <<<"$err" || fail "bad crontab error: $err"
[ -e "$tmp/ran" ] && fail "a job ran although the crontab was bad"
err=$("$green" cron --tab "$tmp/missing" 2>&1); rc=$?
[ $rc -eq 2 ] || fail "missing crontab exited $rc, want 2"
grep -q "cannot read $tmp/missing" <<<"$err" || fail "missing crontab error: $err"

# 9. A crontab with a seconds field runs; output lines carry the job prefix
#    when there is more than one job; env lines reach the jobs.
printf 'WHO=world\n* * * * * * echo hello $WHO\n* * * * * * echo second job\n' >"$tmp/sec"
out=$("$green" cron --tab "$tmp/sec" -- sleep 2.2); rc=$?
[ $rc -eq 0 ] || fail "seconds crontab exited $rc"
n=$(grep -c $'^echo hello $WHO\thello world$' <<<"$out")
[ "$n" -ge 2 ] || fail "seconds crontab: want >= 2 prefixed runs, got: $out"

# 10. --nice N: the jobs run N steps nicer than green (the main command does not).
base=$(nice)
want=$((base + 7 > 19 ? 19 : base + 7))
out=$("$green" cron --nice 7 --every 100ms 'awk "{ print \$19 }" /proc/$$/stat' -- sleep 0.35); rc=$?
[ $rc -eq 0 ] || fail "--nice exited $rc"
[ "$(sort -u <<<"$out")" = "$want" ] || fail "--nice 7: jobs ran at niceness '$out', want $want"
err=$("$green" cron --nice 20 --every 1s true 2>&1); rc=$?
[ $rc -eq 2 ] || fail "--nice 20 exited $rc, want 2: $err"

[ $failures -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "cron e2e: all passed"
