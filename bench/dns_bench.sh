#!/usr/bin/env bash
# DNS benchmark, one run, side by side: 100,000 names (95% existing, 5%
# NXDOMAIN) against one local Knot DNS (tests/dns/knot.sh) on 127.0.0.153:53
# (adns cannot use another port), resolved by
#   - green resolve,
#   - adnshost (adns-tools) in its concurrent mode (-a -f),
#   - Python gevent with the ares resolver through a Pool (the seeds' pattern),
#   - dnsperf, the server's own ceiling.
# Then green's peak memory at 10,000, 100,000 and 1,000,000 names.
# Prints a Markdown table (queries/s, CPU seconds, peak RSS, answers lost).
#
# Usage: bench/dns_bench.sh [PATH/TO/green] [CONCURRENCY]   (needs root for port 53)
#   Without CONCURRENCY green runs with its default options (-c 500, the
#   adaptive window finds what Knot's socket holds); dnsperf keeps -q 100.
#   GREEN_ARGS='--sockets 2': more options for green's main run.
#   DNS_BENCH_QUICK=1: only dnsperf and green (no adnshost, gevent or memory
#   table), for repeating a comparison back to back.
#   ROUNDS=N (default 1): dnsperf and green N times each, in turns, the one
#   that goes first alternating from round to round; the table gives every
#   round and the median of the per-round ratios green/dnsperf.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
green=${1:-$here/../build/release/tools/green}
conc=${2:-}
knot="$here/../tests/dns/knot.sh"
addr=127.0.0.153
n=100000
rounds=${ROUNDS:-1}
work=$(mktemp -d /tmp/green-dns-bench-XXXXXX)
trap '"$knot" stop "$work/knot"; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "Commit $(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown) (this checkout), $green;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo

"$knot" start "$work/knot" $n all "$addr@53" >/dev/null
awk -v n=$n 'BEGIN { for (i = 0; i < n; i++) if (i % 20 == 19) print "x" i ".nx.bulk.test"; else print "h" i ".bulk.test" }' >"$work/names"
want_ok=$((n - n / 20))
want_nx=$((n / 20))

# Queries the server's UDP sockets dropped so far (receive buffer full).
server_drops() { ss -uamn | awk -v a="$addr:53" '$4 == a { getline; if (match($0, /,d[0-9]+\)/)) s += substr($0, RSTART + 2, RLENGTH - 3) } END { print s + 0 }'; }

# measure NAME CMD...: runs CMD under /usr/bin/time; sets secs, cpu, rss_mib
# and drops (queries the server dropped meanwhile).
measure() {
  local name=$1; shift
  local before
  before=$(server_drops)
  /usr/bin/time -f '%e %U %S %M' -o "$work/$name.time" "$@"
  drops=$(($(server_drops) - before))
  read -r secs user sys rss < <(tail -n 1 "$work/$name.time")
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  rss_mib=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
}
row() {  # tool, queries/s, cpu, rss, lost, note
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$5" "$drops" "$6"
}

echo "| round | tool | queries/s | CPU s | peak RSS MiB | answers lost | server drops | notes |"
echo "|---|---|---:|---:|---:|---:|---:|---|"
row() {  # tool, queries/s, cpu, rss, lost, note
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$1" "$2" "$3" "$4" "$5" "$drops" "$6"
}

# dnsperf: the server's ceiling (its default of 100 queries outstanding).
awk '{ print $1, "A" }' "$work/names" >"$work/names.dnsperf"
run_dnsperf() {
  measure dnsperf dnsperf -s $addr -p 53 -d "$work/names.dnsperf" -n 1 -q 100 >"$work/dnsperf.out" 2>&1
  dnsperf_qps=$(awk '/Queries per second/ { printf "%.0f", $4 }' "$work/dnsperf.out")
  dnsperf_lost=$(awk '/Queries lost/ { print $3 }' "$work/dnsperf.out")
  row dnsperf "$dnsperf_qps" "$cpu" "$rss_mib" "$dnsperf_lost" "-q 100"
}

