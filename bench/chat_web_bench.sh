#!/usr/bin/env bash
# The web chat with K users in one room (issue 15), side by side in one run:
#   WebSocket:    green serve chat --http   vs a gevent-websocket chat (servers/gevent_ws_chat.py)
#   long polling: green serve chat --http   vs the third seed's Flask + gevent pywsgi chat (servers/flask_chat.py)
# K = 100 and 500 users join one room, then senders send their lines as fast
# as the server takes them (closed loop, as servers.sh's chat); every line
# reaches every user, the sender too. The load client is bench_loadgen
# (plain epoll, no libgreen), pinned to CPU 1, each server to CPU 0.
# Each server gets a budget of deliveries (DELIVERIES_<server>) so that every
# run takes a few seconds: lines per sender = budget / K^2 with all K
# sending, or one line each from budget / K senders when that is below 1.
# Rounds interleave the servers; the table has medians over rounds.
# Server CPU per delivery (utime + stime from /proc over the whole run, join
# phase included) is the steadier figure on a loaded machine; peak RSS is
# VmHWM. client_cpu near 1 would mean the load client set the pace.
#
# Usage: bench/chat_web_bench.sh [BUILD_DIR] [ROUNDS]   (build/release, 3)
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build/release}
rounds=${2:-3}
ks=${KS:-"100 500"}
servers=${SERVERS:-"green-ws gevent-websocket green-poll flask-seed"}
green=$build/tools/green
loadgen=$build/bench/servers/bench_loadgen
py=/usr/bin/python3
declare -A budget=([green-ws]=${DELIVERIES_green_ws:-3000000} [gevent-websocket]=${DELIVERIES_gevent_websocket:-60000}
                   [green-poll]=${DELIVERIES_green_poll:-2000000} [flask-seed]=${DELIVERIES_flask_seed:-3000})
for f in "$green" "$loadgen"; do [ -x "$f" ] || { echo "missing $f (build the release preset)" >&2; exit 2; }; done
$py -c 'import flask, gevent, geventwebsocket' || { echo "needs python3-flask, python3-gevent, python3-gevent-websocket" >&2; exit 2; }
ulimit -n "$(ulimit -Hn)"

pid=
log=$(mktemp)
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -f "$log"; }
trap cleanup EXIT

start() {  # name: starts it on CPU 0, sets $pid and $port
  : >"$log"
  case $1 in
    green-*) taskset -c 0 "$green" serve chat --port 0 --http 0 2>"$log" & ;;
    gevent-websocket) taskset -c 0 $py "$here/servers/gevent_ws_chat.py" 0 2>"$log" & ;;
    flask-seed) taskset -c 0 $py "$here/servers/flask_chat.py" 0 2>"$log" & ;;
  esac
  pid=$!
  port=
  for _ in $(seq 200); do
    port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)/$|\1|p; s|^listening on 127.0.0.1:\([0-9]*\)$|\1|p' "$log" | tail -1)
    case $1 in green-*) grep -q '^listening on http://' "$log" || port= ;; esac
    [ -n "$port" ] && return
    sleep 0.05
  done
  echo "$1 did not start: $(cat "$log")" >&2
  exit 1
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A rate p99 cpu rss lost reord ccpu shape

echo "# chat_web_bench: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$here" rev-parse --short HEAD), $(nproc) cores, $rounds rounds"
echo "uptime: $(uptime)"
for r in $(seq "$rounds"); do
  for k in $ks; do
    for s in $servers; do
      b=${budget[$s]}
      lines=$((b / (k * k)))
      senders=$k
      if [ "$lines" -lt 1 ]; then lines=1; senders=$((b / k)); [ "$senders" -lt 1 ] && senders=1; fi
      start "$s"
      case $s in
        *-ws | gevent-websocket) out=$(taskset -c 1 "$loadgen" wschat 127.0.0.1 "$port" "$k" "$senders" "$lines" 2>&1) ;;
        green-poll) out=$(taskset -c 1 "$loadgen" pollchat 127.0.0.1 "$port" "$k" "$senders" "$lines" green 2>&1) ;;
        flask-seed) out=$(taskset -c 1 "$loadgen" pollchat 127.0.0.1 "$port" "$k" "$senders" "$lines" seed 2>&1) ;;
      esac
      ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
      hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
      kill "$pid"; wait "$pid" 2>/dev/null; pid=
      d=$(field deliveries "$out")
      us=$(awk -v t="$ticks" -v d="${d:-0}" -v hz="$(getconf CLK_TCK)" 'BEGIN {if (d > 0) printf "%.2f", t / hz * 1e6 / d; else print "-"}')
      echo "round $r K=$k $s: $out server_cpu_s=$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}') server_us_per_delivery=$us peak_rss_kib=$hwm"
      key="$k $s"
      shape[$key]="$senders x $lines"
      rate[$key]+="$(field deliveries_per_s "$out") "
      p99[$key]+="$(field p99_ms "$out") "
      cpu[$key]+="$us "
      rss[$key]+="$hwm "
      ccpu[$key]+="$(field client_cpu "$out") "
      lost[$key]=$(( ${lost[$key]:-0} + $(field lost "$out" | grep . || echo 999999999) ))
      reord[$key]=$(( ${reord[$key]:-0} + $(field reordered "$out" | grep . || echo 0) ))
    done
  done
done
echo "uptime: $(uptime)"
echo
echo "| K | server | senders x lines | deliveries/s | p99 ms | server CPU us/delivery | peak RSS KiB | lost | reordered | client CPU | green-ws vs it (deliveries/s, CPU/delivery) | green-poll vs it |"
echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"
for k in $ks; do
  gw=$(echo "${rate[$k green-ws]:-}" | median); gwc=$(echo "${cpu[$k green-ws]:-}" | median)
  gp=$(echo "${rate[$k green-poll]:-}" | median); gpc=$(echo "${cpu[$k green-poll]:-}" | median)
  for s in $servers; do
    key="$k $s"
    m=$(echo "${rate[$key]}" | median); c=$(echo "${cpu[$key]}" | median)
    vs() { awk -v g="$1" -v m="$m" -v gc="$2" -v c="$c" 'BEGIN {if (g > 0 && m > 0 && gc > 0 && c > 0) printf "%.1fx, %.1fx", g / m, c / gc; else print "-"}'; }
    echo "| $k | $s | ${shape[$key]} | $m | $(echo "${p99[$key]}" | median) | $c | $(echo "${rss[$key]}" | median) | ${lost[$key]} | ${reord[$key]} | $(echo "${ccpu[$key]}" | median) | $(vs "$gw" "$gwc") | $(vs "$gp" "$gpc") |"
  done
done
