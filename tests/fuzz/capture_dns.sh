#!/usr/bin/env bash
# Regenerates tests/fuzz/corpus/dns: real answers of the test Knot
# (tests/dns/knot.sh, on loopback) to the queries green's DNS tests ask, as
# the bytes on the wire (TCP answers without their length prefix).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap '"$here/../dns/knot.sh" stop "$work"; rm -rf "$work"' EXIT
port=$("$here/../dns/knot.sh" start "$work" 10)
out=$here/corpus/dns
rm -f "$out"/*.bin
/usr/bin/python3 -S -I - "$port" "$out" <<'PY'
import socket, struct, sys
port, out = int(sys.argv[1]), sys.argv[2]
types = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33, "CAA": 257, "ANY": 255, "HINFO": 13}
queries = [("www.green.test", "A"), ("www.green.test", "AAAA"), ("alias.green.test", "A"), ("c1.green.test", "AAAA"),
           ("dangling.green.test", "A"), ("green.test", "MX"), ("green.test", "NS"), ("green.test", "SOA"),
           ("green.test", "TXT"), ("green.test", "CAA"), ("_sip._tcp.green.test", "SRV"), ("multi.green.test", "TXT"),
           ("10.2.0.192.in-addr.arpa", "PTR"), ("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "PTR"),
           ("nope.green.test", "A"), ("txtonly.green.test", "A"), ("broken.test", "A"), ("www.green.test", "ANY"),
           ("h3.bulk.test", "A"), ("big.green.test", "TXT"), ("outside.example", "A")]
for i, (name, t) in enumerate(queries):
    q = struct.pack(">HHHHHH", 0x1000 + i, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", types[t], 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(q, ("127.0.0.1", port))
    r = s.recv(65535)
    if r[2] & 0x02:  # truncated: ask again over TCP, as green does
        t_sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        t_sock.sendall(struct.pack(">H", len(q)) + q)
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
            chunk = t_sock.recv(65535)
            if not chunk:
                break
            buf += chunk
        r = buf[2:]
    with open(f"{out}/{name.split('.')[0] or 'root'}-{t}-{i:02d}.bin", "wb") as f:
        f.write(r)
PY
ls "$out" | wc -l
