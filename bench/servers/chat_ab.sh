#!/usr/bin/env bash
# Chat server memory and throughput, two `green` binaries side by side with
# the seeds' gevent chat server and `ncat --chat`, interleaved so a busy
# machine hits them alike; the order of the servers rotates by one each round
# (the first server of a round ran faster in serve_http_bench.sh, even between
# identical builds). Each run: the server on CPU 0, `bench_loadgen chat` on
# CPU 1 with CLIENTS users each sending LINES lines as fast as the server
# takes them. Prints the commit and the load average at the start and the
# end, one line per run: round, server, peak RSS (VmHWM, KiB), deliveries/s,
# lost, server CPU ns per delivery; then medians and the medians of the
# per-round ratios to gevent, ncat and A (those that ran).
#
# Usage: bench/servers/chat_ab.sh GREEN_A GREEN_B [BUILD_DIR] [ROUNDS]
#   CLIENTS (default 500) and LINES (default 20) from the environment;
#   SERVERS (default "gevent A B"; also "ncat") picks and orders the servers.
#   ncat --chat sends a line to the other users only, the seed protocol to
#   every user, so ncat's runs make CLIENTS-1 deliveries per line, not CLIENTS.
set -u
here=$(cd "$(dirname "$0")" && pwd)
a=${1:?usage: chat_ab.sh GREEN_A GREEN_B [BUILD_DIR] [ROUNDS]}
b=${2:?usage: chat_ab.sh GREEN_A GREEN_B [BUILD_DIR] [ROUNDS]}
build=${3:-$here/../../build/release}
rounds=${4:-3}
clients=${CLIENTS:-500}
lines=${LINES:-20}
read -r -a servers <<<"${SERVERS:-gevent A B}"
loadgen=$build/bench/servers/bench_loadgen
for f in "$a" "$b" "$loadgen"; do [ -x "$f" ] || { echo "missing $f" >&2; exit 2; }; done
ulimit -n "$(ulimit -Hn)"
hz=$(getconf CLK_TCK)
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
out_file=$(mktemp)
log=$(mktemp)
pid=
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
trap 'stop; rm -f "$out_file" "$log"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "Commit $(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown) (this checkout); A = $a, B = $b;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
n=${#servers[@]}
for r in $(seq "$rounds"); do
  k=$(((r - 1) % n))
  for srv in "${servers[@]:k}" "${servers[@]:0:k}"; do
    proto=seed
    case $srv in
      gevent) taskset -c 0 /usr/bin/python3 "$here/gevent_chat.py" 0 2>"$log" & ;;
      A) taskset -c 0 "$a" serve chat --port 0 2>"$log" & ;;
      B) taskset -c 0 "$b" serve chat --port 0 2>"$log" & ;;
      ncat)
        proto=ncat
        port=$(free_port)
        taskset -c 0 ncat -l --chat --max-conns $((clients + 100)) 127.0.0.1 "$port" 2>"$log" &
        ;;
      *) echo "unknown server $srv" >&2; exit 2 ;;
    esac
    pid=$!
    if [ "$proto" = ncat ]; then
      for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port)).close()" 2>/dev/null && break; sleep 0.05; done
    else
      for _ in $(seq 100); do grep -q "^listening on" "$log" && break; sleep 0.05; done
      port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log" | head -1)
    fi
    c0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    out=$(taskset -c 1 "$loadgen" chat 127.0.0.1 "$port" "$clients" "$lines" $proto 2>&1)
    c1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
    stop
    d=$(field deliveries_per_s "$out")
    got=$(field deliveries "$out")
    cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="$got" 'BEGIN { if (n > 0) printf "%.0f", (b - a) / hz * 1e9 / n; else print "-" }')
    echo "$r $srv $hwm ${d:-failed} $(field lost "$out") $cpu" | tee -a "$out_file"
  done
done
echo
refs=
for s in gevent ncat A; do [[ " ${servers[*]} " == *" $s "* ]] && refs+="$s "; done
head="| server | peak RSS MiB (median) | deliveries/s (median) | server CPU ns per delivery (median) |"
rule="|---|---:|---:|---:|"
for s in $refs; do head+=" vs $s: RSS, deliveries/s |"; rule+="---:|"; done
echo "$head"
echo "$rule"
for s in "${servers[@]}"; do
  awk -v s="$s" -v refs="$refs" '
    function median(arr, n,   i, j, x) {
      for (i = 2; i <= n; i++) { x = arr[i]; for (j = i - 1; j >= 1 && arr[j] > x; j--) arr[j + 1] = arr[j]; arr[j + 1] = x }
      return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
    }
    { m[$1, $2] = $3; d[$1, $2] = $4; c[$1, $2] = $6; if ($1 > n) n = $1 }
    END {
      for (r = 1; r <= n; r++) { mm[r] = m[r, s] / 1024; dd[r] = d[r, s]; cc[r] = c[r, s] }
      line = sprintf("| %s | %.1f | %.0f | %.0f |", s, median(mm, n), median(dd, n), median(cc, n))
      k = split(refs, ref, " ")
      for (i = 1; i <= k; i++) {
        for (r = 1; r <= n; r++) { rm[r] = m[r, s] / m[r, ref[i]]; rd[r] = d[r, s] / d[r, ref[i]] }
        line = line sprintf(" %.2fx, %.2fx |", median(rm, n), median(rd, n))
      }
      print line
    }' "$out_file"
done
echo
echo "$clients users x $lines lines; $rounds rounds, the order rotated each round; ratios are medians of the" \
  "per-round ratios; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
