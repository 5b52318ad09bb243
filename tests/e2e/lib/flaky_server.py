#!/usr/bin/env python3
"""Misbehaving HTTP peers for green's HTTP tests (loopback only).

  flaky_server.py PORTFILE

Binds three listeners on 127.0.0.1 (ports chosen by the kernel) and writes
"FLAKY_PORT=.. SILENT_PORT=.. IDLE_PORT=.." lines to PORTFILE:
  - FLAKY: GET /fail/N/KEY answers 503 (with Retry-After: 0) to the first N
    requests for that path, then 200 "ok KEY attempt M"; GET /count/KEY returns
    how many requests /fail/*/KEY got. GET /retry-after/S/KEY answers 503 with
    Retry-After: S (and counts like /fail). GET /stall/N sends the headers
    for 2N bytes, then N bytes, then nothing more (holds the connection).
    Other paths: 404.
  - SILENT: accepts connections and never answers (holds them open).
  - IDLE: closes a keep-alive connection that stays idle for 200 ms (as
    Apache does after its KeepAliveTimeout); GET /trickle/N sends N bytes,
    one every 150 ms; any other path answers "ok" at once.
Runs until killed.
"""
import http.server
import socket
import sys
import threading
import time

counts = {}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body, extra=()):
        data = body.encode()
        self.send_response(code)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "fail":
            n, key = int(parts[1]), parts[2]
            with lock:
                counts[key] = counts.get(key, 0) + 1
                m = counts[key]
            if m <= n:
                self.reply(503, "try again\n", [("Retry-After", "0")])
            else:
                self.reply(200, f"ok {key} attempt {m}\n")
        elif len(parts) == 3 and parts[0] == "retry-after":
            with lock:
                counts[parts[2]] = counts.get(parts[2], 0) + 1
            self.reply(503, "later\n", [("Retry-After", parts[1])])
        elif len(parts) == 2 and parts[0] == "stall":
            n = int(parts[1])
            self.send_response(200)
            self.send_header("Content-Length", str(2 * n))
            self.end_headers()
            self.wfile.write(b"s" * n)
            self.wfile.flush()
            time.sleep(3600)
        elif len(parts) == 2 and parts[0] == "count":
            with lock:
                m = counts.get(parts[1], 0)
            self.reply(200, f"{m}\n")
        else:
            self.reply(404, "no\n")


class IdleHandler(Handler):
    timeout = 0.2  # an idle keep-alive connection is closed after this

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "trickle":
            n = int(parts[1])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            for _ in range(n):
                self.wfile.write(b"t")
                self.wfile.flush()
                time.sleep(0.15)
        else:
            self.reply(200, "ok\n")


def silent(sock):
    held = []
    while True:
        conn, _ = sock.accept()
        held.append(conn)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    idle = http.server.ThreadingHTTPServer(("127.0.0.1", 0), IdleHandler)
    threading.Thread(target=idle.serve_forever, daemon=True).start()
    quiet = socket.socket()
    quiet.bind(("127.0.0.1", 0))
    quiet.listen(128)
    threading.Thread(target=silent, args=(quiet,), daemon=True).start()
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(f"FLAKY_PORT={server.server_address[1]}\nSILENT_PORT={quiet.getsockname()[1]}\n"
                f"IDLE_PORT={idle.server_address[1]}\n")
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
