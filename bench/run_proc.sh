#!/usr/bin/env bash
# Subprocess and cron benchmarks (issue 5), all in one run:
#  1. tick accuracy: 100 jobs `--every 100ms true` for DURATION seconds
#     (default 20), p50/p99 lateness of starts from `green cron --json`;
#     1b. the same at `--every 1s` (a spawn rate the machine can sustain);
#  2. spawning and reaping 10,000 `true` processes 20 at a time: green::proc
#     (posix_spawn on the hub and on the thread pool) vs `xargs -P 20`,
#     GNU `parallel -j 20` and gevent.subprocess.
# Usage: bench/run_proc.sh [BUILD_DIR] [DURATION] [N]
set -euo pipefail
build=${1:-build/release}
duration=${2:-20}
n=${3:-10000}
c=20
here=$(cd "$(dirname "$0")" && pwd)
green=$build/tools/green
bench=$build/bench/bench_proc
cmake --build "$build" --target bench_proc >/dev/null

echo "== machine: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1. tick accuracy: 100 jobs --every 100ms true, ${duration} s"
args=()
for i in $(seq -w 1 100); do args+=(--every 100ms "true $i"); done
"$green" cron --json "${args[@]}" -- sleep "$duration" 2>/dev/null | python3 "$here/cron_ticks.py"
echo "== 1b. the same 100 jobs --every 1s (100 spawns/s), ${duration} s"
args=()
for i in $(seq -w 1 100); do args+=(--every 1s "true $i"); done
"$green" cron --json "${args[@]}" -- sleep "$duration" 2>/dev/null | python3 "$here/cron_ticks.py"

echo "== 2. $n x true, $c at a time (seconds; lower is better)"
secs() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1; }
g_hub=$("$bench" "$n" "$c" hub | cut -d' ' -f1)
g_thr=$("$bench" "$n" "$c" thread | cut -d' ' -f1)
xa=$(secs sh -c "seq $n | xargs -P $c -n 1 true")
gp=$(secs sh -c "seq $n | parallel -j $c true")
ge=$(/usr/bin/python3 "$here/gevent_proc.py" "$n" "$c" | cut -d' ' -f1)
best=$(python3 -c "print(min($g_hub, $g_thr))")
printf '%-34s %8s s\n' "green::proc (spawn on the hub)" "$g_hub" "green::proc (spawn on thread pool)" "$g_thr" \
  "xargs -P $c" "$xa" "GNU parallel -j $c" "$gp" "gevent.subprocess Pool($c)" "$ge"
python3 - "$best" "$xa" "$gp" "$ge" <<'PY'
import sys
best, xa, gp, ge = map(float, sys.argv[1:])
print("ratios (other / best green): xargs %.2fx  parallel %.2fx  gevent %.2fx" % (xa / best, gp / best, ge / best))
PY
