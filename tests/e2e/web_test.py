#!/usr/bin/env python3
"""End-to-end tests of green::web through the examples in examples/web_*.cpp:
curl and http.client for HTTP (keep-alive, chunked streaming, HEAD, HTTP/1.0,
long polling), Python websockets for the WebSocket protocol (echo,
fragmentation, ping, close handshake, size limit), raw sockets for what
clients never send (bad UTF-8, malformed requests).
Usage: web_test.py EXAMPLES_DIR [TEST...]"""
import asyncio
import base64
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import e2e  # noqa: E402
from e2e import IO_TIMEOUT, curl_ok, exchange  # noqa: E402

EXAMPLES = None


class Example(e2e.Server):
    """examples/NAME with port 0; leaving the `with` block stops it with
    SIGTERM, which must be graceful (exit status 0)."""

    def __init__(self, name, *args):
        super().__init__([os.path.join(EXAMPLES, "example_" + name), "0", *args])

    def __exit__(self, *exc):
        rc = self.stop()
        if exc[0] is None and rc != 0:
            raise AssertionError("the example exited %d after SIGTERM" % rc)


def test_hello_keeps_the_connection_alive_for_http_client():
    with Example("web_hello") as ex:
        conn = http.client.HTTPConnection("127.0.0.1", ex.port, timeout=IO_TIMEOUT)
        conn.request("GET", "/")
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("Content-Type") == "text/html", r.status
        assert r.read() == b"<p>Hallo Welt!</p>"
        first = conn.sock
        conn.request("GET", "/again")
        r = conn.getresponse()
        assert r.read() == b"<p>Hallo Welt!</p>"
        assert conn.sock is first, "http.client had to reconnect"
        conn.close()


def test_curl_reuses_the_connection_and_speaks_http_1_0_and_head():
    with Example("web_hello") as ex:
        url = "http://127.0.0.1:%d/" % ex.port
        out, err = curl_ok("-v", url, url)
        assert out == b"<p>Hallo Welt!</p>" * 2, out
        assert "Re-using existing connection" in err or "Reusing existing connection" in err, err
        out, _ = curl_ok("-0", "-i", url)
        assert out.startswith(b"HTTP/1.0 200 OK\r\n") and out.endswith(b"<p>Hallo Welt!</p>"), out
        out, _ = curl_ok("-I", url)
        assert b"Content-Length: 18\r\n" in out and out.endswith(b"\r\n\r\n"), out


def test_streaming_sends_each_piece_as_a_chunk():
    with Example("web_streaming") as ex:
        out, _ = curl_ok("--raw", "http://127.0.0.1:%d/" % ex.port)
        assert out == b"8\r\n<p>Hallo\r\n9\r\nWelt!</p>\r\n0\r\n\r\n", out
        out, _ = curl_ok("http://127.0.0.1:%d/" % ex.port)
        assert out == b"<p>HalloWelt!</p>", out


def test_long_polling_streams_what_the_producer_puts():
    with Example("web_long_polling", "20") as ex:
        conn = http.client.HTTPConnection("127.0.0.1", ex.port, timeout=IO_TIMEOUT)
        conn.request("GET", "/")
        r = conn.getresponse()
        assert r.getheader("Content-Type") == "application/json"
        lines = [r.readline(), r.readline(), r.readline()]
        assert [json.loads(x) for x in lines] == ["Hallo Welt"] * 3, lines
        conn.close()  # the handler's next write fails and only its greenlet ends


