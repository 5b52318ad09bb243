#!/usr/bin/env bash
# Every headline comparison of issues 14 and 17 in one command, through the
# existing scripts, with modest round counts (under 15 minutes on a quiet
# 2-core machine): serve echo vs the 1-thread Asio server (100 and 1,000
# connections), serve http vs nginx, h2o and pywsgi (wrk -c50 and -c500, a
# 1 GiB download, idle memory), WebSocket echo vs node's ws and
# gevent-websocket, fetch 1 KiB and 1 MiB files vs curl --parallel (-c 20 and
# -c 100), resolve vs dnsperf (-c 100 and the defaults), chat vs the gevent
# seed and ncat --chat, and the hub switch vs Boost.Fiber and a raw
# Boost.Context jump. Prints one Markdown section for bench/RESULTS.md: per
# table the exact command, the commit, `uptime` before and after, the
# script's table (its other output in a text block). Not part of the test
# suite: it takes minutes and judges nothing.
#
# Usage: bench/headline.sh [BUILD_DIR] >section.md    (default build/release; needs root for resolve's port 53)
#   BUILD_DIR must hold a release build of: green_cli bench_loadgen
#   bench_asio_echo bench_ws example_web_echo bench_core bench_fiber.
#   GREEN_BEFORE=PATH/TO/an/older/green adds it as a before column where the
#   script supports one (echo, serve http, fetch, chat); WS_BEFORE=an older
#   example_web_echo and CORE_BEFORE=an older bench_core do the same for the
#   WebSocket echo and the switch.
#   HEADLINE_QUICK=1: the smallest counts (one short round each), to check
#   that every script still runs; its figures mean nothing.
#   ONLY="echo http ws fetch dns chat switch": a subset, in that order.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)

