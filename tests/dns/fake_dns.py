#!/usr/bin/env python3
"""A misbehaving DNS server on a loopback UDP port, for green resolve's tests.

    fake_dns.py PORTFILE LOG [--rcvbuf BYTES] [--late SECONDS] [--pause N:SECONDS]

Binds 127.0.0.1 on a free port, writes the port to PORTFILE, then answers A
queries by the first label of the name asked (digits are its number i):

    ok<i>        A 10.0.<i/256>.<i%256>, at once
    drop<i>      never answered
    lossy<i>     the first datagram of each (name, id) is dropped, copies
                 with the same id are answered (only a client that re-sends
                 the same query gets an answer: a new try has a new id)
    late<i>      answered after --late seconds (default 0.5)
    servfail<i>  SERVFAIL
    garbage<i>   first a reply with the right id and junk after the header,
                 then the real answer
    badid<i>     first a reply with another id and a wrong address, then
                 the real answer
    trunc<i>     first a reply cut inside its question, then the real answer
    anything else: NXDOMAIN

Every datagram received is logged to LOG as "NAME ID" (hex), one line each,
so a test can check what reached the server and in which order. With
--rcvbuf the socket's receive buffer is that small, so a burst overflows it
and the kernel drops queries, as a busy server's would. With --pause it stops
reading for SECONDS after the Nth datagram, as a server that hangs for a
while (or a process the machine did not run) does. Stops on SIGTERM.
"""
import heapq
import random
import select
import signal
import socket
import struct
import sys
import time


def parse_question(msg):
    """(qname as text, offset after the question) or None."""
    i = 12
    labels = []
    while i < len(msg):
        n = msg[i]
        if n == 0:
            return ".".join(labels), i + 5
        if n >= 64 or i + 1 + n > len(msg):
            return None
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return None


def reply(query, end, rcode=0, address=None, qid=None):
    qid = struct.unpack(">H", query[:2])[0] if qid is None else qid
    flags = 0x8000 | (query[2] & 0x01) << 8 | rcode  # QR, RD copied
    ancount = 1 if address else 0
    out = struct.pack(">HHHHHH", qid, flags, 1, ancount, 0, 0) + query[12:end]
    if address:
        out += struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + bytes(address)
    return out


def main():
    portfile, logfile = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    rcvbuf = int(args[args.index("--rcvbuf") + 1]) if "--rcvbuf" in args else 0
    late = float(args[args.index("--late") + 1]) if "--late" in args else 0.5
    pause_at, pause = (args[args.index("--pause") + 1] if "--pause" in args else "0:0").split(":")
    pause_at, pause = int(pause_at), float(pause)
    received = 0
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind(("127.0.0.1", 0))
    log = open(logfile, "w", buffering=1)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    import os
    os.rename(portfile + ".tmp", portfile)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    seen = set()
    delayed = []  # (when, seq, datagram, peer)
    seq = 0
    while True:
        timeout = max(0.0, delayed[0][0] - time.monotonic()) if delayed else None
        readable, _, _ = select.select([s], [], [], timeout)
        now = time.monotonic()
        while delayed and delayed[0][0] <= now:
            _, _, data, peer = heapq.heappop(delayed)
            s.sendto(data, peer)
        if not readable:
            continue
        for _ in range(64):
            try:
                msg, peer = s.recvfrom(4096, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            received += 1
            if received == pause_at:
                time.sleep(pause)
            if len(msg) < 12 or msg[2] & 0x80:
                continue
            q = parse_question(msg)
            if not q:
                continue
            name, end = q
            qid = struct.unpack(">H", msg[:2])[0]
            log.write("%s %04x\n" % (name, qid))
            first = name.split(".")[0]
            kind = first.rstrip("0123456789")
            number = first[len(kind):]
            i = int(number) if number else 0
            address = (10, 0, i // 256 % 256, i % 256)
            if kind == "drop":
                continue
            if kind == "lossy" and (name, qid) not in seen:
                seen.add((name, qid))
                continue
            if kind == "late":
                seq += 1
                heapq.heappush(delayed, (now + late, seq, reply(msg, end, address=address), peer))
                continue
            if kind == "servfail":
                s.sendto(reply(msg, end, rcode=2), peer)
                continue
            if kind == "garbage":
                junk = bytes(random.randrange(256) for _ in range(40))
                s.sendto(msg[:2] + b"\x81\x80" + junk, peer)
            elif kind == "badid":
                s.sendto(reply(msg, end, address=(192, 0, 2, 66), qid=qid ^ 0x5555), peer)
            elif kind == "trunc":
                s.sendto(reply(msg, end, address=address)[:12 + 3], peer)
            if kind in ("ok", "lossy", "garbage", "badid", "trunc"):
                s.sendto(reply(msg, end, address=address), peer)
            else:
                s.sendto(reply(msg, end, rcode=3), peer)


if __name__ == "__main__":
    main()
