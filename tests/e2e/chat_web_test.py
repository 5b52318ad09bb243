#!/usr/bin/env python3
"""End-to-end tests of `green serve chat --http`: WebSocket users (Python
websockets), long-polling users (curl) and TCP users (sockets) in one chat,
and the page in headless Chromium driven over its DevTools protocol.
Usage: chat_web_test.py PATH/TO/green [TEST...]"""
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import e2e  # noqa: E402
from e2e import IO_TIMEOUT, check, curl_ok, expect  # noqa: E402

GREEN = None
PROMPT = b"Please enter your name: "


class Chat(e2e.Server):
    """`green serve chat --port 0 --http 0 ARGS`, with both ports."""

    def __init__(self, *args):
        super().__init__([GREEN, "serve", "chat", "--host", "127.0.0.1", "--port", "0", "--http", "0", "-v", *args],
                         lines=2)
        if len(self.ports) != 2:
            self.__exit__()
            raise AssertionError("no ports reported: %r" % self.head)
        self.http = self.ports[1]
        self.base = "http://127.0.0.1:%d" % self.http

    def ws_url(self, name, room=None):
        q = "name=" + urllib.request.quote(name, safe="")
        if room is not None:
            q += "&room=" + urllib.request.quote(room, safe="")
        return "ws://127.0.0.1:%d/ws?%s" % (self.http, q)

    def tcp_join(self, name):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT)
        expect(s, PROMPT)
        s.sendall(name.encode() + b"\n")
        return s


async def recv(ws, want):
    got = await asyncio.wait_for(ws.recv(), IO_TIMEOUT)
    if got != want:
        raise AssertionError("expected %r, got %r" % (want[:200], got[:200]))


def curl(*args):
    """curl -sS -i ARGS: (status, headers, body)."""
    out, _ = curl_ok("-i", *args)
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return status, headers, body


# ---- WebSocket -----------------------------------------------------------------

def test_websocket_protocol():
    """Refusals close with 1008 after the TCP chat's line; a frame is a message
    (cut at 4096 bytes, control characters repaired); the server's frames are
    lines without the newline; /quit leaves."""
    async def main(chat):
        tcp = chat.tcp_join("tom")
        async with websockets.connect(chat.ws_url("tom")) as ws:   # taken, by a TCP user
            await recv(ws, "That username is already taken.")
            await asyncio.wait_for(ws.wait_closed(), IO_TIMEOUT)
            check(ws.close_code == 1008, "close code %s" % ws.close_code)
        async with websockets.connect(chat.ws_url("ann", "bad room")) as ws:
            await recv(ws, "## room names are 1-32 printable characters without spaces")
            await asyncio.wait_for(ws.wait_closed(), IO_TIMEOUT)
            check(ws.close_code == 1008, "close code %s" % ws.close_code)
        async with websockets.connect(chat.ws_url("ann")) as ws:  # no room: lobby
            expect(tcp, b"## ann joined from 127.0.0.1.\n")
            await ws.send("  x" + "y" * 5000)      # cut to 4096 bytes, then stripped
            await recv(ws, "ann> x" + "y" * 4093)
            await ws.send("tab\there, esc \x1b[1m, new\nline")
            await recv(ws, "ann> tab\there, esc \ufffd[1m, new\ufffdline")
            await ws.send("/who")
            await recv(ws, "## 2 users: tom, ann")
            expect(tcp, b"ann> x" + b"y" * 4093 + b"\n" +
                   "ann> tab\there, esc \ufffd[1m, new\ufffdline\n".encode())
            await ws.send("/quit")
            await asyncio.wait_for(ws.wait_closed(), IO_TIMEOUT)
            expect(tcp, b"## ann left the chat.\n")
        tcp.close()
    with Chat() as chat:
        asyncio.run(main(chat))
        s, _, body = curl(chat.base + "/ws?name=x")
        check(s == 400, "/ws without an upgrade: %d %r" % (s, body))
        check(chat.stop() == 0, "exit status")


