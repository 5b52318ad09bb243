#!/usr/bin/env bash
# Chat server memory and throughput, two `green` binaries side by side with
# the seeds' gevent chat server, interleaved (gevent, A, B per round) so a busy
# machine hits all three alike. Each run: the server on CPU 0, `bench_loadgen
# chat` on CPU 1 with CLIENTS users each sending LINES lines as fast as the
# server takes them. Prints per run: round, server, peak RSS (VmHWM, KiB),
# deliveries/s, lost, server CPU ns per delivery; then medians and the medians
# of the per-round ratios.
#
# Usage: bench/servers/chat_ab.sh GREEN_A GREEN_B [BUILD_DIR] [ROUNDS]
#   CLIENTS (default 500) and LINES (default 20) from the environment.
set -u
here=$(cd "$(dirname "$0")" && pwd)
a=${1:?usage: chat_ab.sh GREEN_A GREEN_B [BUILD_DIR] [ROUNDS]}
b=${2:?usage: chat_ab.sh GREEN_A GREEN_B [BUILD_DIR] [ROUNDS]}
build=${3:-$here/../../build/release}
rounds=${4:-3}
clients=${CLIENTS:-500}
lines=${LINES:-20}
loadgen=$build/bench/servers/bench_loadgen
for f in "$a" "$b" "$loadgen"; do [ -x "$f" ] || { echo "missing $f" >&2; exit 2; }; done
ulimit -n "$(ulimit -Hn)"
hz=$(getconf CLK_TCK)
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
out_file=$(mktemp)
pid=
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
trap 'stop; rm -f "$out_file"' EXIT
for r in $(seq "$rounds"); do
  for srv in gevent A B; do
    log=$(mktemp)
    case $srv in
      gevent) taskset -c 0 /usr/bin/python3 "$here/gevent_chat.py" 0 2>"$log" & ;;
      A) taskset -c 0 "$a" serve chat --port 0 2>"$log" & ;;
      B) taskset -c 0 "$b" serve chat --port 0 2>"$log" & ;;
    esac
    pid=$!
    for _ in $(seq 100); do grep -q "^listening on" "$log" && break; sleep 0.05; done
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log" | head -1)
    rm -f "$log"
    c0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    out=$(taskset -c 1 "$loadgen" chat 127.0.0.1 "$port" "$clients" "$lines" seed 2>&1)
    c1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
    stop
    d=$(field deliveries_per_s "$out")
    n=$(field deliveries "$out")
    cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="$n" 'BEGIN { if (n > 0) printf "%.0f", (b - a) / hz * 1e9 / n; else print "-" }')
    echo "$r $srv $hwm ${d:-failed} $(field lost "$out") $cpu" | tee -a "$out_file"
  done
done
echo
echo "| server | peak RSS MiB (median) | deliveries/s (median) | server CPU ns per delivery (median) | peak RSS vs gevent | deliveries/s vs gevent | vs A (RSS, deliveries/s) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for s in gevent A B; do
  awk -v s="$s" '
    function median(arr, n,   i, j, x) {
      for (i = 2; i <= n; i++) { x = arr[i]; for (j = i - 1; j >= 1 && arr[j] > x; j--) arr[j + 1] = arr[j]; arr[j + 1] = x }
      return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
    }
    { m[$1, $2] = $3; d[$1, $2] = $4; c[$1, $2] = $6; if ($1 > n) n = $1 }
    END {
      for (r = 1; r <= n; r++) {
        mm[r] = m[r, s] / 1024; dd[r] = d[r, s]; cc[r] = c[r, s]
        rg[r] = m[r, s] / m[r, "gevent"]; dg[r] = d[r, s] / d[r, "gevent"]
        ra[r] = m[r, s] / m[r, "A"]; da[r] = d[r, s] / d[r, "A"]
      }
      printf "| %s | %.1f | %.0f | %.0f | %.2fx | %.1fx | %.2fx, %.2fx |\n", s, median(mm, n), median(dd, n), median(cc, n),
             median(rg, n), median(dg, n), median(ra, n), median(da, n)
    }' "$out_file"
done
echo
echo "$clients users x $lines lines; ratios are medians of the per-round ratios."
