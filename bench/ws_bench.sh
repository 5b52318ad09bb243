#!/usr/bin/env bash
# WebSocket echo with many clients (issue 14): green::web (examples/web_echo)
# against gevent-websocket (bench/servers/gevent_ws_echo.py) and Node's ws
# (bench/servers/node_ws_echo.js), side by side in one run. Each server is
# pinned to CPU 0 and the load client (bench_ws: CLIENTS Beast clients on one
# green hub, the same client for every server) to CPU 1. Rounds interleave the
# servers; the table gives medians of the rounds and the ratios to green.
# On a loaded machine messages/s says little; the server's CPU time per echo
# (utime + stime from /proc at the end of its run, over every echo of the run)
# is the steadier measure of what each server costs.
#
# The clients are closed-loop (each has one message in flight), so
# messages/s is 1000 / round trip, and the round trip is mostly the time
# each process waits for its CPU: the client costs about as much CPU per
# echo as green does, so green's messages/s is bound by the client.
# GREEN_BEFORE=path/to/an/older/example_web_echo adds it to the rounds as
# "green-before" (an A/B interleaved with the others).
#
# Usage: bench/ws_bench.sh [BUILD_DIR] [CLIENTS] [SECONDS] [ROUNDS]   (build/release, 1000, 5, 3)
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build/release}
clients=${2:-1000}
secs=${3:-5}
rounds=${4:-3}
servers=${SERVERS:-"green gevent-websocket node-ws"}
[ -n "${GREEN_BEFORE:-}" ] && servers="green-before $servers"
client=$build/bench/bench_ws
[ -x "$client" ] || { echo "missing $client (build target bench_ws)" >&2; exit 2; }
ulimit -n "$(ulimit -Hn)"
py=/usr/bin/python3
export NODE_PATH=/usr/share/nodejs

pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; }
trap cleanup EXIT

free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {  # name port
  case $1 in
    green) taskset -c 0 "$build/examples/example_web_echo" "$2" 2>/dev/null & ;;
    green-before) taskset -c 0 "$GREEN_BEFORE" "$2" 2>/dev/null & ;;
    gevent-websocket) taskset -c 0 $py "$here/servers/gevent_ws_echo.py" "$2" 2>/dev/null & ;;
    node-ws) taskset -c 0 node "$here/servers/node_ws_echo.js" "$2" 2>/dev/null & ;;
  esac
  pid=$!
  for _ in $(seq 100); do
    $py -c "import socket,sys; socket.create_connection(('127.0.0.1',$2),timeout=1)" 2>/dev/null && return
    sleep 0.1
  done
  echo "$1 did not start" >&2
  exit 1
}

declare -A rate p99 cpu
echo "uptime: $(uptime)"
for r in $(seq "$rounds"); do
  for s in $servers; do
    port=$(free_port)
    start "$s" "$port"
    out=$(taskset -c 1 "$client" "$port" "$clients" "$secs")
    echo "round $r $s: $out"
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    echoes=$(echo "$out" | awk '{print $10}')
    us=$(awk -v t="$ticks" -v e="$echoes" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz * 1e6 / e}')
    echo "round $r $s: server CPU $ticks ticks, $us us per echo"
    rate[$s]+="$(echo "$out" | awk '{print $2}') "
    p99[$s]+="$(echo "$out" | awk '{print $6}') "
    cpu[$s]+="$us "
    kill "$pid"; wait "$pid" 2>/dev/null; pid=
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
g=$(echo "${rate[green]}" | median)
gc=$(echo "${cpu[green]}" | median)
echo
echo "| server | messages/s (median) | p99 ms (median) | server CPU us/echo (median) | green vs it: messages/s | green vs it: CPU per echo |"
echo "|---|---:|---:|---:|---|---|"
for s in $servers; do
  m=$(echo "${rate[$s]}" | median)
  p=$(echo "${p99[$s]}" | median)
  c=$(echo "${cpu[$s]}" | median)
  echo "| $s | $m | $p | $c | $(awk -v g="$g" -v m="$m" 'BEGIN {printf "%.2fx", g / m}') | $(awk -v g="$gc" -v c="$c" 'BEGIN {printf "%.2fx less", c / g}') |"
done
echo "uptime: $(uptime)"
