#!/usr/bin/env bash
# A dead DNS server: 1,000 names against a server that drops every query
# (tests/dns/fake_dns.py on a loopback port), `green resolve` with its default
# options (--timeout 2s, --retries 1: two tries of 2 s each). Every name must
# time out, and together: the bar is a wall time within 1.5x of
# timeout x tries (4 s). Prints one Markdown row per run.
#
# Usage: bench/dns_dead_bench.sh [PATH/TO/green] [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
green=${1:-$here/../build/release/tools/green}
runs=${2:-3}
work=$(mktemp -d /tmp/green-dns-dead-XXXXXX)
/usr/bin/python3 "$here/../tests/dns/fake_dns.py" "$work/port" "$work/log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 200); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
awk 'BEGIN { for (i = 0; i < 1000; i++) print "drop" i ".dead.test" }' >"$work/names"

echo "| run | wall s | timeout x tries s | ratio | TIMEOUT | queries the server saw |"
echo "|---:|---:|---:|---:|---:|---:|"
for run in $(seq 1 "$runs"); do
  : >"$work/log"
  start=$(date +%s.%N)
  "$green" resolve --no-progress --server "127.0.0.1:$port" "$work/names" >/dev/null 2>"$work/err" || true
  end=$(date +%s.%N)
  timeouts=$(grep -o 'TIMEOUT [0-9]*' "$work/err" | tail -n 1 | cut -d' ' -f2)
  awk -v r="$run" -v s="$start" -v e="$end" -v t="$timeouts" -v q="$(wc -l <"$work/log")" \
    'BEGIN { printf "| %d | %.2f | 4 | %.2fx | %s | %d |\n", r, e - s, (e - s) / 4, t, q }'
done
