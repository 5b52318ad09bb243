#!/usr/bin/env bash
# WebSocket echo with many clients (issue 14): green::web (examples/web_echo)
# against gevent-websocket (bench/servers/gevent_ws_echo.py) and Node's ws
# (bench/servers/node_ws_echo.js), side by side in one run. Each server is
# pinned to CPU 0 and the load client (bench_ws: CLIENTS Beast clients on one
# green hub, the same client for every server) to CPU 1. Rounds interleave the
# servers; the table gives medians of the rounds and the ratios to green.
# On a loaded machine messages/s says little; the server's CPU time per echo
# (user and kernel time from /proc/PID/stat over the client's run, divided by
# every echo of the run) is the steadier measure of what each server costs.
# Each round starts every server in turn, gives it WARMUP seconds (default 1)
# of the same load from a client run that is not measured, measures, and
# stops it; the order rotates by one from round to round (the place in a
# round must not decide a ratio), and ratios are medians of per-round ratios
# (bench/rounds.py). The kernel bound line says how far a server with no
# user-space time at all could get against gevent-websocket.
#
# The clients are closed-loop (each has one message in flight), so
# messages/s is 1000 / round trip, and the round trip is mostly the time
# each process waits for its CPU: the client costs about as much CPU per
# echo as green does, so green's messages/s is bound by the client.
# GREEN_BEFORE=path/to/an/older/example_web_echo adds it to the rounds as
# "green-before" (an A/B interleaved with the others); the same binary as
# green makes an A/A run, whose "order check" line must say ~1.00.
#
# Usage: bench/ws_bench.sh [BUILD_DIR] [CLIENTS] [SECONDS] [ROUNDS]
#   (build/release, 1000, 5, one round per server: each gets each place once)
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build/release}
clients=${2:-1000}
secs=${3:-5}
rounds=${4:-}
servers=${SERVERS:-"green gevent-websocket node-ws"}
[ -n "${GREEN_BEFORE:-}" ] && servers="green-before $servers"
warmup=${WARMUP:-1}
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

declare -A p99
runs=$(mktemp)
trap 'cleanup; rm -f "$runs"' EXIT
user_sys() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
echo "uptime: $(uptime)"
set -- $servers
rounds=${rounds:-$#}
for r in $(seq "$rounds"); do
  k=$(((r - 1) % $#))
  pos=0
  for s in "${@:k+1}" "${@:1:k}"; do
    pos=$((pos + 1))
    port=$(free_port)
    start "$s" "$port"
    [ "$warmup" = 0 ] || taskset -c 1 "$client" "$port" "$clients" "$warmup" >/dev/null
    read -r u0 s0 < <(user_sys "$pid")
    out=$(taskset -c 1 "$client" "$port" "$clients" "$secs")
    read -r u1 s1 < <(user_sys "$pid")
    echoes=$(echo "$out" | awk '{print $10}')
    cpu=$(awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v e="$echoes" -v hz="$(getconf CLK_TCK)" '
      BEGIN { if (e > 0) printf "%.2f %.2f", u / hz * 1e6 / e, s / hz * 1e6 / e; else print "- -" }')
    echo "round $r, place $pos, $s: $out; server CPU us per echo, user and kernel: $cpu"
    echo "$r $clients $pos $s $(echo "$out" | awk '{print $2}') $cpu" >>"$runs"
    p99[$s]+="$(echo "$out" | awk '{print $6}') "
    kill "$pid"; wait "$pid" 2>/dev/null; pid=
  done
done
pair=
[ -n "${GREEN_BEFORE:-}" ] && pair="--pair green green-before"
bound=
[[ " $servers " = *" gevent-websocket "* ]] && bound="--bound gevent-websocket:20"
python3 "$here/rounds.py" --title "WebSocket echo, 32 B messages, clients: " --ref green --rate messages/s --cpu us/echo $pair $bound <"$runs"
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "p99 round trip, ms (median of the rounds): $(for s in $servers; do printf '%s %s, ' "$s" "$(median <<<"${p99[$s]}")"; done | sed 's/, $//')"
echo "uptime: $(uptime)"