def test_malformed_requests_get_400_and_the_server_goes_on():
    with Example("web_hello") as ex:
        for bad in (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                    b"\x00\x01\x02 nonsense\r\n\r\n",
                    b"GET / HTTP/1.1\r\nBad Header Without Colon\r\n\r\n"):
            out = exchange(ex.port, bad)
            assert out.startswith(b"HTTP/1.1 400 "), (bad, out)
        out = exchange(ex.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 OK\r\n"), out


def test_websocket_sender_sends_the_seeds_json():
    with Example("web_websocket", "20") as ex:
        async def go():
            async with websockets.connect("ws://127.0.0.1:%d/" % ex.port) as ws:
                return [json.loads(await asyncio.wait_for(ws.recv(), IO_TIMEOUT)) for _ in range(3)]
        msgs = asyncio.run(go())
        assert [m["x"] for m in msgs] == [0, 1, 2], msgs
        assert all(1 <= m["y"] <= 5 for m in msgs), msgs
        out = exchange(ex.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 426 "), out


def test_websocket_echo_protocol_cases():
    with Example("web_echo", "1024") as ex:
        url = "ws://127.0.0.1:%d/ws" % ex.port

        async def go():
            async with websockets.connect(url, max_size=None) as ws:
                await ws.send("hallo \u00e9")
                assert await ws.recv() == "hallo \u00e9"
                await ws.send(b"\x00\xff\x10")
                assert await ws.recv() == b"\x00\xff\x10"
                await ws.send(["frag", "men", "ted"])  # one message in three frames
                assert await ws.recv() == "fragmented"
                pong = await ws.ping(b"p")
                await asyncio.wait_for(pong, IO_TIMEOUT)
                await ws.close()
                assert ws.close_code == 1000, ws.close_code
            async with websockets.connect(url, max_size=None) as ws:
                await ws.send("x" * 2000)  # over the 1024-byte limit
                try:
                    await asyncio.wait_for(ws.recv(), IO_TIMEOUT)
                    raise AssertionError("an oversized message was echoed")
                except websockets.ConnectionClosed as e:
                    assert e.rcvd is not None and e.rcvd.code == 1009, e
        asyncio.run(go())


def ws_handshake(port, path="/ws"):
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return s


def masked_frame(opcode, payload):
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


def test_websocket_invalid_utf8_is_closed_with_1007():
    with Example("web_echo") as ex:
        s = ws_handshake(ex.port)
        s.sendall(masked_frame(0x1, b"bad \xff\xfe utf-8"))
        frame = b""
        while len(frame) < 4:
            chunk = s.recv(64)
            if not chunk:
                break
            frame += chunk
        s.close()
        assert frame[0] == 0x88 and struct.unpack("!H", frame[2:4])[0] == 1007, frame


def test_frames_sent_with_the_upgrade_request_are_not_lost():
    # A client may send its first messages right behind the upgrade request,
    # before it reads the 101: in the same segment as the request, so the
    # server's HTTP reader takes them along with it.
    with Example("web_echo") as ex:
        key = base64.b64encode(os.urandom(16)).decode()
        s = socket.create_connection(("127.0.0.1", ex.port), timeout=IO_TIMEOUT)
        s.sendall(("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode()
                  + masked_frame(0x1, b"early one") + masked_frame(0x2, b"early two"))
        got = b""
        while got.count(b"early") < 2:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        s.close()
        assert got.startswith(b"HTTP/1.1 101 "), got
        frames = got[got.index(b"\r\n\r\n") + 4:]
        assert frames == b"\x81\x09early one\x82\x09early two", frames


def test_a_bad_upgrade_gets_400():
    with Example("web_echo") as ex:
        out = exchange(ex.port, b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           b"Sec-WebSocket-Version: 13\r\n\r\n")  # no key
        assert out.startswith(b"HTTP/1.1 400 "), out


def test_chromium_loads_a_page_that_echoes_over_a_websocket():
    chromium = shutil.which("chromium")
    if not chromium:
        raise AssertionError("chromium is not installed (scripts/packages/net.txt)")
    # Chromium's virtual time does not wait for a WebSocket: on a loaded
    # machine the budget can run out before the echo; a few tries.
    with Example("web_echo") as ex:
        for attempt in range(4):
            # ignore_cleanup_errors: a Chromium helper may still write into the profile.
            with tempfile.TemporaryDirectory(prefix="green-chromium.", ignore_cleanup_errors=True) as profile:
                p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                    "--user-data-dir=" + profile, "--virtual-time-budget=%d" % (5000 * (attempt + 1)),
                                    "--dump-dom", "http://127.0.0.1:%d/" % ex.port], capture_output=True, timeout=120)
            dom = p.stdout.decode(errors="replace")
            if "echo: hallo" in dom:
                return
        raise AssertionError("the page's WebSocket echo did not land:\n%s\n%s" % (
            dom[-500:], p.stderr.decode(errors="replace")[-1000:]))


if __name__ == "__main__":
    e2e.main(globals(), "EXAMPLES")
