#!/usr/bin/env bash
# Core benchmarks (issues 2 and 16), libgreen vs Boost.Fiber vs gevent, side by side.
#
#   bench/run_core.sh [BUILD_DIR]        BUILD_DIR defaults to build/release
#
# Builds nothing: BUILD_DIR must already hold bench/bench_core and
# bench/bench_fiber, e.g.
#   cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release
#   cmake --build build/release --target bench_core bench_fiber
#
# Prints a markdown table (medians) with ratios and the bars of issue 2,
# then every command it ran. Knobs (environment):
#   CPU=1            core the benchmarks are pinned to (taskset -c)
#   REPS=5           repetitions of the C++ switch/spawn runs (median reported)
#   PY_REPS=3        repetitions of the gevent switch/spawn runs
#   RSS_REPS=3       repetitions of libgreen's 100,000-greenlet RSS run (others: 1)
#   SWITCH_N=10000000 GEVENT_SWITCH_N=1000000    sleep(0)/yield calls per run
#   SPAWN_N=1000000   GEVENT_SPAWN_N=20000       spawn+join per run
#   ALIVE=10000      parked greenlets during the second spawn+join run
#   ITEMS_N=200000 GEVENT_ITEMS_N=10000    items per link/iwait/JoinableQueue run
#   FIBER_1M=1       also run Boost.Fiber with 1,000,000 parked fibers (55-80 s of the
#                    ~2.5 min total on a quiet machine here; 0 skips it)
#   GEVENT_1M=0      also run gevent with 1,000,000 parked greenlets (+230 s, 8.5 GB)
#   LOGDIR=...       where the raw outputs go (default: a new directory in /tmp)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ARG1=${1:-}
BUILD=${1:-build/release}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
CORE=$BUILD/bench/bench_core
FIBER=$BUILD/bench/bench_fiber
PY=/usr/bin/python3
GEVENT=$ROOT/bench/gevent_core.py

# The knobs set by the caller, to print the exact command line.
ENVPREFIX=
for v in CPU REPS PY_REPS RSS_REPS SWITCH_N GEVENT_SWITCH_N SPAWN_N GEVENT_SPAWN_N ALIVE ITEMS_N GEVENT_ITEMS_N FIBER_1M GEVENT_1M LOGDIR; do
  [[ -v $v ]] && ENVPREFIX+="$v=${!v} "
done

CPU=${CPU:-1}
REPS=${REPS:-5}
PY_REPS=${PY_REPS:-3}
RSS_REPS=${RSS_REPS:-3}
SWITCH_N=${SWITCH_N:-10000000}
GEVENT_SWITCH_N=${GEVENT_SWITCH_N:-1000000}
SPAWN_N=${SPAWN_N:-1000000}
GEVENT_SPAWN_N=${GEVENT_SPAWN_N:-20000}
ALIVE=${ALIVE:-10000}
ITEMS_N=${ITEMS_N:-200000}
GEVENT_ITEMS_N=${GEVENT_ITEMS_N:-10000}
FIBER_1M=${FIBER_1M:-1}
GEVENT_1M=${GEVENT_1M:-0}
LOGDIR=${LOGDIR:-$(mktemp -d /tmp/run_core.XXXXXX)}
mkdir -p "$LOGDIR"

for exe in "$CORE" "$FIBER"; do
  if [[ ! -x $exe ]]; then
    echo "missing $exe; build it first:" >&2
    echo "  cmake -S $ROOT -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build $BUILD --target bench_core bench_fiber" >&2
    exit 1
  fi
done
if ! $PY -c 'import gevent' 2>/dev/null; then
  echo "$PY cannot import gevent (install python3-gevent)" >&2
  exit 1
fi

