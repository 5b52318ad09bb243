#!/usr/bin/env bash
# A/B of two `green` binaries' echo servers, side by side with the Asio
# reference server, interleaved so a busy machine hits all three alike:
# every round runs request/response (64 B, 100 and 1,000 connections, depth
# DEPTH) and streaming (100 connections) against asio-echo, green A, green B
# back to back. Servers on CPU 0, the load client on CPU 1. Prints one line
# per run (round, workload, server, rate, p99 ms, server CPU ns per round
# trip or per MB) and then the medians of the per-round ratios.
#
# Usage: bench/servers/echo_ab.sh GREEN_A GREEN_B [BUILD_DIR] [ROUNDS] [SECONDS]
#   BUILD_DIR (default build/release) provides bench_loadgen and bench_asio_echo.
set -u
here=$(cd "$(dirname "$0")" && pwd)
a=${1:?usage: echo_ab.sh GREEN_A GREEN_B [BUILD_DIR] [ROUNDS] [SECONDS]}
b=${2:?usage: echo_ab.sh GREEN_A GREEN_B [BUILD_DIR] [ROUNDS] [SECONDS]}
build=${3:-$here/../../build/release}
rounds=${4:-8}
secs=${5:-2}
depth=${DEPTH:-4}
loadgen=$build/bench/servers/bench_loadgen
asio=$build/bench/servers/bench_asio_echo
for f in "$a" "$b" "$loadgen" "$asio"; do [ -x "$f" ] || { echo "missing $f" >&2; exit 2; }; done
ulimit -n "$(ulimit -Hn)"
hz=$(getconf CLK_TCK)
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
out_file=$(mktemp)
pid=
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
trap 'stop; rm -f "$out_file"' EXIT
for r in $(seq "$rounds"); do
  for t in rr100 rr1000 stream; do
    for srv in asio A B; do
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
      c0=$(cpu_ticks "$pid")
      case $t in
        rr100 | rr1000)
          out=$(taskset -c 1 "$loadgen" rr 127.0.0.1 "$port" "${t#rr}" "$depth" "$secs" 2>&1)
          v=$(field rt_per_s "$out"); p=$(field p99_ms "$out") ;;
        stream)
          out=$(taskset -c 1 "$loadgen" stream 127.0.0.1 "$port" 100 "$secs" 2>&1)
          v=$(field mb_per_s "$out"); p=- ;;
      esac
      c1=$(cpu_ticks "$pid")
      stop
      cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v v="$v" -v s="$secs" 'BEGIN { if (v > 0) printf "%.0f", (b - a) / hz * 1e9 / (v * s); else print "-" }')
      echo "$r $t $srv ${v:-failed} $p $cpu" | tee -a "$out_file"
    done
  done
done
echo
echo "| workload | B / A | A / Asio | B / Asio | median rate A, B, Asio | server CPU per op A -> B |"
echo "|---|---:|---:|---:|---|---|"
for t in rr100 rr1000 stream; do
  awk -v t="$t" '
    function median(arr, n,   i, j, x) {
      for (i = 2; i <= n; i++) { x = arr[i]; for (j = i - 1; j >= 1 && arr[j] > x; j--) arr[j + 1] = arr[j]; arr[j + 1] = x }
      return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
    }
    $2 == t { v[$1, $3] = $4; c[$1, $3] = $6; if ($1 > n) n = $1 }
    END {
      for (r = 1; r <= n; r++) {
        ba[r] = v[r, "B"] / v[r, "A"]; aa[r] = v[r, "A"] / v[r, "asio"]; bb[r] = v[r, "B"] / v[r, "asio"]
        ra[r] = v[r, "A"]; rb[r] = v[r, "B"]; rs[r] = v[r, "asio"]; ca[r] = c[r, "A"]; cb[r] = c[r, "B"]
      }
      printf "| %s | %.2fx | %.2fx | %.2fx | %.0f, %.0f, %.0f | %.0f -> %.0f ns |\n", t, median(ba, n), median(aa, n), median(bb, n),
             median(ra, n), median(rb, n), median(rs, n), median(ca, n), median(cb, n)
    }' "$out_file"
done
echo
echo "rr: round trips/s (64 B, depth $depth); stream: MB/s echoed; CPU per op: per round trip (rr) or per MB (stream)."