def test_mixed_room():
    """Two WebSocket users and one TCP user in topic1 (and one in the lobby):
    each sees the joins, the backlog (marked), every message in order."""
    async def main(chat):
        lobby = chat.tcp_join("lou")
        tom = chat.tcp_join("tom")
        expect(lobby, b"## tom joined from 127.0.0.1.\n")
        tom.sendall(b"/join topic1\nfirst\n")
        expect(tom, b"## you are in topic1.\ntom> first\n")
        expect(lobby, b"## tom went to topic1.\n")
        a = await websockets.connect(chat.ws_url("ann", "topic1"))
        await recv(a, "~ tom> first")
        expect(tom, b"## ann joined from 127.0.0.1.\n")
        b = await websockets.connect(chat.ws_url("bea", "topic1"))
        await recv(b, "~ tom> first")
        await recv(a, "## bea joined from 127.0.0.1.")
        expect(tom, b"## bea joined from 127.0.0.1.\n")
        for i in range(50):
            await a.send("a%d" % i)
            await b.send("b%d" % i)
            tom.sendall(b"t%d\n" % i)
        seen = {}
        for who, ws in (("ann", a), ("bea", b)):
            lines = [await asyncio.wait_for(ws.recv(), IO_TIMEOUT) for _ in range(150)]
            seen[who] = lines
        buf = bytearray()
        while buf.count(b"\n") < 150:
            buf += tom.recv(65536)
        seen["tom"] = buf.decode().splitlines()
        for who, lines in seen.items():
            for sender, p in (("ann", "a"), ("bea", "b"), ("tom", "t")):
                mine = [l for l in lines if l.startswith(sender + "> ")]
                check(mine == ["%s> %s%d" % (sender, p, i) for i in range(50)],
                      "%s saw %s's lines out of order or lost: %r" % (who, sender, mine[:5]))
        await b.send("/rooms")
        await recv(b, "## rooms: lobby (1), topic1 (3)")
        await b.close()
        await recv(a, "## bea left the chat.")
        expect(tom, b"## bea left the chat.\n")
        lobby.sendall(b"/who\n")
        expect(lobby, b"## 1 user: lou\n")   # nothing of topic1 reached the lobby
        s, _, body = curl(chat.base + "/rooms")
        check(s == 200 and body == b"lobby 1\ntopic1 2\n", "/rooms: %d %r" % (s, body))
        # Shutdown: the notice reaches the WebSocket user too.
        chat.proc.send_signal(signal.SIGTERM)
        await recv(a, "## server shutting down")
        await asyncio.wait_for(a.wait_closed(), IO_TIMEOUT)
        for s in (lobby, tom):
            s.close()
    with Chat() as chat:
        asyncio.run(main(chat))
        check(chat.stop() == 0, "exit status")