PIN=(taskset -c "$CPU")
COMMANDS=()
START=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# run NAME REPS KEY CMD...: runs CMD REPS times and sets R[NAME] to the
# median of KEY (or to "FAIL(...)" if a run failed); for the timed keys also
# R[NAME.cpu], the median of the same figure on process CPU time. Every run's
# output is kept in $LOGDIR/NAME.N.out.
declare -A R
median() { printf '%s\n' "$@" | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
run() {
  local name=$1 reps=$2 key=$3
  shift 3
  local ckey=$key
  case $key in *_per_s) ckey=${key%_per_s}_cpu_per_s ;; *_ns) ckey=${key%_ns}_cpu_ns ;; esac
  COMMANDS+=("$* # x$reps -> $key")
  local vals=() cvals=() i out rc
  for ((i = 1; i <= reps; i++)); do
    out=$LOGDIR/$name.$i.out
    echo "[$(( $(date +%s) - START ))s] $name ($i/$reps): $*" >&2
    "$@" >"$out" 2>"$LOGDIR/$name.$i.err"
    rc=$?
    if [[ $rc -ne 0 ]]; then
      R[$name]="FAIL(exit $rc: $(cat "$LOGDIR/$name.$i.err" "$out" | grep . | tail -n1))"
      return
    fi
    vals+=("$(awk -v k="$key" '$1 == k { print $2 }' "$out")")
    [[ $ckey != "$key" ]] && cvals+=("$(awk -v k="$ckey" '$1 == k { print $2 }' "$out")")
  done
  R[$name]=$(median "${vals[@]}")
  R[$name.all]="${vals[*]}"
  if [[ ${#cvals[@]} -gt 0 ]]; then
    R[$name.cpu]=$(median "${cvals[@]}")
    R[$name.cpuall]="${cvals[*]}"
  fi
}
# field NAME KEY: KEY from the first run of NAME.
field() {
  local v
  v=$(awk -v k="$2" '$1 == k { print $2 }' "$LOGDIR/$1.1.out" 2>/dev/null)
  printf '%s' "${v:--}"
}

# ---- switch cost -----------------------------------------------------------
run g_switch "$REPS" switch_ns "${PIN[@]}" "$CORE" switch "$SWITCH_N"
run f_switch "$REPS" switch_ns "${PIN[@]}" "$FIBER" switch "$SWITCH_N"
run p_switch "$PY_REPS" switch_ns "${PIN[@]}" "$PY" "$GEVENT" switch "$GEVENT_SWITCH_N"

# ---- spawn+join -------------------------------------------------------------
run g_spawn0 "$REPS" spawn_join_per_s "${PIN[@]}" "$CORE" spawn "$SPAWN_N" 0
run g_spawnA "$REPS" spawn_join_per_s "${PIN[@]}" "$CORE" spawn "$SPAWN_N" "$ALIVE"
run fp_spawn0 "$REPS" spawn_join_per_s "${PIN[@]}" "$FIBER" spawn "$SPAWN_N" 0 pooled
run fp_spawnA "$REPS" spawn_join_per_s "${PIN[@]}" "$FIBER" spawn "$SPAWN_N" "$ALIVE" pooled
run fd_spawn0 "$REPS" spawn_join_per_s "${PIN[@]}" "$FIBER" spawn "$SPAWN_N" 0 default
run fd_spawnA "$REPS" spawn_join_per_s "${PIN[@]}" "$FIBER" spawn "$SPAWN_N" "$ALIVE" default
run p_spawn0 "$PY_REPS" spawn_join_per_s "${PIN[@]}" "$PY" "$GEVENT" spawn "$GEVENT_SPAWN_N" 0
run p_spawnA "$PY_REPS" spawn_join_per_s "${PIN[@]}" "$PY" "$GEVENT" spawn "$GEVENT_SPAWN_N" "$ALIVE"

# ---- the gevent APIs of issue 16 (no Boost.Fiber counterpart) ---------------
for w in link iwait jqueue; do
  run g_$w "$REPS" ${w}_ns "${PIN[@]}" "$CORE" $w "$ITEMS_N"
  run p_$w "$PY_REPS" ${w}_ns "${PIN[@]}" "$PY" "$GEVENT" $w "$GEVENT_ITEMS_N"
done

# ---- resident memory per parked greenlet ------------------------------------
run g_rss100k "$RSS_REPS" rss_per_greenlet "${PIN[@]}" "$CORE" rss 100000
run g_rss1m 1 rss_per_greenlet "${PIN[@]}" "$CORE" rss 1000000
run f_rss100k 1 rss_per_greenlet "${PIN[@]}" "$FIBER" rss 100000
if [[ $FIBER_1M == 1 ]]; then
  run f_rss1m 1 rss_per_greenlet "${PIN[@]}" "$FIBER" rss 1000000
else
  R[f_rss1m]="not run (FIBER_1M=0)"
fi
run p_rss100k 1 rss_per_greenlet "${PIN[@]}" "$PY" "$GEVENT" rss 100000
if [[ $GEVENT_1M == 1 ]]; then
  run p_rss1m 1 rss_per_greenlet "${PIN[@]}" "$PY" "$GEVENT" rss 1000000
else
  R[p_rss1m]="not run (GEVENT_1M=0)"
fi
ELAPSED=$(( $(date +%s) - START ))
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report ----------------------------------------------------------------
isnum() { [[ $1 =~ ^[0-9.eE+-]+$ && $1 =~ [0-9] ]]; }
# fmt VALUE SCALE DIGITS [UNIT]
fmt() {
  if isnum "$1"; then awk -v v="$1" -v s="$2" -v d="$3" -v u="${4:-}" 'BEGIN { printf "%.*f%s", d, v / s, u }'
  else printf '%s' "$1"; fi
}
# fmtc NAME SCALE DIGITS UNIT: wall-clock median, and the CPU-time one in parentheses.
fmtc() {
  local w=${R[$1]:--} c=${R[$1.cpu]:-}
  if isnum "$w" && isnum "$c"; then printf '%s (CPU %s)%s' "$(fmt "$w" "$2" "$3")" "$(fmt "$c" "$2" "$3")" "$4"
  else fmt "$w" "$2" "$3" "$4"; fi
}
# ratio GREEN OTHER MODE: how many times better libgreen is (MODE: lower or higher is better).
ratio() {
  if isnum "$1" && isnum "$2"; then
    awk -v g="$1" -v o="$2" -v m="$3" 'BEGIN { r = (m == "lower") ? o / g : g / o; printf "%.2fx %s", r, (r >= 1 ? "better" : "worse") }'
  else printf 'n/a'; fi
}
# test EXPR with awk variables a and b -> 0/1
check() { isnum "$2" && isnum "$3" && awk -v a="$2" -v b="$3" "BEGIN { exit !($1) }"; }
# verdict EXPR A_WALL B_WALL A_CPU B_CPU: judged on the wall clock; a bar missed
# on the wall clock but met on CPU time is flagged (a busy machine inflates wall time).
verdict() {
  if check "$1" "$2" "$3"; then echo "met"
  elif check "$1" "$4" "$5"; then echo "**NOT met** on wall clock (met on CPU time: busy machine?)"
  else echo "**NOT met**"; fi
}
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b) ? a : b }'; }
# best NAME1 NAME2 [SUFFIX]: the larger of two medians (Boost.Fiber's faster allocator).
best() {
  local a=${R[$1${3:-}]:-} b=${R[$2${3:-}]:-}
  if isnum "$a" && isnum "$b"; then max "$a" "$b"; elif isnum "$a"; then echo "$a"; else echo "$b"; fi
}