# green resolve.
run_green() {
  # shellcheck disable=SC2086  # GREEN_ARGS: extra options, word-split on purpose
  measure green "$green" resolve --no-progress --server $addr ${conc:+-c "$conc"} ${GREEN_ARGS:-} "$work/names" >"$work/green.out" 2>"$work/green.err" || true
  green_ok=$(cut -f1 "$work/green.out" | sort -u | wc -l)
  green_nx=$(grep -c ': NXDOMAIN$' "$work/green.err" || true)
  green_qps=$(awk -v n=$n -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
  green_lost=$((want_ok - green_ok + want_nx - green_nx))
  label=${conc:+-c $conc}
  row "green resolve" "$green_qps" "$cpu" "$rss_mib" "$green_lost" "${label:-defaults}${GREEN_ARGS:+ $GREEN_ARGS}; $(tail -n 1 "$work/green.err" | sed 's/.*; //')"
}

ratios=
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then run_dnsperf; run_green; else run_green; run_dnsperf; fi
  ratios+="$(awk -v a="$green_qps" -v b="$dnsperf_qps" 'BEGIN { printf "%.3f", a / b }') "
done
ratio=$(tr ' ' '\n' <<<"$ratios" | grep . | sort -g | awk '{ v[NR] = $1 } END { printf "%.2fx", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
round=

if [ "${DNS_BENCH_QUICK:-0}" = 1 ]; then
  echo
  echo "green/dnsperf: $ratio (median of $rounds per-round ratios: $ratios); load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  exit 0
fi

# adnshost: every name read is queried at once (no concurrency limit).
measure adns adnshost --config "nameserver $addr" -a -f <"$work/names" >"$work/adns.out" 2>&1 || true
adns_ok=$(awk '$3 == "ok" && $2 > 0' "$work/adns.out" | wc -l)
adns_nx=$(awk '$5 == "nxdomain"' "$work/adns.out" | wc -l)
adns_qps=$(awk -v n=$n -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
adns_lost=$((want_ok - adns_ok + want_nx - adns_nx))
row adnshost "$adns_qps" "$cpu" "$rss_mib" "$adns_lost" "-a -f"

# gevent: Pool(1000).imap_unordered(socket.gethostbyname) with the ares resolver.
cat >"$work/gevent_resolve.py" <<'PY'
import sys
from gevent import monkey; monkey.patch_all()
import gevent.pool, socket
def one(name):
    try:
        socket.gethostbyname(name)
        return 0
    except socket.gaierror as e:
        return 1 if e.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)) else 2
    except OSError:
        return 2
names = [l.strip() for l in open(sys.argv[1])]
counts = [0, 0, 0]
for r in gevent.pool.Pool(int(sys.argv[2])).imap_unordered(one, names):
    counts[r] += 1
print(*counts)
PY
measure gevent env GEVENT_RESOLVER=ares GEVENTARES_SERVERS=$addr /usr/bin/python3 "$work/gevent_resolve.py" "$work/names" 1000 >"$work/gevent.out"
read -r gevent_ok gevent_nx gevent_err <"$work/gevent.out"
gevent_qps=$(awk -v n=$n -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
row "gevent (ares, Pool 1000)" "$gevent_qps" "$cpu" "$rss_mib" "$((want_ok - gevent_ok + want_nx - gevent_nx))" "$gevent_err other errors"

echo
echo "green/dnsperf: $ratio (median of $rounds per-round ratios: $ratios)," \
  "green/gevent: $(awk -v a="$green_qps" -v b="$gevent_qps" 'BEGIN { printf "%.1fx", a / b }')," \
  "green/adnshost: $(awk -v a="$green_qps" -v b="$adns_qps" 'BEGIN { printf "%.1fx", a / b }')"

echo
echo "| names | green queries/s | peak RSS MiB | answers lost | server drops |"
echo "|---:|---:|---:|---:|---:|"
for count in 10000 100000 1000000; do
  # Names cycle through the zone's 100,000; fed through a pipe (streamed).
  awk -v c=$count -v n=$n 'BEGIN { for (i = 0; i < c; i++) { j = i % n; if (j % 20 == 19) print "x" j ".nx.bulk.test"; else print "h" j ".bulk.test" } }' >"$work/many"
  measure many "$green" resolve --no-progress --server $addr ${conc:+-c "$conc"} "$work/many" >"$work/many.out" 2>"$work/many.err" || true
  ok=$(wc -l <"$work/many.out")
  nx=$(grep -c ': NXDOMAIN$' "$work/many.err" || true)
  printf '| %d | %.0f | %s | %d | %d |\n' "$count" "$(awk -v c=$count -v s="$secs" 'BEGIN { print c / s }')" "$rss_mib" \
    $((count - ok - nx)) "$drops"
done
echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
