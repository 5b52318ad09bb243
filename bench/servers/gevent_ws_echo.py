#!/usr/bin/env python3
"""gevent-websocket echo server, the reference for bench/ws_bench.sh: every
message on /ws comes back as it was. Usage: gevent_ws_echo.py PORT"""
import sys

from gevent import monkey

monkey.patch_all()

from gevent import pywsgi  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402


def app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("426 Upgrade Required", [("Content-Length", "0")])
        return [b""]
    while True:
        m = ws.receive()
        if m is None:
            return []
        ws.send(m, binary=isinstance(m, bytes))


pywsgi.WSGIServer(("127.0.0.1", int(sys.argv[1])), app, handler_class=WebSocketHandler, log=None).serve_forever()