FB0=$(best fp_spawn0 fd_spawn0); FBA=$(best fp_spawnA fd_spawnA)
GMAPS=$(field g_rss1m maps_peak); GMAXMAP=$(field g_rss1m max_map_count); GJOINED=$(field g_rss1m all_joined)
G1M="**NOT met**"
[[ $GJOINED == 1 ]] && isnum "$GMAPS" && isnum "$GMAXMAP" && [[ $GMAPS -lt $GMAXMAP ]] && G1M=met
[[ ${R[g_rss1m]} == FAIL* ]] && G1M="**NOT met** (${R[g_rss1m]})"

echo "## Core benchmarks: libgreen vs Boost.Fiber 1.81 vs gevent"
echo
# Wall clock well above CPU time means the benchmarks were preempted: say so.
BUSY=
for n in g_switch f_switch p_switch g_spawn0 g_spawnA fp_spawn0 fp_spawnA fd_spawn0 fd_spawnA p_spawn0 p_spawnA g_link p_link g_iwait p_iwait g_jqueue p_jqueue; do
  w=${R[$n]:-} c=${R[$n.cpu]:-}
  isnum "$w" && isnum "$c" || continue
  case $n in *switch | *link | *iwait | *jqueue) check 'a > 1.1 * b' "$w" "$c" && BUSY+=" $n" ;; *) check 'b > 1.1 * a' "$w" "$c" && BUSY+=" $n" ;; esac
