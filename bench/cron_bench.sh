#!/usr/bin/env bash
# green cron as a supervisor (issue 12), all in one run:
#  1. tick lateness of 100 jobs `--every 100ms true` for DURATION seconds
#     (default 15), p50/p99 from `green cron --json` (bench/cron_ticks.py);
#  2. the same while one more job writes 100 MB (no newlines: 64 KiB pieces)
#     through green to a reader, plus green's peak RSS;
#  3. N `true` processes (default 10,000) 20 at a time: green::proc
#     (bench_proc, spawn on the thread pool) vs `xargs -P 20`, interleaved
#     ROUNDS times (default 3), medians.
# Usage: bench/cron_bench.sh [BUILD_DIR] [DURATION] [N] [ROUNDS]
set -euo pipefail
build=${1:-build/release}
duration=${2:-15}
n=${3:-10000}
rounds=${4:-3}
c=20
here=$(cd "$(dirname "$0")" && pwd)
green=$build/tools/green
bench=$build/bench/bench_proc
cmake --build "$build" --target bench_proc green_cli >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== machine: $(nproc) cores, $(uname -r), $(uptime)"
args=()
for i in $(seq -w 1 100); do args+=(--every 100ms "true $i"); done
echo "== 1. 100 jobs --every 100ms true, ${duration} s"
"$green" cron --json "${args[@]}" -- sleep "$duration" 2>/dev/null | python3 "$here/cron_ticks.py"
echo "== 2. the same, and a job writing 100 MB through green, ${duration} s"
T=$tmp "$green" cron --json "${args[@]}" --every 100ms \
  'test -e "$T/big" || { touch "$T/big"; head -c 100000000 /dev/zero | tr "\0" x; touch "$T/big.done"; }' \
  --name big -- sleep "$duration" 2>"$tmp/err" >"$tmp/events" &
gpid=$!
while kill -0 "$gpid" 2>/dev/null; do
  grep -s '^VmHWM' "/proc/$gpid/status" >"$tmp/hwm.now" && cp "$tmp/hwm.now" "$tmp/hwm"
  sleep 0.5
done
wait "$gpid" || true
grep -v '"job":"big"' "$tmp/events" | python3 "$here/cron_ticks.py"
echo "big job: $(grep -c '"job":"big","time":"[^"]*","stream"' "$tmp/events") output pieces," \
  "finished: $([ -e "$tmp/big.done" ] && echo yes || echo no); green peak RSS: $(cat "$tmp/hwm" 2>/dev/null)"

echo "== 3. $n x true, $c at a time, $rounds interleaved rounds (seconds; lower is better)"
secs() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1; }
g=() x=()
for r in $(seq 1 "$rounds"); do
  g+=("$("$bench" "$n" "$c" thread | cut -d' ' -f1)")
  x+=("$(secs sh -c "seq $n | xargs -P $c -n 1 true")")
  echo "round $r: green ${g[-1]} s, xargs ${x[-1]} s"
done
python3 - "${g[*]}" "${x[*]}" <<'PY'
import statistics, sys
g = [float(v) for v in sys.argv[1].split()]
x = [float(v) for v in sys.argv[2].split()]
mg, mx = statistics.median(g), statistics.median(x)
print("median: green::proc %.2f s, xargs -P 20 %.2f s: xargs takes %.2fx green's time" % (mg, mx, mx / mg))
PY