def test_slow_websocket_client_is_dropped():
    """A WebSocket client that never reads is dropped once --queue-limit bytes
    wait for it, and the room hears it leave at once (not after the 60 s
    write timeout: before the talker's rounds end); the others get every
    line, in order."""
    async def main(chat):
        talker = chat.tcp_join("talker")
        fast = await websockets.connect(chat.ws_url("fast"), max_size=None)
        expect(talker, b"## fast joined from 127.0.0.1.\n")
        # A raw client: handshake, then it never reads again.
        slow = socket.create_connection(("127.0.0.1", chat.http), timeout=IO_TIMEOUT)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(b"GET /ws?name=slow HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        expect(talker, b"## slow joined from 127.0.0.1.\n")
        await recv(fast, "## slow joined from 127.0.0.1.")
        # 10 MiB in rounds of 10 lines (under the fast ones' queue bound);
        # both fast clients read each round before the next.
        lines, per, payload = 2500, 10, b"z" * 4000
        got = []
        heard = 0
        tbuf = bytearray()
        fast_heard_left = None
        for r in range(lines // per):
            talker.sendall(b"".join(b"%04d %s\n" % (i, payload) for i in range(r * per, r * per + per)))
            while len(got) < (r + 1) * per:
                m = await asyncio.wait_for(fast.recv(), IO_TIMEOUT)
                if m.startswith("talker> "):
                    got.append(m)
                elif m == "## slow left the chat." and fast_heard_left is None:
                    fast_heard_left = r
            while heard < (r + 1) * per:
                chunk = talker.recv(1 << 20)
                check(chunk, "the talker was disconnected")
                tbuf += chunk
                heard = tbuf.count(b"talker> ")
        check(got == ["talker> %04d %s" % (i, payload.decode()) for i in range(lines)],
              "the fast client lost or reordered lines")
        # The drop comes early (64 KiB of 10 MiB), its notice right after it.
        check(fast_heard_left is not None and fast_heard_left < lines // per - 1,
              "the fast client did not hear slow leave during the rounds")
        check(b"## slow left the chat.\n" in tbuf, "the talker did not hear slow leave during the rounds")
        check(any("slow disconnected" in l for l in chat.log), "the drop was not logged: %r" % chat.log[-5:])
        slow.close()
        await fast.close()
        talker.close()
    with Chat("--queue-limit", "65536") as chat:
        asyncio.run(main(chat))
        check(chat.stop() == 0, "exit status")


# ---- long polling --------------------------------------------------------------

def test_long_polling_with_curl():
    with Chat("--backlog", "1") as chat:
        tcp = chat.tcp_join("tom")
        tcp.sendall(b"old\nnewer\n")
        expect(tcp, b"tom> old\ntom> newer\n")
        s, _, body = curl("-X", "POST", chat.base + "/join?room=lobby&name=tom")
        check(s == 409 and body == b"That username is already taken.\n", "taken: %d %r" % (s, body))
        s, _, body = curl("-X", "POST", chat.base + "/join?name=a%20b")
        check(s == 400, "bad name: %d %r" % (s, body))
        s, _, body = curl("-X", "POST", chat.base + "/join?name=%2Fwho")
        check(s == 400 and b"reserved" in body, "reserved name: %d %r" % (s, body))
        s, _, body = curl("-X", "POST", chat.base + "/join?name=pat")
        check(s == 200 and len(body.strip()) == 32, "join: %d %r" % (s, body))
        auth = "name=pat&token=" + body.strip().decode()
        expect(tcp, b"## pat joined from 127.0.0.1.\n")
        s, h, body = curl(chat.base + "/poll?%s&cursor=0" % auth)
        check(s == 200 and body == b"~ tom> newer\n" and h["x-cursor"] == "1", "backlog: %d %r %r" % (s, h, body))
        # The same cursor again: the line was not acknowledged, it comes again.
        s, h, body = curl(chat.base + "/poll?%s&cursor=0" % auth)
        check(body == b"~ tom> newer\n", "re-poll: %r" % body)
        s, h, body = curl(chat.base + "/poll?%s&cursor=1&timeout=0" % auth)
        check(s == 200 and body == b"" and h["x-cursor"] == "1", "empty poll: %d %r %r" % (s, h, body))
        # A parked poll is answered by the next line.
        out = {}
        t = threading.Thread(target=lambda: out.update(r=curl(chat.base + "/poll?%s&cursor=1" % auth)))
        t.start()
        time.sleep(0.3)
        tcp.sendall(b"wake up\n")
        t.join(IO_TIMEOUT)
        s, h, body = out["r"]
        check(s == 200 and body == b"tom> wake up\n" and h["x-cursor"] == "2", "parked poll: %d %r" % (s, body))
        s, _, _ = curl("-X", "POST", "--data-binary", "hello\n/who\n", chat.base + "/send?" + auth)
        check(s == 200, "send: %d" % s)
        expect(tcp, b"tom> wake up\npat> hello\n")
        s, h, body = curl(chat.base + "/poll?%s&cursor=2" % auth)
        check(body == b"pat> hello\n## 2 users: tom, pat\n" and h["x-cursor"] == "4", "after send: %r" % body)
        s, _, body = curl(chat.base + "/poll?name=pat&token=nope&cursor=0")
        check(s == 403, "a wrong token: %d %r" % (s, body))
        s, _, _ = curl("-X", "POST", chat.base + "/leave?" + auth)
        check(s == 200, "leave: %d" % s)
        expect(tcp, b"## pat left the chat.\n")
        s, _, _ = curl(chat.base + "/poll?%s&cursor=4" % auth)
        check(s == 403, "a poll after leaving: %d" % s)
        tcp.close()
        check(chat.stop() == 0, "exit status")


def test_poller_that_falls_behind_is_dropped():
    """A long-polling user with more than --queue-limit bytes unacknowledged
    is dropped: the room hears it leave (the reaper, within seconds), and its
    next poll is 410 with the notice."""
    with Chat("--queue-limit", "4096") as chat:
        tom = chat.tcp_join("tom")
        s, _, body = curl("-X", "POST", chat.base + "/join?name=pat")
        check(s == 200, "join: %d %r" % (s, body))
        auth = "name=pat&token=" + body.strip().decode()
        expect(tom, b"## pat joined from 127.0.0.1.\n")
        for c in b"ab":  # one at a time: tom's own queue has the same bound
            tom.sendall(bytes([c]) * 3000 + b"\n")
            expect(tom, b"tom> " + bytes([c]) * 3000 + b"\n")
        expect(tom, b"## pat left the chat.\n")
        check(any("pat disconnected" in l for l in chat.log), "the drop was not logged")
        s, _, body = curl(chat.base + "/poll?%s&cursor=0" % auth)
        check(s == 403, "a poll after the drop: %d %r" % (s, body))
        tom.close()
        check(chat.stop() == 0, "exit status")


# ---- the page in headless Chromium ---------------------------------------------

class DevTools:
    """Just enough of Chromium's DevTools protocol: commands on the browser or
    on a page's flat session, answers matched by id (events are ignored)."""

    def __init__(self, url):
        self.url = url
        self.next_id = 0

    async def __aenter__(self):
        self.ws = await websockets.connect(self.url, max_size=None)
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()

    async def call(self, method, session=None, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        await self.ws.send(json.dumps(msg))
        while True:
            r = json.loads(await asyncio.wait_for(self.ws.recv(), IO_TIMEOUT))
            if r.get("id") == self.next_id:
                if "error" in r:
                    raise AssertionError("%s: %s" % (method, r["error"]))
                return r["result"]

    async def open(self, url):
        target = (await self.call("Target.createTarget", url=url))["targetId"]
        return (await self.call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]

    async def js(self, session, expr):
        r = await self.call("Runtime.evaluate", session, expression=expr, returnByValue=True)
        return r["result"].get("value")

    async def wait_for(self, session, expr, what):
        deadline = time.time() + IO_TIMEOUT
        while time.time() < deadline:
            if await self.js(session, expr):
                return
            await asyncio.sleep(0.1)
        log = await self.js(session, "document.getElementById('log').innerText")
        raise AssertionError("%s never happened; the page shows %r" % (what, log))


def test_chromium_two_browser_users_and_a_tcp_user():
    """ann (WebSocket) and bea (the page's long-polling fallback) in Chromium,
    tom over TCP, in topic1: the backlog is marked, joins are seen, a line
    with HTML stays text, who lists all three; a screenshot is kept."""
    chromium = shutil.which("chromium")
    check(chromium, "chromium is not installed (scripts/packages/net.txt)")
    artifacts = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(GREEN))), "test-artifacts")
    os.makedirs(artifacts, exist_ok=True)

    async def main(chat, devtools_url):
        tom = chat.tcp_join("tom")
        tom.sendall(b"/join topic1\nfirst\n")
        expect(tom, b"## you are in topic1.\ntom> first\n")
        async with DevTools(devtools_url) as dt:
            log = "document.getElementById('log').innerText"
            ann = await dt.open(chat.base + "/?name=ann&room=topic1")
            await dt.wait_for(ann, log + ".includes('~ tom> first')", "ann's backlog")
            check(await dt.js(ann, "document.querySelector('#log div').className") == "backlog",
                  "the backlog line is not marked")
            expect(tom, b"## ann joined from 127.0.0.1.\n")
            bea = await dt.open(chat.base + "/?name=bea&room=topic1&transport=poll")
            await dt.wait_for(bea, log + ".includes('~ tom> first')", "bea's backlog")
            expect(tom, b"## bea joined from 127.0.0.1.\n")
            await dt.wait_for(ann, log + ".includes('## bea joined from 127.0.0.1.')", "ann seeing bea join")
            say = "document.getElementById('say').value = %s; document.getElementById('send').requestSubmit()"
            await dt.js(ann, say % json.dumps("hello from ann"))
            expect(tom, b"ann> hello from ann\n")
            await dt.js(bea, say % json.dumps("<b>not bold</b> & <script>x()</script>"))
            expect(tom, b"bea> <b>not bold</b> & <script>x()</script>\n")
            tom.sendall(b"hi browsers\n")
            expect(tom, b"tom> hi browsers\n")
            want = ["tom> first", "ann> hello from ann", "bea> <b>not bold</b> & <script>x()</script>",
                    "tom> hi browsers"]
            for who, page in (("ann", ann), ("bea", bea)):
                await dt.wait_for(page, log + ".includes('tom> hi browsers')", who + " seeing tom's line")
                lines = (await dt.js(page, log)).split("\n")
                chat_lines = [l.lstrip("~ ") for l in lines if "> " in l]
                check(chat_lines == want, "%s sees %r" % (who, lines))
                check(await dt.js(page, "document.querySelectorAll('#log b, #log script').length") == 0,
                      "%s's page made HTML of a line" % who)
                await dt.wait_for(page, "document.getElementById('who').innerText == '3 users: tom, ann, bea'",
                                  who + "'s who list")
            # A taken name: the page goes back to its form and says why.
            taken = await dt.open(chat.base + "/?name=tom&room=topic1")
            await dt.wait_for(taken, "document.getElementById('error').innerText == "
                              "'That username is already taken.'", "the page telling a taken name")
            shot = await dt.call("Page.captureScreenshot", ann, format="png")
            with open(os.path.join(artifacts, "chat_web.png"), "wb") as f:
                f.write(__import__("base64").b64decode(shot["data"]))
        tom.close()

    # Chromium's helpers (renderer, crash handler) outlive its main process
    # for a moment and still write into the profile: the browser gets its own
    # session, the whole group is ended and waited for, and a file written
    # after that cannot fail the test.
    with Chat() as chat, tempfile.TemporaryDirectory(prefix="green-chromium.", ignore_cleanup_errors=True) as profile:
        browser = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                                    "--disable-sync", "--user-data-dir=" + profile, "--remote-debugging-port=0",
                                    "--window-size=420,800", "about:blank"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   start_new_session=True)
        try:
            url = None
            deadline = time.time() + IO_TIMEOUT
            while url is None and time.time() < deadline:
                line = browser.stderr.readline().decode(errors="replace")
                if not line:
                    break
                if line.startswith("DevTools listening on "):
                    url = line.split(" on ", 1)[1].strip()
            check(url, "Chromium did not report its DevTools address")
            threading.Thread(target=lambda: browser.stderr.read(), daemon=True).start()
            asyncio.run(main(chat, url))
        finally:
            stop_group(browser)
        check(chat.stop() == 0, "exit status")


def stop_group(proc):
    """Ends `proc` and every process of its group (start_new_session), and
    waits until none is left."""
    def signal_group(sig):
        try:
            os.killpg(proc.pid, sig)
            return True
        except ProcessLookupError:
            return False
    signal_group(signal.SIGTERM)
    try:
        proc.wait(timeout=IO_TIMEOUT)
    except subprocess.TimeoutExpired:
        signal_group(signal.SIGKILL)
        proc.wait()
    for last in (signal.SIGKILL, None):
        deadline = time.time() + IO_TIMEOUT
        while signal_group(0):
            if time.time() > deadline:
                break
            time.sleep(0.05)
        else:
            return
        if last:
            signal_group(last)


if __name__ == "__main__":
    e2e.main(globals())
