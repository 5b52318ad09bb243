#!/usr/bin/env bash
# resolve A/B against dnsperf, measured in what load moves least: 100,000
# names (95% existing, 5% NXDOMAIN) against our own Knot (tests/dns/knot.sh,
# loopback, a free port), dnsperf -q CONC and each green given with -c CONC,
# the order rotated every round. Per run: wall, user+sys CPU (/usr/bin/time),
# involuntary / voluntary context switches, and, summed over the client's
# threads from /proc/PID/task/*/schedstat (sampled every few ms), the time on
# a CPU and the time runnable but waiting for one; and Knot's CPU meanwhile.
# Then the medians per client and the median of the per-round ratios of
# queries/s to dnsperf's.
#
# Usage: bench/dns_ab.sh ROUNDS CONC NAME=PATH/TO/green...
#   CONC '-': green with its defaults (dnsperf keeps -q 100).
#   PIN=1: Knot's threads on CPU 0, the clients on CPU 1.
# Example: bench/dns_ab.sh 8 100 before=/tmp/green-d2b4873 after=build/release/tools/green
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 3 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
rounds=$1 conc=$2
shift 2
knot="$here/../tests/dns/knot.sh"
work=$(mktemp -d /tmp/green-dns-ab-XXXXXX)
trap '"$knot" stop "$work/knot"; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
port=$("$knot" start "$work/knot" 100000 all) || exit 1
kpid=$(cat "$work/knot/knotd.pid")
awk 'BEGIN { for (i = 0; i < 100000; i++) if (i % 20 == 19) print "x" i ".nx.bulk.test"; else print "h" i ".bulk.test" }' >"$work/names"
awk '{ print $1, "A" }' "$work/names" >"$work/names.dnsperf"
pin=()
if [ "${PIN:-0}" = 1 ]; then
  taskset -a -p -c 0 "$kpid" >/dev/null
  pin=(taskset -c 1)
fi
echo "Commit $(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown) (this checkout);" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start, $(date -u +%H:%M:%S) UTC${PIN:+; PIN=$PIN}"

names=(dnsperf)
cmds=("dnsperf -s 127.0.0.1 -p $port -d $work/names.dnsperf -n 1 -q ${conc/#-/100}")
copt=(-c "$conc")
[ "$conc" = - ] && copt=()
for arg in "$@"; do
  names+=("${arg%%=*}")
  cmds+=("${arg#*=} resolve --no-progress --server 127.0.0.1:$port ${copt[*]} $work/names")
done

knot_cpu() { awk '{ print $14 + $15 }' "/proc/$kpid/stat"; }

# one NAME CMD: runs CMD, prints one line of figures.
one() {
  local name=$1 cmd=$2 k0 tpid pid="" f t v e u s c w
  declare -A last=()
  k0=$(knot_cpu)
  # shellcheck disable=SC2086  # CMD: word-split on purpose
  /usr/bin/time -f '%e %U %S %c %w' -o "$work/time" "${pin[@]}" $cmd >/dev/null 2>"$work/err" &
  tpid=$!
  while kill -0 "$tpid" 2>/dev/null; do
    [ -n "$pid" ] || pid=$(pgrep -P "$tpid" | head -n 1)
    if [ -n "$pid" ]; then
      for f in /proc/"$pid"/task/*/schedstat; do
        t=${f%/schedstat}
        v=$(cat "$f" 2>/dev/null) && last[${t##*/}]=$v
      done
    fi
    sleep 0.003
  done
  wait "$tpid"
  read -r e u s c w < <(tail -n 1 "$work/time")
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$name" "$e" \
    "$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')" "$c" "$w" \
    "$(printf '%s\n' "${last[@]}" | awk '{ r += $1; q += $2 } END { printf "%.3f | %.3f", r / 1e9, q / 1e9 }')" \
    "$(awk -v a="$(knot_cpu)" -v b="$k0" 'BEGIN { printf "%.2f", (a - b) / 100 }')"
}

echo
echo "| round | client | wall s | CPU s | invol. switches | vol. switches | on CPU s | waiting for a CPU s | Knot CPU s |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
n=${#names[@]}
for round in $(seq "$rounds"); do
  for k in $(seq 0 $((n - 1))); do
    i=$(((k + round - 1) % n))
    one "${names[$i]}" "${cmds[$i]}"
  done
done | tee "$work/rows"

echo
echo "| client | wall s | CPU s | invol. switches | vol. switches | on CPU s | waiting for a CPU s | Knot CPU s | queries/s vs dnsperf |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F' *\\| *' '
  function med(list,   a, m, i, j, t) {
    m = split(list, a, " ")
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  { r = $2; c = $3; if (!(c in seen)) { seen[c] = 1; order[++nc] = c }
    for (f = 4; f <= 10; f++) col[c, f] = col[c, f] " " $f
    wall[r, c] = $4; rounds[r] = 1 }
  END {
    for (x = 1; x <= nc; x++) {
      c = order[x]; ratios = ""
      for (r in rounds) if (wall[r, c] > 0) ratios = ratios " " wall[r, "dnsperf"] / wall[r, c]
      printf "| %s | %.2f | %.2f | %d | %d | %.3f | %.3f | %.2f | %.2fx |\n", c, med(col[c, 4]), med(col[c, 5]),
        med(col[c, 6]), med(col[c, 7]), med(col[c, 8]), med(col[c, 9]), med(col[c, 10]), med(ratios)
    }
  }' "$work/rows"
echo
echo "Medians of $rounds rounds; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end, $(date -u +%H:%M:%S) UTC"
