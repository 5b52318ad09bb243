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
# Waits (up to 60 s) until FILE exists.
wait_file() {
  for _ in $(seq 1 600); do
    [ -e "$1" ] && return 0
    sleep 0.1
  done
  fail "timed out waiting for $1"
}
# 'R', 'S', 'Z', ... of a pid, empty when it is gone.
state() { sed -n 's/^[0-9]* (.*) \([A-Z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null; }
# 1. The seeds' subprocess example: `cron` every 200 ms, `Linux`, MAIN's
#    status. The fifth tick falls due at 1 s, as MAIN ends: no job starts once
#    MAIN's exit is seen, so it may be 4, and on a loaded machine where MAIN
#    takes longer 6 (a run that started may print after `Linux`).
for i in 1 2; do
  out=$("$green" cron --every 200ms 'echo cron' -- sh -c 'sleep 1; uname'); rc=$?
  [ $rc -eq 0 ] || fail "demo run $i exited $rc"
  crons=$(grep -cx cron <<<"$out")
  { [ "$crons" -ge 4 ] && [ "$(grep -vx cron <<<"$out")" = Linux ]; } ||
    fail "demo run $i printed: $(printf '%q' "$out")"
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
grep -q "killing 1 job run still running after --grace 300ms" "$tmp/term2.err" ||
  fail "no kill diagnostic: $(cat "$tmp/term2.err")"
grep -q '"event":"exit".*"exit_code":137' "$tmp/term2.json" || fail "the stubborn job was not killed"

# 6. 100 jobs every 100 ms for 10 s: every tick of the grid happens (runs
#    and skipped overlapping ones together are numbered 1..N without a gap
#    and N >= 100, since MAIN lives >= 10 s; a drifting grid would fall
#    behind), every run is reaped (exit events = start events) and zombies
#    never pile up (sampled from /proc).
args=()
for i in $(seq -w 1 100); do args+=(--every 100ms "true job$i"); done
"$green" cron --json "${args[@]}" -- sleep 10.05 >"$tmp/many.json" 2>"$tmp/many.err" &
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

# Fails for each of the PIDs that still runs (a zombie does not count).
all_gone() {
  local what=$1 p s
  shift
  for p in "$@"; do
    s=$(state "$p")
    [ -z "$s" ] || [ "$s" = Z ] || fail "$what: pid $p still running (state $s)"
  done
}

# 11. Regression: stdout to a pipe nobody reads, SIGINT, then the reader
#     leaves. This crashed (SIGSEGV in run_once's bookkeeping: the stop path
#     was unwound by the second kill while runs still used the jobs).
mkfifo "$tmp/fifo"
(exec 3<"$tmp/fifo"; sleep 1.5) &
rpid=$!; pids+=("$rpid")
"$green" cron --grace 10s --every 10ms 'seq 1 20000; sleep 5' >"$tmp/fifo" 2>"$tmp/fifo.err" &
gpid=$!; pids+=("$gpid")
sleep 0.5
kill -INT "$gpid"
wait "$rpid"
wait "$gpid"; rc=$?
[ $rc -eq 130 ] || fail "unread stdout, SIGINT, reader gone: exited $rc, want 130: $(cat "$tmp/fifo.err")"

# 12. No job outlives green: what a run leaves in the background (also a
#     process that left the group with setsid) is killed at --timeout, at
#     shutdown after --grace, and at once on a second signal.
"$green" cron --timeout 300ms --every 1h 'true' --every 1s 'sleep 17 & echo $!' -- sleep 1.7 \
  >"$tmp/left.out" 2>"$tmp/left.err"; rc=$?
[ $rc -eq 0 ] || fail "--timeout with a background child exited $rc"
grep -q "killed what it left running at --timeout 300ms" "$tmp/left.err" ||
  fail "no leftover kill at --timeout: $(cat "$tmp/left.err")"
[ -s "$tmp/left.out" ] || fail "the job printed no pid"
all_gone "background child after --timeout" $(cut -f2 "$tmp/left.out")

# Two runs: a run held open by its children would skip the second tick. A
# 300 ms period (it was 100 ms): a shell that took longer than the period to
# fork twice and exit, on a loaded machine, was a real overlap.
"$green" cron --grace 300ms --every 300ms 'sleep 17 & a=$!; setsid sleep 18 & echo $a $!' >"$tmp/bg.out" 2>"$tmp/bg.err" &
gpid=$!; pids+=("$gpid")
for _ in $(seq 1 300); do [ "$(wc -l <"$tmp/bg.out")" -ge 2 ] && break; sleep 0.1; done
[ "$(wc -l <"$tmp/bg.out")" -ge 2 ] || fail "background children: no second run ($(cat "$tmp/bg.err"))"
kill -TERM "$gpid"
wait "$gpid"; rc=$?
[ $rc -eq 143 ] || fail "SIGTERM with background children gave $rc"
grep -q "skipping" "$tmp/bg.err" && fail "a run whose background child holds its pipe caused overlap skips"
all_gone "background child after --grace" $(cat "$tmp/bg.out")

"$green" cron --json --grace 60s --every 100ms "trap '' TERM; sleep 17 & echo \$!; sleep 30" \
  >"$tmp/twice.json" 2>"$tmp/twice.err" &
gpid=$!; pids+=("$gpid")
wait_for '"event":"output"' "$tmp/twice.json"
kill -INT "$gpid"
wait_for "stopping: waiting up to --grace 1m" "$tmp/twice.err"
kill -INT "$gpid"
wait "$gpid"; rc=$?
[ $rc -eq 130 ] || fail "two SIGINTs gave $rc, want 130"
grep -q "killing 1 job run still running on a second signal" "$tmp/twice.err" ||
  fail "second signal: $(cat "$tmp/twice.err")"
all_gone "job after a second signal" $(sed -n 's/.*"pid":\([0-9]*\).*/\1/p; s/.*"line":"\([0-9]*\)".*/\1/p' "$tmp/twice.json")

# 13. Output streams through in pieces: 100 MB keep the memory flat, a 30 MB
#     line without newline becomes 64 KiB pieces marked partial, and no
#     newline is added that the job did not write.
T=$tmp "$green" cron --every 10ms \
  'test -e "$T/big" || { touch "$T/big"; head -c 100000000 /dev/zero | tr "\0" x; touch "$T/big.done"; }' \
  >/dev/null 2>"$tmp/big.err" &
gpid=$!; pids+=("$gpid")
wait_file "$tmp/big.done"
hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$gpid/status")
kill -TERM "$gpid"; wait "$gpid"
[ -n "$hwm" ] && [ "$hwm" -lt 65536 ] || fail "100 MB of job output: peak RSS ${hwm:-?} kB, want < 64 MiB"


T=$tmp "$green" cron --json --every 1h true --every 100ms 'test -e "$T/long" || { touch "$T/long"; head -c 30000000 /dev/zero | tr "\0" x; }' \
  -- sleep 1 >"$tmp/long.json" 2>/dev/null
pieces=$(grep -c '"stream":"stdout","line":"x*","partial":true' "$tmp/long.json")
longest=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$tmp/long.json")
[ "$pieces" -eq 458 ] || fail "30 MB line: $pieces partial pieces, want 458 (30,000,000 / 64 KiB, rounded up)"
[ "$longest" -lt 70000 ] || fail "30 MB line: a JSON line of $longest bytes"
# MAIN ends once the job has run (a MAIN of `sleep 0.15` raced the first
# tick at 100 ms: on a loaded machine there were two runs, or none).
T=$tmp "$green" cron --every 100ms 'test -e "$T/nonl" || { touch "$T/nonl"; printf abc; }' \
  -- sh -c 'until test -e "$T/nonl"; do sleep 0.02; done' >"$tmp/nonl.out"
printf abc | cmp -s - "$tmp/nonl.out" || fail "printf abc came out as $(od -c "$tmp/nonl.out" | head -2)"

# 14. Crontab mistakes are usage errors naming the file and what is wrong.
check_usage() {  # WANT-IN-STDERR ARGS...
  local want=$1 err rc
  shift
  err=$("$green" cron "$@" 2>&1); rc=$?
  [ $rc -eq 2 ] || fail "cron $* exited $rc, want 2"
  grep -qF -- "$want" <<<"$err" || fail "cron $*: want '$want', got: $err"
}
printf '0 0 12 * * * 2026 echo new year\n' >"$tmp/seven"
check_usage "$tmp/seven:1: 7 fields: there is no year field" --tab "$tmp/seven"
printf '# comment\n\n* * 31 2 * echo never\n' >"$tmp/never"
check_usage "$tmp/never:3: '* * 31 2 *' never fires" --tab "$tmp/never"
check_usage "$tmp: it is a directory" --tab "$tmp"
printf '# nothing\nA=b\n' >"$tmp/empty"
check_usage "$tmp/empty: no jobs in it" --tab "$tmp/empty"
TZ=Nowhere/Atlantis check_usage "unknown time zone TZ='Nowhere/Atlantis'" --tab "$tmp/sec"
check_usage "--every needs at least 1ms, got '999us'" --every 999us true
check_usage "--name names the --every job before it" --name x --every 1s true
out=$("$green" cron --test --every 1h30m true --from '2026-01-01 00:00'); rc=$?
grep -q "2026-01-01 01:30:00.000" <<<"$out" || fail "--every 1h30m: $out"
printf '@every 2h45m true\n' >"$tmp/compound"
out=$("$green" cron --test --tab "$tmp/compound" --from '2026-01-01 00:00') || fail "@every 2h45m rejected"
grep -q "2026-01-01 02:45:00.000" <<<"$out" || fail "@every 2h45m: $out"

# 15. Job names: `# name:` above a crontab job, --name after an --every job;
#     they are the output prefix and the JSON job field.
printf '# name: greeter\n* * * * * * echo hello\n' >"$tmp/named"
out=$("$green" cron --tab "$tmp/named" --every 100ms 'echo cmd' --name shorty -- sleep 1.2 2>/dev/null)
grep -q $'^greeter\thello$' <<<"$out" || fail "named crontab job: $out"
grep -q $'^shorty\tcmd$' <<<"$out" || fail "--name: $out"
T=$tmp "$green" cron --json --every 100ms 'touch "$T/named-ran"; echo cmd' --name shorty \
  -- sh -c 'until test -e "$T/named-ran"; do sleep 0.02; done' >"$tmp/named.json" 2>/dev/null
grep -q '"event":"exit","job":"shorty"' "$tmp/named.json" || fail "--name in JSON: $(cat "$tmp/named.json")"

# 16. The crontab is reloaded when it changes; a broken version is reported
#     and the old jobs keep running. The summary comes at every stop.
printf '* * * * * * echo one\n' >"$tmp/live"
"$green" cron --tab "$tmp/live" >"$tmp/live.out" 2>"$tmp/live.err" &
gpid=$!; pids+=("$gpid")
wait_for one "$tmp/live.out"
printf '* * * * * * echo two\n' >"$tmp/live.new" && mv "$tmp/live.new" "$tmp/live"
wait_for "reloaded $tmp/live: 1 job, 1 added, 1 removed" "$tmp/live.err"
wait_for two "$tmp/live.out"
printf '* * * * * * * echo three\n' >"$tmp/live"
wait_for "keeping the jobs loaded before" "$tmp/live.err"
: >"$tmp/live.out"
wait_for two "$tmp/live.out"
kill -TERM "$gpid"; wait "$gpid"
grep -q "$tmp/live:1: 7 fields" "$tmp/live.err" || fail "broken reload not explained: $(cat "$tmp/live.err")"
grep -q "three" "$tmp/live.out" && fail "the broken crontab ran"
err=$("$green" cron --every 1h true -- true 2>&1)
grep -q "^green cron: 0 runs, 0 failed, 0 timed out, 0 skipped$" <<<"$err" || fail "no summary after MAIN: $err"

# 17. A stdout nobody reads stops neither the ticks nor the signals: job
#     output waits (the jobs block on their pipes), runs keep starting, and
#     SIGTERM still ends the run, killing every job.
mkfifo "$tmp/stuck"
(exec 3<"$tmp/stuck"; sleep 60) &
rpid=$!; pids+=("$rpid")
T=$tmp "$green" cron --grace 200ms --every 50ms 'echo $$ >>"$T/flood.pids"; head -c 300000 /dev/zero' \
  --every 100ms 'echo $$ >>"$T/ticks"' >"$tmp/stuck" 2>"$tmp/stuck.err" &
gpid=$!; pids+=("$gpid")
wait_for_lines() {  # FILE N: waits (up to 30 s) until FILE has N lines
  for _ in $(seq 1 300); do
    [ -e "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "timed out waiting for $2 lines in $1"
}
wait_for_lines "$tmp/ticks" 5
# By now stdout is full (300 KB a run, a 64 KiB pipe): ticks must go on.
sleep 1
n=$(wc -l <"$tmp/ticks")
wait_for_lines "$tmp/ticks" $((n + 5))
kill -TERM "$gpid"
for _ in $(seq 1 300); do kill -0 "$gpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$gpid" 2>/dev/null && fail "SIGTERM did not stop green with a stuck stdout"
wait "$gpid"; rc=$?
[ $rc -eq 143 ] || fail "stuck stdout, SIGTERM: exited $rc, want 143: $(cat "$tmp/stuck.err")"
kill "$rpid" 2>/dev/null
all_gone "job with a stuck stdout" $(cat "$tmp/flood.pids")

# 18. The same for a stderr nobody reads: a job's stderr waits (the job
#     blocks on its pipe; its later ticks are skipped), the other job's
#     ticks go on, SIGTERM ends the run.
mkfifo "$tmp/stuck2"
(exec 3<"$tmp/stuck2"; sleep 60) &
rpid=$!; pids+=("$rpid")
T=$tmp "$green" cron --grace 200ms --every 50ms 'echo $$ >>"$T/flood2.pids"; head -c 1000000 /dev/zero >&2' \
  --every 100ms 'echo $$ >>"$T/ticks2"' >"$tmp/stuck2.out" 2>"$tmp/stuck2" &
gpid=$!; pids+=("$gpid")
wait_for_lines "$tmp/flood2.pids" 1
# 1 MB is more than the pipe and green's buffer hold: stderr is stuck now.
n=$(cat "$tmp/ticks2" 2>/dev/null | wc -l)
wait_for_lines "$tmp/ticks2" $((n + 10))
kill -TERM "$gpid"
for _ in $(seq 1 300); do kill -0 "$gpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$gpid" 2>/dev/null && fail "SIGTERM did not stop green with a stuck stderr"
wait "$gpid"; rc=$?
[ $rc -eq 143 ] || fail "stuck stderr, SIGTERM: exited $rc, want 143"
kill "$rpid" 2>/dev/null
all_gone "job with a stuck stderr" $(cat "$tmp/flood2.pids")

# 19. A full disk on stdout: one error line, exit 1, the summary still printed.
err=$("$green" cron --every 50ms 'echo x' -- sleep 0.3 2>&1 >/dev/full); rc=$?
[ $rc -eq 1 ] || fail "> /dev/full exited $rc, want 1: $err"
[ "$(grep -c "No space left on device" <<<"$err")" -eq 1 ] || fail "> /dev/full: want one error line: $err"
grep -Eq "^green cron: [0-9]+ runs?, " <<<"$err" || fail "> /dev/full: no summary: $err"

[ $failures -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "cron e2e: all passed"
