"""Opens CONNS keep-alive HTTP connections to HOST:PORT, makes one request on
each (GET PATH, the response read whole), prints "ready", then holds them
idle until stdin closes. For the idle-connection memory of
bench/serve_http_bench.sh. Usage: http_idle.py HOST PORT PATH CONNS"""
import resource
import selectors
import socket
import sys

host, port, path, conns = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (path, host, port)).encode()
sel = selectors.DefaultSelector()
socks = []
pending = {}
done = 0
batch = 200  # connect in batches: a listen backlog overflow would only slow it down
i = 0
while done < conns:
    while i < conns and len(pending) < batch:
        s = socket.create_connection((host, port))
        s.sendall(request)
        s.setblocking(False)
        socks.append(s)
        pending[s.fileno()] = [s, b""]
        sel.register(s, selectors.EVENT_READ)
        i += 1
    for key, _ in sel.select(timeout=30):
        s, buf = pending[key.fd]
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed by the server")
        buf += chunk
        pending[key.fd][1] = buf
        head, sep, body = buf.partition(b"\r\n\r\n")
        if not sep:
            continue
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        if len(body) >= length:
            if not head.startswith(b"HTTP/1.1 200"):
                sys.exit("unexpected response: %r" % head[:80])
            sel.unregister(s)
            del pending[key.fd]
            done += 1
print("ready", flush=True)
sys.stdin.read()