done
if [[ -n $BUSY ]]; then
  echo "**Warning: wall clock exceeds CPU time by more than 10% in:$BUSY. The machine was busy (load average $LOAD0 at start, $LOAD1 at end); those wall-clock figures are inflated, compare the CPU-time ones.**"
  echo
fi
echo "Medians: C++ switch/spawn over $REPS runs, gevent switch/spawn over $PY_REPS runs, libgreen RSS @ 100,000 over $RSS_REPS runs, the other RSS rows 1 run."
echo "Switch and spawn figures are wall clock, with the process's CPU time in parentheses; all runs pinned with \`taskset -c $CPU\`."
echo "Ratios (wall clock) say how many times libgreen beats the other; bars are judged on the wall clock."
echo
echo "| Benchmark | libgreen | Boost.Fiber | gevent | green vs Boost.Fiber | green vs gevent | Bar | Bar met? |"
echo "|---|---:|---:|---:|---|---|---|---|"
echo "| switch: ns per sleep(0) / yield(), 2 ping-pong | $(fmtc g_switch 1 1 ' ns') | $(fmtc f_switch 1 1 ' ns') | $(fmtc p_switch 1 0 ' ns') | $(ratio "${R[g_switch]}" "${R[f_switch]}" lower) | $(ratio "${R[g_switch]}" "${R[p_switch]}" lower) | <= 50 ns; faster than Boost.Fiber; >= 30x gevent | $(verdict 'a <= b' "${R[g_switch]}" 50 "${R[g_switch.cpu]:-}" 50); $(verdict 'a < b' "${R[g_switch]}" "${R[f_switch]}" "${R[g_switch.cpu]:-}" "${R[f_switch.cpu]:-}"); $(verdict 'b / a >= 30' "${R[g_switch]}" "${R[p_switch]}" "${R[g_switch.cpu]:-}" "${R[p_switch.cpu]:-}") |"
echo "| spawn+join one at a time | $(fmtc g_spawn0 1e6 2 ' M/s') | pooled $(fmtc fp_spawn0 1e6 2 ' M/s'); default $(fmtc fd_spawn0 1e6 2 ' M/s') | $(fmtc p_spawn0 1e3 1 ' k/s') | $(ratio "${R[g_spawn0]}" "$FB0" higher) | $(ratio "${R[g_spawn0]}" "${R[p_spawn0]}" higher) | >= 3 M/s | $(verdict 'a >= b' "${R[g_spawn0]}" 3e6 "${R[g_spawn0.cpu]:-}" 3e6) |"
echo "| spawn+join with $ALIVE others parked | $(fmtc g_spawnA 1e6 2 ' M/s') | pooled $(fmtc fp_spawnA 1e6 2 ' M/s'); default $(fmtc fd_spawnA 1e6 2 ' M/s') | $(fmtc p_spawnA 1e3 1 ' k/s') | $(ratio "${R[g_spawnA]}" "$FBA" higher) | $(ratio "${R[g_spawnA]}" "${R[p_spawnA]}" higher) | >= 1.5 M/s | $(verdict 'a >= b' "${R[g_spawnA]}" 1.5e6 "${R[g_spawnA.cpu]:-}" 1.5e6) |"
echo "| link: spawn, link a callback, join; ns per item | $(fmtc g_link 1 0 ' ns') | - | $(fmtc p_link 1 0 ' ns') | | $(ratio "${R[g_link]}" "${R[p_link]}" lower) | | |"
echo "| iwait over greenlets that each sleep(0) once; ns per item | $(fmtc g_iwait 1 0 ' ns') | - | $(fmtc p_iwait 1 0 ' ns') | | $(ratio "${R[g_iwait]}" "${R[p_iwait]}" lower) | | |"
echo "| JoinableQueue: put, get, task_done, join; ns per item | $(fmtc g_jqueue 1 1 ' ns') | - | $(fmtc p_jqueue 1 0 ' ns') | | $(ratio "${R[g_jqueue]}" "${R[p_jqueue]}" lower) | | |"
echo "| RSS per parked greenlet, 100,000 parked | $(fmt "${R[g_rss100k]}" 1 0 ' B') | $(fmt "${R[f_rss100k]}" 1 0 ' B') | $(fmt "${R[p_rss100k]}" 1 0 ' B') | $(ratio "${R[g_rss100k]}" "${R[f_rss100k]}" lower) | $(ratio "${R[g_rss100k]}" "${R[p_rss100k]}" lower) | <= 5 KiB (5120 B) | $(verdict 'a <= b' "${R[g_rss100k]}" 5120) |"
echo "| RSS per parked greenlet, 1,000,000 parked | $(fmt "${R[g_rss1m]}" 1 0 ' B') | $(fmt "${R[f_rss1m]}" 1 0 ' B') | $(fmt "${R[p_rss1m]}" 1 0 ' B') | $(ratio "${R[g_rss1m]}" "${R[f_rss1m]}" lower) | $(ratio "${R[g_rss1m]}" "${R[p_rss1m]}" lower) | | |"
echo "| 1,000,000 parked: mappings at peak / vm.max_map_count | $GMAPS / $GMAXMAP | $(field f_rss1m maps_peak) / $(field f_rss1m max_map_count) | $(field p_rss1m maps_peak) / $(field p_rss1m max_map_count) | | | works under the default vm.max_map_count | $G1M |"
echo
echo "Details:"
echo "- every run, wall (CPU): libgreen switch ${R[g_switch.all]:-} (${R[g_switch.cpuall]:-}) ns; Boost.Fiber switch ${R[f_switch.all]:-} (${R[f_switch.cpuall]:-}) ns; gevent switch ${R[p_switch.all]:-} (${R[p_switch.cpuall]:-}) ns"
echo "- every run, spawn+join per s: libgreen ${R[g_spawn0.all]:-}; with $ALIVE parked ${R[g_spawnA.all]:-}; Boost.Fiber pooled ${R[fp_spawn0.all]:-}; with $ALIVE parked ${R[fp_spawnA.all]:-}; Boost.Fiber default ${R[fd_spawn0.all]:-}; with $ALIVE parked ${R[fd_spawnA.all]:-}; gevent ${R[p_spawn0.all]:-}; with $ALIVE parked ${R[p_spawnA.all]:-}"
echo "- Boost.Fiber: round_robin scheduler; stacks of $(field fd_spawn0 stack_size) bytes (stack_traits::default_size()) from the default allocator ($(field fd_spawn0 stack_allocator)) or $(field fp_spawn0 stack_allocator); the spawn ratios use the faster of the two; the RSS runs use the default allocator. libgreen: default 64 KiB stacks."
echo "- every run, ns per item, wall (CPU): libgreen link ${R[g_link.all]:-} (${R[g_link.cpuall]:-}), iwait ${R[g_iwait.all]:-} (${R[g_iwait.cpuall]:-}), jqueue ${R[g_jqueue.all]:-} (${R[g_jqueue.cpuall]:-}) over $ITEMS_N items; gevent link ${R[p_link.all]:-} (${R[p_link.cpuall]:-}), iwait ${R[p_iwait.all]:-} (${R[p_iwait.cpuall]:-}), jqueue ${R[p_jqueue.all]:-} (${R[p_jqueue.cpuall]:-}) over $GEVENT_ITEMS_N items. A link callback is a greenlet of its own in both (gevent's SpawnedLink), so link is two spawns per item"
echo "- libgreen RSS @ 100,000, every run: ${R[g_rss100k.all]:-} B; mappings at peak $(field g_rss100k maps_peak); 1,000,000: $(field g_rss1m stacks_allocated) stacks carved, mappings $(field g_rss1m maps_before) -> $GMAPS (vm.max_map_count $GMAXMAP), all joined: $GJOINED; after joining, $(field g_rss1m stacks_returned_after_join) of $(field g_rss1m stacks_free_after_join) free stacks had given their pages back (RSS $(fmt "$(field g_rss1m rss_after_join)" 1048576 0) MiB with the handles held, $(fmt "$(field g_rss1m rss_after_release)" 1048576 0) MiB once they are dropped)"
for impl in "libgreen g" "Boost.Fiber f" "gevent p"; do
  set -- $impl
  echo "- $1 parked: 100,000 spawn+park $(field ${2}_rss100k spawn_park_s) s, wake+join $(field ${2}_rss100k wake_join_s) s, RSS $(fmt "$(field ${2}_rss100k rss_before)" 1048576 0) -> $(fmt "$(field ${2}_rss100k rss_peak)" 1048576 0) -> $(fmt "$(field ${2}_rss100k rss_after_join)" 1048576 0) MiB (before -> all parked -> all joined); 1,000,000 spawn+park $(field ${2}_rss1m spawn_park_s) s, wake+join $(field ${2}_rss1m wake_join_s) s, RSS $(fmt "$(field ${2}_rss1m rss_before)" 1048576 0) -> $(fmt "$(field ${2}_rss1m rss_peak)" 1048576 0) -> $(fmt "$(field ${2}_rss1m rss_after_join)" 1048576 0) MiB"
