#!/usr/bin/env bash
# TLS echo, 64-byte request/response round trips: green's TlsStreamServer vs
# a single-threaded Boost.Asio ssl::stream callback server (bench_tls), the
# same green TLS client driving both. Servers on CPU 0, the client on CPU 1;
# RUNS interleaved runs of each, medians and the green/Asio ratio of round
# trips per second (wall clock) and of the server's CPU time per round trip
# (utime+stime from /proc, the 50 handshakes included: steadier than the wall
# clock on a loaded machine).
#   bench/tls_bench.sh [BUILD_DIR] [RUNS] [CONNS] [ROUNDS]
set -euo pipefail
build=${1:-build/release}
runs=${2:-5}
conns=${3:-50}
rounds=${4:-2000}
bench=$build/bench/bench_tls
[ -x "$bench" ] || { echo "tls_bench: $bench is not built" >&2; exit 2; }
tmp=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$tmp/key.pem" \
  -out "$tmp/cert.pem" -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null

one() {  # one run against server kind $1; prints round trips per second and server CPU us per round trip
  taskset -c 0 "$bench" "$1-server" "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/port" &
  server_pid=$!
  for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  local port
  port=$(awk '{ print $2 }' "$tmp/port")
  local rt ticks
  rt=$(taskset -c 1 "$bench" client "$port" "$tmp/cert.pem" "$conns" "$rounds" | sed 's/.*rt_per_s=//')
  ticks=$(awk '{ print $14 + $15 }' "/proc/$server_pid/stat")
  awk -v rt="$rt" -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n=$((conns * rounds)) \
    'BEGIN { printf "%s %.2f\n", rt, t / hz * 1e6 / n }'
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  : >"$tmp/port"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
col() { awk -v c="$1" '{ print $c }' "$2"; }
: >"$tmp/asio"
: >"$tmp/green"
for i in $(seq "$runs"); do
  one asio >>"$tmp/asio"
  one green >>"$tmp/green"
done
a=$(col 1 "$tmp/asio" | median)
g=$(col 1 "$tmp/green" | median)
ac=$(col 2 "$tmp/asio" | median)
gc=$(col 2 "$tmp/green" | median)
echo "asio  round trips/s: $(col 1 "$tmp/asio" | tr '\n' ' ')median $a; server CPU us/round trip: $(col 2 "$tmp/asio" | tr '\n' ' ')median $ac"
echo "green round trips/s: $(col 1 "$tmp/green" | tr '\n' ' ')median $g; server CPU us/round trip: $(col 2 "$tmp/green" | tr '\n' ' ')median $gc"
awk -v g="$g" -v a="$a" -v gc="$gc" -v ac="$ac" \
  'BEGIN { printf "green/asio: %.2fx round trips/s, %.2fx server CPU per round trip (%d conns x %d rounds, %d interleaved runs)\n", g / a, gc / ac, '"$conns"', '"$rounds"', '"$runs"' }'
