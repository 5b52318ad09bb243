#!/usr/bin/env bash
# A real authoritative DNS server (Knot DNS from Debian) on a loopback port,
# for green::dns's unit tests, `green resolve`'s end-to-end tests and the
# DNS benchmark. Nothing leaves 127.0.0.1.
#
#   knot.sh start DIR [BULK_COUNT [ZONES [ADDR@PORT]]]
#                                writes DIR/{knot.conf,*.zone}, starts knotd,
#                                waits until it answers, prints the port (also
#                                in DIR/port); ZONES=none gives a server with
#                                no zones, which answers REFUSED; ADDR@PORT
#                                fixes the address (default 127.0.0.1 and a
#                                free high port)
#   knot.sh stop DIR             stops that knotd (by the PID it wrote)
#
# KNOT_EXTRA_RECORDS (zone file lines, relative to green.test.) adds records.
#
# The zones (green.test, bulk.test, broken.test and two reverse zones) are
# written below; tests check answers against exactly these records.
set -euo pipefail

knotd=${KNOTD:-/usr/sbin/knotd}

write_zones() {
  local dir=$1 bulk=$2
  cat >"$dir/green.test.zone" <<'ZONE'
$ORIGIN green.test.
$TTL 3600
@          3600  IN SOA   ns1.green.test. hostmaster.green.test. 2026112201 7200 900 1209600 300
@          3600  IN NS    ns1.green.test.
@          3600  IN NS    ns2.green.test.
@          300   IN MX    10 mail.green.test.
@          300   IN MX    20 mail2.green.test.
@          600   IN TXT   "v=spf1 -all"
@          86400 IN CAA   0 issue "ca.example.net"
@          86400 IN CAA   128 iodef "mailto:security@green.test"
ns1        3600  IN A     192.0.2.53
ns2        3600  IN A     192.0.2.54
www        300   IN A     192.0.2.10
www        300   IN A     192.0.2.11
www        301   IN AAAA  2001:db8::10
mail       120   IN A     192.0.2.25
mail2      121   IN A     192.0.2.26
alias      60    IN CNAME www.green.test.
c1         61    IN CNAME c2.green.test.
c2         62    IN CNAME c3.green.test.
c3         63    IN CNAME www.green.test.
dangling   90    IN CNAME missing.green.test.
_sip._tcp  600   IN SRV   10 60 5060 sip.green.test.
_sip._tcp  600   IN SRV   20 40 5061 sip2.green.test.
txtonly    500   IN TXT   "no address here"
multi      400   IN TXT   "first string" "second \"quoted\" string"
; bücher.green.test, as IDNA writes it
xn--bcher-kva 300 IN A    192.0.2.77
ZONE
  # Records a test adds for itself (green fetch's pipeline test: names on loopback).
  [ -z "${KNOT_EXTRA_RECORDS:-}" ] || printf '%s\n' "$KNOT_EXTRA_RECORDS" >>"$dir/green.test.zone"
  # A TXT record of 8 x 250 bytes: its reply cannot fit a 512-byte UDP
  # message, so the server truncates it and the client must re-ask over TCP.
  {
    printf 'big        700   IN TXT  '
    for c in a b c d e f g h; do printf '"%s" ' "$(printf "%0250d" 0 | tr 0 "$c")"; done
    printf '\n'
  } >>"$dir/green.test.zone"

  cat >"$dir/2.0.192.in-addr.arpa.zone" <<'ZONE'
$ORIGIN 2.0.192.in-addr.arpa.
$TTL 3600
@   IN SOA ns1.green.test. hostmaster.green.test. 1 7200 900 1209600 300
@   IN NS  ns1.green.test.
10  1800 IN PTR www.green.test.
25  1800 IN PTR mail.green.test.
ZONE
  cat >"$dir/8.b.d.0.1.0.0.2.ip6.arpa.zone" <<'ZONE'
$ORIGIN 8.b.d.0.1.0.0.2.ip6.arpa.
$TTL 3600
@   IN SOA ns1.green.test. hostmaster.green.test. 1 7200 900 1209600 300
@   IN NS  ns1.green.test.
0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 1800 IN PTR www.green.test.
ZONE
  # bulk.test: h<i>.bulk.test has A 10.<i/65536>.<i/256%256>.<i%256>, so a
  # test can check that every one of many answers went to its own name.
  {
    printf '$ORIGIN bulk.test.\n$TTL 3600\n'
    printf '@ IN SOA ns1.green.test. hostmaster.green.test. 1 7200 900 1209600 300\n'
    printf '@ IN NS ns1.green.test.\n'
    awk -v n="$bulk" 'BEGIN { for (i = 0; i < n; i++) printf "h%d 3600 IN A 10.%d.%d.%d\n", i, int(i / 65536), int(i / 256) % 256, i % 256 }'
  } >"$dir/bulk.test.zone"
  # broken.test is configured but its file does not exist: the server
  # answers SERVFAIL for it.
  rm -f "$dir/broken.test.zone"
}