done
echo "- $(head -n1 "$LOGDIR/p_switch.1.out" 2>/dev/null); Python $($PY -c 'import sys; print(sys.version.split()[0])')"
echo "- machine: $(nproc) CPUs, $(awk -F': *' '/model name/ { print $2; exit }' /proc/cpuinfo), clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource), THP $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null), kernel $(uname -r), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo); load average $LOAD0 at start, $LOAD1 at end (the benchmarks keep one core busy)"
echo "- source: commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$( [[ -n $(git -C "$ROOT" status --porcelain -- libgreen 2>/dev/null) ]] && echo ' (libgreen/ has uncommitted changes)'); binaries in ${BUILD#$ROOT/} ($(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$BUILD/CMakeCache.txt" 2>/dev/null), $(awk -F= '/^CMAKE_CXX_COMPILER:/ { print $2 }' "$BUILD/CMakeCache.txt" 2>/dev/null))"
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); total time ${ELAPSED} s; raw outputs in $LOGDIR"
echo
echo "Command (from $ROOT): \`${ENVPREFIX}bench/run_core.sh${ARG1:+ $ARG1}\`"
echo
echo "Commands run (relative to $ROOT):"
echo
echo '```'
for c in "${COMMANDS[@]}"; do echo "${c//$ROOT\//}"; done
echo '```'