# bench/headline.sh --switch BUILD_DIR ROUNDS: the switch table. Each round
# runs the three once, the order rotated by one per round; CPU time per
# operation (bench_core's and bench_fiber's *_cpu_ns), medians of the rounds
# and of the per-round ratios.
if [ "${1:-}" = --switch ]; then
  b=$2 rounds=$3 n=${SWITCH_N:-5000000}
  names=(libgreen ${CORE_BEFORE:+libgreen-before} boost-fiber boost-context)
  declare -A v
  for r in $(seq "$rounds"); do
    k=$(((r - 1) % ${#names[@]}))
    for name in "${names[@]:k}" "${names[@]:0:k}"; do
      case $name in
        libgreen) x=$(taskset -c 1 "$b/bench/bench_core" switch "$n" | awk '$1 == "switch_cpu_ns" { print $2 }') ;;
        libgreen-before) x=$(taskset -c 1 "$CORE_BEFORE" switch "$n" | awk '$1 == "switch_cpu_ns" { print $2 }') ;;
        boost-fiber) x=$(taskset -c 1 "$b/bench/bench_fiber" switch "$n" | awk '$1 == "switch_cpu_ns" { print $2 }') ;;
        boost-context) x=$(taskset -c 1 "$b/bench/bench_fiber" jump "$n" | awk '$1 == "jump_direct_cpu_ns" { print $2 }') ;;
      esac
      v[$name]+="$x "
      echo "round $r $name ${x:-failed} ns" >&2
    done
  done
  median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { printf "%.2f", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
  echo "| switch ($n per run, CPU ns per operation) | median | rounds | libgreen vs it (median of per-round ratios) |"
  echo "|---|---:|---|---:|"
  read -r -a g <<<"${v[libgreen]}"
  for name in "${names[@]}"; do
    read -r -a o <<<"${v[$name]}"
    ratios=
    for i in "${!g[@]}"; do ratios+="$(awk -v g="${g[i]}" -v o="${o[i]}" 'BEGIN { print o / g }') "; done
    echo "| $name | $(median <<<"${v[$name]}") | ${v[$name]% } | $(median <<<"$ratios")x |"
  done
  echo
  echo "libgreen: bench_core switch (two greenlets ping-ponging on sleep(0)); boost-fiber: bench_fiber switch" \
    "(yield, round_robin); boost-context: bench_fiber jump, jump_direct_cpu_ns (the floor: no scheduler)."
  exit 0
fi
build=${1:-build/release}
case $build in /*) ;; *) build=$root/$build ;; esac
green=$build/tools/green
before=${GREEN_BEFORE:-}
only=${ONLY:-echo http ws fetch dns chat switch}
for f in "$green" "$build/bench/servers/bench_loadgen" "$build/bench/servers/bench_asio_echo" "$build/bench/bench_ws" \
  "$build/examples/example_web_echo" "$build/bench/bench_core" "$build/bench/bench_fiber" ${before:+"$before"} \
  ${WS_BEFORE:+"$WS_BEFORE"} ${CORE_BEFORE:+"$CORE_BEFORE"}; do
  [ -x "$f" ] || { echo "missing $f (build the release preset's targets first)" >&2; exit 2; }
done
cd "$root" || exit 2
rel=${build#$root/}
# Rounds and seconds per point: the quiet-machine defaults, or the smallest.
if [ "${HEADLINE_QUICK:-0}" = 1 ]; then
  echo_r=1 echo_s=1 http_r=1 http_s=1 ws_r=1 ws_s=1 small_r=1 big_r=1 dns_r=1 chat_r=1 switch_r=1
  export BIG_MIB=64 IDLE_CONNS=200
  chat_env="CLIENTS=50 LINES=5"
else
  echo_r=3 echo_s=2 http_r=3 http_s=3 ws_r=3 ws_s=3 small_r=5 big_r=7 dns_r=5 chat_r=3 switch_r=5
  chat_env=
fi
commit="$(git describe --always --dirty 2>/dev/null) ($(git log -1 --format='%h %cI' 2>/dev/null)); binaries in $rel"
commit+=", tools/green built $(date -u -r "$green" '+%Y-%m-%d %H:%M UTC')${before:+; before: $before}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# section TITLE CMD...: runs CMD (a shell command line, printed as is) and
# prints its tables, the rest of its output in a text block.
section() {
  local title=$1 cmd=$2 up0 up1 start
  up0=$(uptime)
  start=$(date +%s)
  echo "[headline] $title: $cmd" >&2
  bash -c "$cmd" >"$log" 2>&1
  local rc=$?
  up1=$(uptime)
  echo "### $title"
  echo
  echo "Command: \`$cmd\` (exit $rc, $(($(date +%s) - start)) s)  "
  echo "Commit: $commit  "
  echo "Load: \`$up0\` before, \`$up1\` after"
  echo
  # Tables, and the "## " titles some scripts give them, as Markdown; the
  # rest (per-run lines, notes) in a text block before them.
  if grep -qv '^|\|^## ' "$log"; then
    echo '```text'
    grep -v '^|\|^## ' "$log" | grep .
    echo '```'
    echo
  fi
  if grep -q '^|' "$log"; then
    # blank: the last line printed was blank (or nothing yet); gap: a
    # non-table line since the last table line, so a new table starts.
    awk 'BEGIN { blank = 1 }
         /^## / { if (!blank) print ""; print "####" substr($0, 3); print ""; blank = 1; gap = 0; next }
         /^\|/ { if (gap && !blank) print ""; print; blank = 0; gap = 0; next }
         { gap = 1 }' "$log"
    echo
  fi
}

echo "## Headline benchmarks (bench/headline.sh), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "Machine: $(nproc) CPUs, $(awk -F': *' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)." \
  "Command: \`${GREEN_BEFORE:+GREEN_BEFORE=$GREEN_BEFORE }${WS_BEFORE:+WS_BEFORE=$WS_BEFORE }${CORE_BEFORE:+CORE_BEFORE=$CORE_BEFORE }${HEADLINE_QUICK:+HEADLINE_QUICK=$HEADLINE_QUICK }bench/headline.sh $rel\`." \
  "Every script interleaves its servers or clients round by round; ratios are medians of per-round ratios."
echo
a=${before:-$green}
for part in $only; do
  case $part in
    echo)
      section "serve echo vs the 1-thread Asio server (100 and 1,000 connections, 64 B, depth 4)" \
        "bench/servers/echo_ab.sh $a $green $rel $echo_r $echo_s"
      [ -z "$before" ] && echo "(A and B are the same binary here: B / A shows the spread between rounds.)" && echo
      ;;
    http)
      section "serve http vs nginx, h2o and pywsgi (wrk -c50 and -c500 on 1 KiB, one 1 GiB download, idle memory)" \
        "${before:+GREEN_BEFORE=$before }${BIG_MIB:+BIG_MIB=$BIG_MIB }${IDLE_CONNS:+IDLE_CONNS=$IDLE_CONNS }bench/serve_http_bench.sh $rel $http_s $http_r"
      ;;
    ws)
      # ws_bench.sh's GREEN_BEFORE is an example_web_echo binary, not green.
      section "WebSocket echo, 1,000 clients, vs node's ws and gevent-websocket" \
        "GREEN_BEFORE=${WS_BEFORE:-} bench/ws_bench.sh $rel 1000 $ws_s $ws_r"
      ;;
    fetch)
      for c in 20 100; do
        section "fetch, 20,000 x 1 KiB vs curl --parallel, -c $c" "bench/fetch_big_ab.py --small $small_r $c $green${before:+ $before}"
        section "fetch, 200 x 1 MiB vs curl --parallel, -c $c" "bench/fetch_big_ab.py $big_r $c $green${before:+ $before}"
      done
      ;;
    dns)
      section "resolve, 100,000 names vs dnsperf -q 100, green -c 100" \
        "DNS_BENCH_QUICK=1 ROUNDS=$dns_r bench/dns_bench.sh $green 100"
      section "resolve, 100,000 names vs dnsperf -q 100, green's defaults" \
        "DNS_BENCH_QUICK=1 ROUNDS=$dns_r bench/dns_bench.sh $green"
      ;;
    chat)
      section "serve chat, 500 users x 20 lines, vs the gevent seed and ncat --chat" \
        "${chat_env:+$chat_env }SERVERS=\"gevent ncat ${before:+A }B\" bench/servers/chat_ab.sh $a $green $rel $chat_r"
      ;;
    switch)
      section "the hub switch: libgreen sleep(0) vs Boost.Fiber yield vs a raw Boost.Context jump (CPU ns, pinned to CPU 1)" \
        "${CORE_BEFORE:+CORE_BEFORE=$CORE_BEFORE }bench/headline.sh --switch $rel $switch_r"
      ;;
    *) echo "unknown part $part" >&2; exit 2 ;;
  esac
done
