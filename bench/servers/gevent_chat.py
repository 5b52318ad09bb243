#!/usr/bin/python3
"""The seeds' gevent chat server (000_*.txt), ported to Python 3 with its
protocol unchanged, for the benchmarks. Usage: gevent_chat.py PORT"""
import sys

import gevent
from gevent.queue import Queue
from gevent.server import StreamServer

users = {}  # mapping of username -> Queue


def broadcast(msg):
    msg += '\n'
    for v in users.values():
        v.put(msg)


def reader(username, f):
    for l in f:
        msg = '%s> %s' % (username, l.strip())
        broadcast(msg)


def writer(q, sock):
    while True:
        msg = q.get()
        sock.sendall(msg.encode())


def read_name(f, sock):
    while True:
        sock.sendall(b'Please enter your name: ')
        name = f.readline().strip()
        if name:
            if name in users:
                sock.sendall(b'That username is already taken.\n')
            else:
                return name


def handle(sock, client_addr):
    f = sock.makefile('r')
    name = read_name(f, sock)
    broadcast('## %s joined from %s.' % (name, client_addr[0]))
    q = Queue()
    users[name] = q
    try:
        r = gevent.spawn(reader, name, f)
        w = gevent.spawn(writer, q, sock)
        gevent.joinall([r, w])
    finally:
        del users[name]
        broadcast('## %s left the chat.' % name)


if __name__ == '__main__':
    s = StreamServer(('127.0.0.1', int(sys.argv[1])), handle, backlog=4096)
    s.init_socket()
    print("listening on 127.0.0.1:%d" % s.server_port, file=sys.stderr, flush=True)
    s.serve_forever()
