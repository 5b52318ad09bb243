#!/usr/bin/env bash
# Server benchmarks (issue 6), all in one run, side by side:
#   echo request/response (64 B, DEPTH in flight per connection), 100 and 1,000 connections
#   echo streaming, idle connections (server RSS per connection), chat fan-out.
# Servers: green serve echo|chat, a plain single-threaded Boost.Asio callback
# echo server, the seeds' gevent servers (/usr/bin/python3), socat fork
# EXEC:cat and ncat --chat. The load client (bench_loadgen) is plain epoll.
# Servers are pinned to CPU 0 and the load client to CPU 1.
# One run per server in a fixed order: a survey, not a comparison to quote.
# Ratios for RESULTS.md come from the interleaved scripts (echo_ab.sh and
# chat_ab.sh: several rounds, medians of per-round ratios).
#
# Usage: bench/servers/servers.sh [BUILD_DIR] [SECONDS]   (default build/release, 5)
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/release}
secs=${2:-5}
green=$build/tools/green
loadgen=$build/bench/servers/bench_loadgen
asio=$build/bench/servers/bench_asio_echo
depth=${DEPTH:-4}
idle_conns=${IDLE_CONNS:-10000}
chat_clients=${CHAT_CLIENTS:-500}
chat_lines=${CHAT_LINES:-20}
for f in "$green" "$loadgen" "$asio"; do [ -x "$f" ] || { echo "missing $f (build the release preset)" >&2; exit 2; }; done
ulimit -n "$(ulimit -Hn)"

server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=
  fi
}
trap stop_server EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME: starts server NAME on CPU 0 and sets $port and $server_pid.
start() {
  local log
  log=$(mktemp)
  case $1 in
    green-echo) taskset -c 0 "$green" serve echo --port 0 2>"$log" & ;;
    green-chat) taskset -c 0 "$green" serve chat --port 0 2>"$log" & ;;
    asio-echo) taskset -c 0 "$asio" 0 2>"$log" & ;;
    gevent-echo) taskset -c 0 /usr/bin/python3 "$here/gevent_echo.py" 0 2>"$log" & ;;
    gevent-chat) taskset -c 0 /usr/bin/python3 "$here/gevent_chat.py" 0 2>"$log" & ;;
    socat-echo)
      port=$(free_port)
      taskset -c 0 socat TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr,fork,backlog=4096 EXEC:cat 2>"$log" &
      ;;
    ncat-chat)
      port=$(free_port)
      taskset -c 0 ncat -l --chat --max-conns 2000 127.0.0.1 "$port" 2>"$log" &
      ;;
  esac
  server_pid=$!
  case $1 in
    socat-echo | ncat-chat)
      for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port)).close()" 2>/dev/null && break; sleep 0.05; done
      ;;
    *)
      for _ in $(seq 100); do grep -q "^listening on" "$log" && break; sleep 0.05; done
      port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log" | head -1)
      ;;
  esac
  rm -f "$log"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
load() { taskset -c 1 "$loadgen" "$@"; }

echo "# Servers (issue 6): $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${secs}s per run, request depth $depth"
echo
echo "## echo, request/response, 64 B"
echo
echo "| server | conns | round trips/s | p50 ms | p99 ms | vs Asio |"
echo "|---|---:|---:|---:|---:|---:|"
for conns in 100 1000; do
  base=
  for srv in asio-echo green-echo gevent-echo socat-echo; do
    start $srv
    out=$(load rr 127.0.0.1 "$port" "$conns" "$depth" "$secs" 2>&1)
    stop_server
    rt=$(field rt_per_s "$out")
    [ $srv = asio-echo ] && base=$rt
    ratio=$(awk -v a="$rt" -v b="$base" 'BEGIN { if (a != "" && b > 0) printf "%.2fx", a / b; else print "-" }')
    echo "| $srv | $conns | ${rt:-failed: $out} | $(field p50_ms "$out") | $(field p99_ms "$out") | $ratio |"
  done
done

echo
echo "## echo, streaming (100 connections each sending 16 KiB writes, 256 KiB in flight)"
echo
echo "| server | MB/s echoed | vs Asio |"
echo "|---|---:|---:|"
base=
for srv in asio-echo green-echo gevent-echo socat-echo; do
  start $srv
  out=$(load stream 127.0.0.1 "$port" 100 "$secs" 2>&1)
  stop_server
  mb=$(field mb_per_s "$out")
  [ $srv = asio-echo ] && base=$mb
  ratio=$(awk -v a="$mb" -v b="$base" 'BEGIN { if (a != "" && b > 0) printf "%.2fx", a / b; else print "-" }')
  echo "| $srv | ${mb:-failed: $out} | $ratio |"
done

echo
echo "## echo, $idle_conns idle connections: server resident memory"
echo
echo "| server | RSS before | RSS with $idle_conns conns | per connection |"
echo "|---|---:|---:|---:|"
for srv in asio-echo green-echo gevent-echo; do
  start $srv
  sleep 0.3
  before=$(rss_kib "$server_pid")
  fifo=$(mktemp -u)
  mkfifo "$fifo"
  load idle 127.0.0.1 "$port" "$idle_conns" 30 >"$fifo" 2>&1 &
  lg=$!
  read -r line <"$fifo"
  sleep 0.5
  after=$(rss_kib "$server_pid")
  kill "$lg" 2>/dev/null
  wait "$lg" 2>/dev/null
  rm -f "$fifo"
  stop_server
  per=$(awk -v a="$after" -v b="$before" -v n="$idle_conns" 'BEGIN { printf "%.2f KiB", (a - b) / n }')
  echo "| $srv | $before KiB | $after KiB | $per |"
done

echo
echo "## chat, $chat_clients clients each sending $chat_lines lines as fast as the server takes them"
echo
echo "| server | deliveries | lost | reordered | deliveries/s | p50 ms | p99 ms | vs gevent |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
base=
for srv in gevent-chat green-chat ncat-chat; do
  start $srv
  proto=seed
  [ $srv = ncat-chat ] && proto=ncat
  out=$(load chat 127.0.0.1 "$port" "$chat_clients" "$chat_lines" $proto 2>&1)
  stop_server
  d=$(field deliveries_per_s "$out")
  [ $srv = gevent-chat ] && base=$d
  ratio=$(awk -v a="$d" -v b="$base" 'BEGIN { if (a != "" && b > 0) printf "%.2fx", a / b; else print "-" }')
  echo "| $srv | $(field deliveries "$out")/$(field expected "$out") | $(field lost "$out") | $(field reordered "$out") | ${d:-failed: $out} | $(field p50_ms "$out") | $(field p99_ms "$out") | $ratio |"
done
