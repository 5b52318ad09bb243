#!/usr/bin/env bash
# A/B of two `green` binaries' echo servers, side by side with the Asio
# reference server, interleaved so a busy machine hits all three alike:
# every round runs request/response (64 B, 100 and 1,000 connections, depth
# DEPTH) and streaming (100 connections) against asio-echo, green A, green B,
# the order rotated by one from round to round (the place in a round must not
# decide a ratio). Each run starts its server, gives it WARMUP seconds
# (default 1) of the same load unmeasured, measures, and stops it. Servers on
# CPU 0, the load client on CPU 1. Prints one line per run (round, workload,
# place, server, rate, p99 ms, server CPU ns per round trip or per MB: user
# and kernel) and then the medians and the medians of the per-round ratios
# (bench/rounds.py). Give the same binary twice for an A/A run: its "order
# check" lines must say ~1.00.
#
# Usage: bench/servers/echo_ab.sh GREEN_A GREEN_B [BUILD_DIR] [ROUNDS] [SECONDS]   (6 rounds of 2 s)
#   BUILD_DIR (default build/release) provides bench_loadgen and bench_asio_echo.
set -u
here=$(cd "$(dirname "$0")" && pwd)
a=${1:?usage: echo_ab.sh GREEN_A GREEN_B [BUILD_DIR] [ROUNDS] [SECONDS]}
b=${2:?usage: echo_ab.sh GREEN_A GREEN_B [BUILD_DIR] [ROUNDS] [SECONDS]}
build=${3:-$here/../../build/release}
rounds=${4:-6}
secs=${5:-2}
depth=${DEPTH:-4}
warmup=${WARMUP:-1}
loadgen=$build/bench/servers/bench_loadgen
asio=$build/bench/servers/bench_asio_echo
for f in "$a" "$b" "$loadgen" "$asio"; do [ -x "$f" ] || { echo "missing $f" >&2; exit 2; }; done
ulimit -n "$(ulimit -Hn)"
hz=$(getconf CLK_TCK)
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
user_sys() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
out_file=$(mktemp)
pid=
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
trap 'stop; rm -f "$out_file"' EXIT
load() {  # workload port seconds
  case $1 in
    rr100 | rr1000) taskset -c 1 "$loadgen" rr 127.0.0.1 "$2" "${1#rr}" "$depth" "$3" 2>&1 ;;
    stream) taskset -c 1 "$loadgen" stream 127.0.0.1 "$2" 100 "$3" 2>&1 ;;
  esac
}
for r in $(seq "$rounds"); do
  case $(((r - 1) % 3)) in 0) order="asio A B" ;; 1) order="A B asio" ;; 2) order="B asio A" ;; esac
  for t in rr100 rr1000 stream; do
    pos=0
    for srv in $order; do
      pos=$((pos + 1))
      log=$(mktemp)
      case $srv in
        asio) taskset -c 0 "$asio" 0 2>"$log" & ;;
        A) taskset -c 0 "$a" serve echo --port 0 2>"$log" & ;;
        B) taskset -c 0 "$b" serve echo --port 0 2>"$log" & ;;
      esac
      pid=$!
      for _ in $(seq 100); do grep -q "^listening on" "$log" && break; sleep 0.05; done
      port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log" | head -1)
      rm -f "$log"
      [ "$warmup" = 0 ] || load "$t" "$port" "$warmup" >/dev/null
      read -r u0 s0 < <(user_sys "$pid")
      out=$(load "$t" "$port" "$secs")
      read -r u1 s1 < <(user_sys "$pid")
      stop
      case $t in
        rr*) v=$(field rt_per_s "$out"); p=$(field p99_ms "$out") ;;
        stream) v=$(field mb_per_s "$out"); p=- ;;
      esac
      cpu=$(awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$hz" -v v="$v" -v t="$secs" '
        BEGIN { if (v > 0) printf "%.0f %.0f", u / hz * 1e9 / (v * t), s / hz * 1e9 / (v * t); else print "- -" }')
      echo "$r $t $pos $srv ${v:-0} $cpu" >>"$out_file"
      echo "$r $t $pos $srv ${v:-failed} $p $cpu"
    done
  done
done
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). rr: round trips/s (64 B, depth $depth), CPU ns per"
echo "round trip; stream: MB/s echoed, CPU ns per MB. Server / B CPU > 1: B spends less."
grep ' rr' "$out_file" | python3 "$here/../rounds.py" --title "serve echo, 64 B request/response: " --ref B --pair A B --rate "round trips/s" --cpu ns/round-trip
grep ' stream ' "$out_file" | python3 "$here/../rounds.py" --title "serve echo, 100 connections: " --ref B --pair A B --rate MB/s --cpu ns/MB
