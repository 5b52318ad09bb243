#!/usr/bin/env python3
"""End-to-end tests of `green serve http` with real clients over loopback:
curl (keep-alive reuse, ranges, conditional requests, HTTP/1.0), Python's
http.client, wrk, headless Chromium, and raw sockets for traversal attempts
and malformed requests. Usage: serve_http_test.py PATH/TO/green [TEST...]"""
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import e2e  # noqa: E402
from e2e import IO_TIMEOUT as TIMEOUT, check, curl  # noqa: E402

GREEN = None
work = None  # the scratch tree: www/ is served, secret.txt lies outside it
BIG = 3 * 1024 * 1024 + 17  # far more than a socket buffer: sendfile parks
SECRET = b"the secret outside the served directory"


def make_tree(root):
    www = os.path.join(root, "www")
    os.makedirs(os.path.join(www, "sub dir"))
    os.makedirs(os.path.join(www, "withindex"))
    os.makedirs(os.path.join(www, ".git"))
    with open(os.path.join(root, "secret.txt"), "wb") as f:
        f.write(SECRET)
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(bytes((i * 131 + i // 4096) & 0xFF for i in range(BIG)))
    with open(os.path.join(www, "hello.txt"), "wb") as f:
        f.write(b"hello, world\n")
    with open(os.path.join(www, "sub dir", "<b>&'x'.txt"), "wb") as f:
        f.write(b"escaped\n")
    with open(os.path.join(www, "withindex", "index.html"), "wb") as f:
        f.write(b"<!DOCTYPE html><title>index</title><p>the index page</p>\n")
    with open(os.path.join(www, ".env"), "wb") as f:
        f.write(SECRET)
    with open(os.path.join(www, ".git", "config"), "wb") as f:
        f.write(SECRET)
    with open(os.path.join(www, "data.json"), "wb") as f:
        f.write(b'{"greeting": "fetched by the page"}\n')
    with open(os.path.join(www, "page.html"), "wb") as f:
        f.write(b"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head><body>
<p id="out">waiting</p>
<script>
fetch("data.json").then(r => r.json()).then(j => {
  document.getElementById("out").textContent = "got: " + j.greeting;
}).catch(e => { document.getElementById("out").textContent = "error: " + e; });
</script></body></html>
""")
    os.symlink("../secret.txt", os.path.join(www, "link-out"))
    os.symlink(os.path.join(root, "secret.txt"), os.path.join(www, "link-abs"))
    os.symlink("hello.txt", os.path.join(www, "link-in"))
    os.symlink("..", os.path.join(www, "sub dir", "up"))
    os.symlink("../..", os.path.join(www, "sub dir", "upup"))
    os.symlink(".env", os.path.join(www, "link-dot"))  # inside DIR, but to a hidden file
    os.symlink("../.git", os.path.join(www, "sub dir", "git"))
    os.chmod(root, 0o755)
    return www


class Server(e2e.Server):
    """`green serve http DIR ARGS --port 0`; its stdout (--json) in self.out."""

    def __init__(self, *args, directory=None):
        super().__init__([GREEN, "serve", "http", directory or os.path.join(work, "www"), *args,
                          "--host", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE)
        self.url = "http://127.0.0.1:%d" % self.port


def status_of(headers_text):
    """The statuses of a curl -D dump (one per response)."""
    return [int(m) for m in re.findall(r"^HTTP/\S+ (\d{3})", headers_text, re.M)]


def header(headers_text, name):
    m = re.findall(r"^%s:\s*(.*?)\r?$" % re.escape(name), headers_text, re.M | re.I)
    return m[-1] if m else None


def raw(port, request, read_all=True):
    """Sends `request` bytes on a fresh connection; returns what comes back
    until the server closes (or the first response's head with read_all=False)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(request)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return buf
            if not chunk:
                return buf
            buf += chunk
            if not read_all and b"\r\n\r\n" in buf:
                return buf


def raw_status(port, target):
    resp = raw(port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check(SECRET not in resp, "%r leaked the secret: %r" % (target, resp[:300]))
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", resp)
    check(m, "no status line for %r: %r" % (target, resp[:200]))
    return int(m.group(1))


# ---- tests ------------------------------------------------------------------------

def test_curl_exact_bytes_head_and_keepalive_reuse():
    with Server() as srv:
        rc, out, err = curl("-v", "-o", os.path.join(work, "got.bin"), srv.url + "/big.bin",
                            "-o", os.path.join(work, "got.txt"), srv.url + "/hello.txt")
        check(rc == 0, "curl failed: %s" % err)
        with open(os.path.join(work, "got.bin"), "rb") as a, open(os.path.join(work, "www", "big.bin"), "rb") as b:
            check(hashlib.sha256(a.read()).digest() == hashlib.sha256(b.read()).digest(), "big.bin differs")
        with open(os.path.join(work, "got.txt"), "rb") as a:
            check(a.read() == b"hello, world\n", "hello.txt differs")
        check(re.search(r"Re-using existing connection", err), "curl opened a second connection:\n" + err)
        check(err.count("Connected to") == 1, "more than one connection:\n" + err)
        rc, out, err = curl("-I", srv.url + "/big.bin")
        text = out.decode()
        check(status_of(text) == [200], "HEAD: %r" % text)
        check(header(text, "Content-Length") == str(BIG), "HEAD's Content-Length: %r" % text)
        check(header(text, "Content-Type") == "application/octet-stream", text)
        check(header(text, "Accept-Ranges") == "bytes", text)
        rc, out, err = curl("-D", "-", srv.url + "/hello.txt")
        check(header(out.decode(errors="replace"), "Content-Type") == "text/plain; charset=utf-8", out)
        check(srv.stop() == 0, "SIGTERM: not exit 0")


def test_curl_http10():
    with Server() as srv:
        rc, out, err = curl("--http1.0", "-D", os.path.join(work, "h10"), srv.url + "/hello.txt")
        check(rc == 0 and out == b"hello, world\n", "HTTP/1.0: %d %r %s" % (rc, out, err))
        with open(os.path.join(work, "h10")) as f:
            text = f.read()
        check(status_of(text) == [200], text)
        # HTTP/1.0 without keep-alive: the server closes after the response.
        resp = raw(srv.port, b"GET /hello.txt HTTP/1.0\r\n\r\n")
        check(resp.startswith(b"HTTP/1.") and resp.endswith(b"\r\n\r\nhello, world\n"), "raw 1.0: %r" % resp)


def test_curl_ranges():
    with Server() as srv:
        want = open(os.path.join(work, "www", "big.bin"), "rb").read()
        rc, out, err = curl("-D", os.path.join(work, "h"), "-r", "1000-1999", srv.url + "/big.bin")
        text = open(os.path.join(work, "h")).read()
        check(status_of(text) == [206] and out == want[1000:2000], "range 1000-1999: %r" % text)
        check(header(text, "Content-Range") == "bytes 1000-1999/%d" % BIG, text)
        rc, out, err = curl("-D", os.path.join(work, "h"), "-r", "-100", srv.url + "/big.bin")
        check(out == want[-100:], "suffix range")
        rc, out, err = curl("-D", os.path.join(work, "h"), "-r", "%d-" % (BIG - 5), srv.url + "/big.bin")
        check(out == want[-5:], "open range")
        rc, out, err = curl("-D", os.path.join(work, "h"), "-r", "%d-" % BIG, srv.url + "/big.bin")
        text = open(os.path.join(work, "h")).read()
        check(status_of(text) == [416], "unsatisfiable: %r" % text)
        check(header(text, "Content-Range") == "bytes */%d" % BIG, text)
        # Several ranges: the whole file, 200 (documented).
        rc, out, err = curl("-D", os.path.join(work, "h"), "-r", "0-9,20-29", srv.url + "/hello.txt")
        text = open(os.path.join(work, "h")).read()
        check(status_of(text) == [200] and out == b"hello, world\n", "multi-range: %r %r" % (text, out))
        # Resume a download (curl -C -): the rest of the file.
        part = os.path.join(work, "part.bin")
        with open(part, "wb") as f:
            f.write(want[:12345])
        rc, out, err = curl("-C", "-", "-o", part, srv.url + "/big.bin")
        check(rc == 0 and open(part, "rb").read() == want, "resumed download differs: %s" % err)


def test_curl_conditional_requests():
    with Server() as srv:
        rc, out, err = curl("-D", "-", "-o", "/dev/null", srv.url + "/hello.txt")
        text = out.decode()
        etag, lm = header(text, "ETag"), header(text, "Last-Modified")
        check(etag and etag.startswith('"') and lm, "validators: %r" % text)
        rc, out, err = curl("-D", "-", "-H", "If-None-Match: " + etag, srv.url + "/hello.txt")
        text = out.decode()
        check(status_of(text) == [304] and text.endswith("\r\n\r\n"), "If-None-Match: %r" % text)
        # RFC 9110 8.6: a 304 may name only the 200's length; nginx and h2o name none.
        check(header(text, "Content-Length") is None, "Content-Length in a 304: %r" % text)
        rc, out, err = curl("-D", "-", "-H", "If-Modified-Since: " + lm, srv.url + "/hello.txt")
        check(status_of(out.decode()) == [304], "If-Modified-Since: %r" % out)
        rc, out, err = curl("-D", "-", "-z", "Thu, 01 Jan 1970 00:00:00 GMT", srv.url + "/hello.txt")
        check(status_of(out.decode(errors="replace")) == [200], "an old If-Modified-Since: %r" % out)
        rc, out, err = curl("-D", "-", "-H", "If-Range: \"stale\"", "-r", "0-4", srv.url + "/hello.txt")
        check(status_of(out.decode()) == [200] and out.endswith(b"hello, world\n"), "stale If-Range: %r" % out)
        rc, out, err = curl("-D", "-", "-H", "If-Range: " + etag, "-r", "0-4", srv.url + "/hello.txt")
        check(status_of(out.decode()) == [206] and out.endswith(b"\r\n\r\nhello"), "If-Range: %r" % out)
        rc, out, err = curl("-D", "-", "-H", "If-Match: \"other\"", srv.url + "/hello.txt")
        check(status_of(out.decode()) == [412], "If-Match: %r" % out)
        # A rewritten file gets a new ETag.
        with open(os.path.join(work, "www", "hello.txt"), "wb") as f:
            f.write(b"hello, world\n")
        os.utime(os.path.join(work, "www", "hello.txt"), (1, 1))
        rc, out, err = curl("-D", "-", "-H", "If-None-Match: " + etag, "-o", "/dev/null", srv.url + "/hello.txt")
        check(status_of(out.decode()) == [200] and header(out.decode(), "ETag") != etag, "new ETag: %r" % out)


def test_python_http_client_listing_redirect_and_index():
    with Server() as srv:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=TIMEOUT)
        c.request("GET", "/sub%20dir")
        r = c.getresponse()
        r.read()
        check(r.status == 301 and r.getheader("Location") == "/sub%20dir/", "redirect: %d %r" %
              (r.status, r.getheaders()))
        c.request("GET", "/sub%20dir/")
        r = c.getresponse()
        page = r.read().decode()
        check(r.status == 200 and r.getheader("Content-Type") == "text/html; charset=utf-8", r.getheaders())
        check("&lt;b&gt;&amp;&#39;x&#39;.txt" in page, "name not escaped: " + page)
        check('href="./%3Cb%3E&amp;&#39;x&#39;.txt"' in page, "link not encoded: " + page)
        check("<b>" not in page, "raw markup from a file name: " + page)
        c.request("GET", "/sub%20dir/%3Cb%3E%26'x'.txt")
        r = c.getresponse()
        check(r.status == 200 and r.read() == b"escaped\n", "the listed file")
        c.request("GET", "/withindex/")
        r = c.getresponse()
        check(r.status == 200 and b"the index page" in r.read(), "index.html")
        c.request("GET", "/")
        r = c.getresponse()
        page = r.read().decode()
        check(r.status == 200 and "hello.txt" in page and ".env" not in page and ".git" not in page, page)
        c.request("HEAD", "/hello.txt")
        r = c.getresponse()
        check(r.status == 200 and r.read() == b"" and r.getheader("Content-Length") == "13", "HEAD")
        c.request("POST", "/hello.txt", body=b"x")
        r = c.getresponse()
        r.read()
        check(r.status == 405 and r.getheader("Allow") == "GET, HEAD", "POST: %d" % r.status)
        c.request("GET", "/missing")
        r = c.getresponse()
        check(r.status == 404 and r.read() == b"404 Not Found\n", "404")
        c.request("GET", "/hello.txt")  # the same connection still works after errors
        r = c.getresponse()
        check(r.status == 200 and r.read() == b"hello, world\n", "keep-alive after errors")
        c.close()


def test_a_changed_file_is_seen_by_the_next_request():
    # A small file's answer is reused within one round of the hub
    # (tools/serve/round_cache.hpp); the next request, on the same kept-alive
    # connection or a new one, must see a replacement, a removal, a rewrite
    # in place and a symlink swapped to point out of DIR.
    d = os.path.join(work, "www", "changing")
    os.makedirs(d)
    path = os.path.join(d, "f.txt")

    def put(data, replace=True):
        if replace:  # a new inode, renamed over the old one
            with open(path + ".new", "wb") as f:
                f.write(data)
            os.replace(path + ".new", path)
        else:
            with open(path, "r+b") as f:
                f.write(data)

    def swap_link(target):
        os.symlink(target, os.path.join(d, "l.new"))
        os.replace(os.path.join(d, "l.new"), os.path.join(d, "l"))

    put(b"first\n")
    swap_link("f.txt")
    with Server() as srv:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=TIMEOUT)

        def get(target):
            c.request("GET", target)
            r = c.getresponse()
            return r.status, r.read(), r.getheader("ETag")

        for _ in range(3):
            check(get("/changing/f.txt")[:2] == (200, b"first\n"), "first")
        put(b"second, longer\n")
        st, body, etag = get("/changing/f.txt")
        check((st, body) == (200, b"second, longer\n"), "after a replacement: %r" % body)
        put(b"SECOND", replace=False)
        os.utime(path, ns=(10**18, 10**18 + 123))
        st, body, new_etag = get("/changing/f.txt")
        check((st, body) == (200, b"SECOND, longer\n") and new_etag != etag, "after a rewrite in place: %r" % body)
        check(get("/changing/l")[:2] == (200, b"SECOND, longer\n"), "through the link")
        swap_link("../../secret.txt")
        st, body, _ = get("/changing/l")
        check(st == 404 and SECRET not in body, "a link swapped to point out of DIR: %d %r" % (st, body))
        os.remove(path)
        check(get("/changing/f.txt")[0] == 404, "after a removal")
        put(b"third\n")
        c.close()
        rc, out, _ = curl(srv.url + "/changing/f.txt")
        check(rc == 0 and out == b"third\n", "a new connection: %r" % out)
        # Pipelined, so the later ones are answered from the first one's
        # entry: If-None-Match naming its ETag (weakly too) is 304, naming
        # another is the 200 (If-Modified-Since beside it is ignored).
        rc, out, _ = curl("-D", "-", "-o", "/dev/null", srv.url + "/changing/f.txt")
        etag = header(out.decode(), "ETag").encode()

        def req(extra):
            return b"GET /changing/f.txt HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"
        resp = raw(srv.port, req(b"") + req(b"If-None-Match: " + etag + b"\r\n") +
                   req(b'If-None-Match: "other"\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n') +
                   req(b"If-None-Match: W/" + etag + b"\r\nConnection: close\r\n"))
        statuses = [int(s) for s in re.findall(rb"^HTTP/1\.1 (\d{3}) ", resp, re.M)]
        check(statuses == [200, 304, 200, 304], "pipelined conditional requests: %r" % resp)
        check(resp.count(b"third\n") == 2 and resp.count(b"Content-Length") == 2 and
              resp.count(b"ETag: " + etag) == 4, "pipelined conditional requests: %r" % resp)
        # Behind a cached answer, a Range, a HEAD, another spelling of the
        # target and an HTTP/1.0 request each get their own answer.
        resp = raw(srv.port, req(b"") + req(b"Range: bytes=1-2\r\n") +
                   req(b"").replace(b"GET", b"HEAD", 1) + req(b"").replace(b"f.txt", b"%66.txt?x=1", 1) +
                   req(b"").replace(b"HTTP/1.1", b"HTTP/1.0", 1))
        statuses = [int(s) for s in re.findall(rb"HTTP/1\.[01] (\d{3}) ", resp)]  # "hi" is right before one
        check(statuses == [200, 206, 200, 200, 200] and resp.count(b"third\n") == 3 and
              b"Content-Range: bytes 1-2/6\r\n" in resp and b"\r\n\r\nhi" in resp and
              resp.count(b"Content-Length: 6\r\n") == 4 and b"HTTP/1.0 200 OK\r\n" in resp and
              resp.endswith(b"\r\n\r\nthird\n"), "pipelined requests behind a cached answer: %r" % resp)
    shutil.rmtree(d)


def test_raw_traversal_attempts():
    with Server() as srv:
        for target in [b"/../secret.txt", b"/%2e%2e/secret.txt", b"/%2E%2E/secret.txt", b"/.%2e/secret.txt",
                       b"/sub%20dir/..%2f..%2fsecret.txt", b"/..%2fsecret.txt", b"/%2fetc%2fpasswd",
                       b"/hello.txt%00.html", b"/..\\secret.txt", b"/sub%20dir/%2e%2e/%2e%2e/secret.txt"]:
            st = raw_status(srv.port, target)
            check(st == 400, "%r: %d, want 400" % (target, st))
        for target in [b"/link-out", b"/link-abs", b"/sub%20dir/upup/secret.txt", b"/.env", b"/.git/config",
                       b"/%2eenv", b"/sub%20dir/up/.env", b"/link-dot", b"/sub%20dir/git/config"]:
            st = raw_status(srv.port, target)
            check(st == 404, "%r: %d, want 404" % (target, st))
        check(raw_status(srv.port, b"/link-in") == 200, "a link inside the directory")
        check(raw_status(srv.port, b"/sub%20dir/up/hello.txt") == 200, "a link back into the directory")
        # Absolute-form targets name the path the same way.
        check(raw_status(srv.port, b"http://127.0.0.1/hello.txt") == 200, "absolute form")
        check(raw_status(srv.port, b"http://127.0.0.1/../secret.txt") == 400, "absolute form with ..")
    with Server("--follow-symlinks") as srv:
        check(raw_status_allowing_secret(srv.port, b"/link-out") == 200, "--follow-symlinks: a link out")
        check(raw_status(srv.port, b"/link-dot") == 404, "--follow-symlinks: a link to a hidden file")
    with Server("--follow-symlinks", "--dotfiles") as srv:
        resp = raw(srv.port, b"GET /link-out HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check(resp.startswith(b"HTTP/1.1 200") and resp.endswith(SECRET), "--follow-symlinks: %r" % resp[:100])
        resp = raw(srv.port, b"GET /.env HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check(resp.startswith(b"HTTP/1.1 200"), "--dotfiles: %r" % resp[:100])
        st = raw_status_allowing_secret(srv.port, b"/../secret.txt")
        check(st == 400, "'..' with --follow-symlinks: %d" % st)


def raw_status_allowing_secret(port, target):
    resp = raw(port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", resp)
    check(m, "no status line: %r" % resp[:200])
    return int(m.group(1))


def test_raw_malformed_requests():
    with Server() as srv:
        for req in [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET\r\n\r\n", b"\x00\x01\x02\r\n\r\n",
                    b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"]:
            resp = raw(srv.port, req)
            check(resp == b"" or re.match(rb"HTTP/1\.1 4\d\d ", resp), "%r: %r" % (req, resp[:100]))
        # A header section far past any limit: refused (431 or 400), never a crash.
        resp = raw(srv.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
        check(resp == b"" or re.match(rb"HTTP/1\.1 4\d\d ", resp), "huge header: %r" % resp[:100])
        # A request cut off mid-line, then a close: the server goes on.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as s:
            s.sendall(b"GET /hel")
        check(raw_status(srv.port, b"/hello.txt") == 200, "server still serves after malformed requests")
        # Pipelining: two requests in one write, two responses in order.
        resp = raw(srv.port, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /data.json HTTP/1.1\r\nHost: x\r\n"
                             b"Connection: close\r\n\r\n")
        check(resp.count(b"HTTP/1.1 200") == 2 and resp.index(b"hello, world") < resp.index(b"greeting"),
              "pipelined: %r" % resp)
        check(srv.stop() == 0, "exit status after malformed requests")


def test_stalled_and_vanishing_clients_cost_only_themselves():
    with Server() as srv:
        # One client asks for the big file and never reads: its greenlet parks
        # on a full socket buffer, nothing else waits for it.
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", srv.port))
        stalled.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        # Another reads a piece of it and vanishes.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as gone:
            gone.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            gone.recv(100000)
        for _ in range(5):
            check(raw_status(srv.port, b"/hello.txt") == 200, "a request while one client stalls")
        # The stop does not wait for the stalled download forever.
        check(srv.stop() == 0, "SIGTERM with a stalled client: not exit 0")
        stalled.close()


def test_json_and_verbose_logs_and_summary():
    with Server("--json") as srv:
        curl(srv.url + "/hello.txt", srv.url + "/missing")
        curl("-r", "0-4", srv.url + "/hello.txt")
        rc = srv.stop(signal.SIGTERM)
    check(rc == 0, "SIGTERM exit %d" % rc)
    lines = [json.loads(l) for l in srv.out]
    check(len(lines) == 3, "want 3 JSON lines: %r" % srv.out)
    first = lines[0]
    for key in ("time", "client", "method", "target", "status", "bytes", "duration"):
        check(key in first, "no %r in %r" % (key, first))
    check((first["method"], first["target"], first["status"], first["bytes"]) == ("GET", "/hello.txt", 200, 13),
          repr(first))
    check((lines[1]["status"], lines[2]["status"], lines[2]["bytes"]) == (404, 206, 5), repr(lines))
    check(any(re.search(r"3 requests", l) for l in srv.log), "no summary: %r" % srv.log)
    with Server("-v") as srv:
        curl(srv.url + "/hello.txt")
        rc = srv.stop(signal.SIGINT)
    check(rc == 130, "SIGINT exit %d" % rc)
    check(srv.out == [], "-v wrote to stdout: %r" % srv.out)
    log = [l for l in srv.log if '"GET /hello.txt HTTP/1.1" 200 13' in l]
    check(len(log) == 1 and log[0].startswith("127.0.0.1 "), "no access log line: %r" % srv.log)


def test_the_servers_own_error_answers_are_logged():
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n"
    with Server("--json") as srv:
        check(raw(srv.port, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 "), "garbage: not 400")
        check(raw(srv.port, big).startswith(b"HTTP/1.1 431 "), "huge header: not 431")
        rc = srv.stop()
    check(rc == 0, "SIGTERM exit %d" % rc)
    lines = [json.loads(l) for l in srv.out]
    check([(l["status"], l["method"], l["target"]) for l in lines] == [(400, None, None), (431, None, None)],
          "JSON log of the error answers: %r" % srv.out)
    check(any("2 requests (2 failed)" in l for l in srv.log), "summary: %r" % srv.log)
    with Server("-v") as srv:
        raw(srv.port, b"GARBAGE\r\n\r\n")
        srv.stop()
    check(any(re.match(r'127\.0\.0\.1 - - \[[^]]+\] "-" 400 \d+$', l) for l in srv.log),
          "no CLF line for the 400: %r" % srv.log)


def test_threads_share_the_port_and_the_summary():
    with Server("--threads", "3") as srv:
        conns = [http.client.HTTPConnection("127.0.0.1", srv.port, timeout=TIMEOUT) for _ in range(30)]
        for c in conns:
            c.request("GET", "/hello.txt")
            r = c.getresponse()
            check(r.status == 200 and r.read() == b"hello, world\n", "a response on one of the hubs")
        for c in conns:
            c.close()
        check(srv.stop() == 0, "SIGTERM with --threads: not exit 0")
    check(any("30 requests" in l for l in srv.log), "the summary counts every hub's requests: %r" % srv.log)


def test_wrk():
    if not shutil.which("wrk"):
        raise AssertionError("wrk is not installed (scripts/packages/net.txt)")
    with Server() as srv:
        p = subprocess.run(["wrk", "-t1", "-c20", "-d1s", srv.url + "/hello.txt"], capture_output=True,
                           timeout=TIMEOUT)
        out = p.stdout.decode()
        check(p.returncode == 0 and re.search(r"\d+ requests in", out), "wrk: %s" % out)
        check("Non-2xx" not in out and "Socket errors" not in out, "wrk saw errors:\n" + out)
        check(srv.stop() == 0, "exit after wrk")


def test_chromium_loads_a_page_that_fetches():
    chromium = shutil.which("chromium")
    if not chromium:
        raise AssertionError("chromium is not installed (scripts/packages/net.txt)")
    with Server() as srv, tempfile.TemporaryDirectory(prefix="green-chromium.") as profile:
        p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            "--user-data-dir=" + profile, "--virtual-time-budget=5000", "--dump-dom",
                            srv.url + "/page.html"], capture_output=True, timeout=120)
        dom = p.stdout.decode(errors="replace")
        check("got: fetched by the page" in dom, "the page's fetch did not land:\n%s\n%s" %
              (dom[-500:], p.stderr.decode(errors="replace")[-1000:]))
        check(srv.stop() == 0, "exit after chromium")


def test_usage_errors():
    p = subprocess.run([GREEN, "serve", "http", os.path.join(work, "nowhere"), "--port", "0"], capture_output=True,
                       timeout=TIMEOUT)
    check(p.returncode == 2 and b"nowhere" in p.stderr, "a missing DIR: %d %r" % (p.returncode, p.stderr))
    p = subprocess.run([GREEN, "serve", "echo", "--dotfiles", "--port", "0"], capture_output=True, timeout=TIMEOUT)
    check(p.returncode == 2 and b"--dotfiles" in p.stderr, "http option on echo: %d %r" % (p.returncode, p.stderr))


def main():
    global GREEN, work
    GREEN = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="green-serve-http.") as tmp:
        work = tmp
        make_tree(tmp)
        failures = e2e.run_tests(globals(), sys.argv[2:])
    e2e.finish(failures)


if __name__ == "__main__":
    main()