write_conf() {
  local dir=$1 port=$2 zones=$3 addr=${4:-127.0.0.1}
  cat >"$dir/knot.conf" <<CONF
server:
    rundir: "$dir"
    pidfile: "$dir/knot.pid"
    listen: $addr@$port
    tcp-workers: 1
    background-workers: 1
control:
    listen: "$dir/knot.sock"
log:
  - target: "$dir/knot.log"
    any: notice
database:
    storage: "$dir/db"
template:
  - id: default
    storage: "$dir"
    journal-content: none
    zonefile-sync: -1
    semantic-checks: off
CONF
  if [ "$zones" != none ]; then
    cat >>"$dir/knot.conf" <<CONF
zone:
  - domain: green.test
  - domain: bulk.test
  - domain: broken.test
  - domain: 2.0.192.in-addr.arpa
  - domain: 8.b.d.0.1.0.0.2.ip6.arpa
CONF
  fi
}

# probe ADDR PORT NAME: asks NAME's A record over UDP; prints the answer's
# rcode and answer count ("0 1"), or nothing if no answer came in 200 ms.
# (python3 starts in a tenth of kdig's time.)
probe() {
  /usr/bin/python3 -S -I - "$@" <<'PY' 2>/dev/null
import socket, struct, sys
addr, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
q = struct.pack(">HHHHHH", 0x4242, 0, 1, 0, 0, 0)
for label in name.strip(".").split("."):
    if label:
        q += bytes([len(label)]) + label.encode()
q += b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
try:
    s.sendto(q, (addr, port))
    r = s.recv(4096)
    print(r[3] & 15, struct.unpack(">H", r[6:8])[0])
except OSError:
    pass
PY
}

ready() {
  local port=$1 zones=$2 addr=$3 bulk=$4 out
  if [ "$zones" = none ]; then
    out=$(probe "$addr" "$port" green.test)
    [ "${out%% *}" = 5 ]  # REFUSED
  elif [ "$bulk" -gt 0 ]; then
    out=$(probe "$addr" "$port" "h$((bulk - 1)).bulk.test")  # the bulk zone loads last
    [ "$out" = "0 1" ]
  else
    out=$(probe "$addr" "$port" www.green.test)
    [ "$out" = "0 2" ]
  fi
}

start() {
  local dir=$1 bulk=${2:-100000} zones=${3:-all} fixed=${4:-} addr=127.0.0.1
  [ -x "$knotd" ] || { echo "knot.sh: $knotd not found (install the knot package: scripts/bootstrap)" >&2; exit 1; }
  mkdir -p "$dir/db"
  dir=$(cd "$dir" && pwd)
  [ "$zones" = none ] || write_zones "$dir" "$bulk"
  local attempt port pid
  for attempt in 1 2 3 4 5 6 7 8; do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if [ -n "$fixed" ]; then addr=${fixed%@*}; port=${fixed#*@}; fi
    write_conf "$dir" "$port" "$zones" "$addr"
    "$knotd" -c "$dir/knot.conf" >>"$dir/knot.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/knotd.pid"
    for _ in $(seq 1 200); do
      if ready "$port" "$zones" "$addr" "$bulk"; then
        echo "$port" >"$dir/port"
        echo "$port"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  echo "knot.sh: knotd did not start; see $dir/knot.log" >&2
  exit 1
}

stop() {
  local dir=$1 pid
  [ -f "$dir/knotd.pid" ] || return 0
  pid=$(cat "$dir/knotd.pid")
  kill "$pid" 2>/dev/null || true
  # Gone, or a zombie (its parent, the shell that started it, has exited).
  alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
  for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.02; done
  alive "$pid" && kill -9 "$pid" 2>/dev/null
  rm -f "$dir/knotd.pid"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: knot.sh start DIR [BULK_COUNT [all|none [ADDR@PORT]]] | stop DIR" >&2; exit 2 ;;
esac
