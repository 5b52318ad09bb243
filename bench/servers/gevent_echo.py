#!/usr/bin/python3
"""The seeds' gevent StreamServer echo server (000_*.txt), ported to Python 3
for the benchmarks. Usage: gevent_echo.py PORT"""
import sys

from gevent.server import StreamServer


def connection_handler(socket, address):
    # The seed iterates socket.makefile('r') and sendall()s each line; the
    # benchmark's 64-byte messages carry no newline, so echo raw chunks
    # (the seed's line loop would never answer them).
    while True:
        data = socket.recv(16384)
        if not data:
            break
        socket.sendall(data)


if __name__ == '__main__':
    server = StreamServer(('127.0.0.1', int(sys.argv[1])), connection_handler, backlog=4096)
    server.init_socket()
    print("listening on 127.0.0.1:%d" % server.server_port, file=sys.stderr, flush=True)
    server.serve_forever()
