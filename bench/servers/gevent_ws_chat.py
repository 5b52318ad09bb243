#!/usr/bin/python3
"""A gevent-websocket chat for bench/chat_web_bench.sh: green serve chat's
WebSocket protocol (/ws?room=ROOM&name=NAME; each frame one line: 'NAME> text',
'## NAME joined from IP.', '## NAME left the chat.') on the seeds' design, a
queue and a writer greenlet per user (two greenlets sending on one socket
would be gevent's ConcurrentObjectUseError, so a broadcast cannot send
directly). Usage: gevent_ws_chat.py PORT"""
import socket
import sys
from urllib.parse import parse_qs

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402
from gevent import pywsgi  # noqa: E402
from gevent.queue import Queue  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

rooms = {}  # room -> {name: queue}


def broadcast(room, msg):
    for q in rooms.get(room, {}).values():
        q.put(msg)


def writer(ws, q):
    while True:
        msg = q.get()
        if msg is None:
            return
        ws.send(msg)


def app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("426 Upgrade Required", [("Content-Length", "0")])
        return [b""]
    args = parse_qs(environ.get("QUERY_STRING", ""))
    name = args.get("name", [""])[0]
    room = args.get("room", ["lobby"])[0]
    members = rooms.setdefault(room, {})
    if not name or name in members:
        ws.send("That username is already taken.")
        ws.close()
        return []
    broadcast(room, "## %s joined from %s." % (name, environ.get("REMOTE_ADDR")))
    q = Queue()
    members[name] = q
    w = gevent.spawn(writer, ws, q)
    try:
        while True:
            m = ws.receive()
            if m is None:
                break
            broadcast(room, "%s> %s" % (name, m.strip()))
    finally:
        del members[name]
        q.put(None)
        broadcast(room, "## %s left the chat." % name)
        w.join(5)
    return []


if __name__ == "__main__":
    server = pywsgi.WSGIServer(("127.0.0.1", int(sys.argv[1])), app, handler_class=WebSocketHandler, log=None,
                               backlog=4096)
    server.init_socket()
    # Accepted sockets inherit it. pywsgi sends a response's header and body
    # in two writes; with Nagle on, each response would wait ~40 ms for the
    # client's delayed ACK, which would measure timers, not the server.
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print("listening on 127.0.0.1:%d" % server.server_port, file=sys.stderr, flush=True)
    server.serve_forever()
