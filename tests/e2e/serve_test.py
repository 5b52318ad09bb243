#!/usr/bin/env python3
"""End-to-end tests of `green serve echo` and `green serve chat` with real TCP
clients over loopback. Transcripts are checked byte for byte against the
seed's chat protocol. Usage: serve_test.py PATH/TO/green [TEST...]"""
import os
import random
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import e2e  # noqa: E402
from e2e import check, expect, recv_exactly, recv_until_eof  # noqa: E402

GREEN = None


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server(e2e.Server):
    """`green serve ARGS --host HOST --port PORT` (0: any free port)."""

    def __init__(self, *args, host="127.0.0.1", port=0, lines=1):
        # Under AddressSanitizer freed memory sits in a quarantine (256 MiB by
        # default), which would hide whether the server's memory is bounded.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4"
        super().__init__([GREEN, "serve", *args, "--host", host, "--port", str(port)], lines=lines, env=env)

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1


PROMPT = b"Please enter your name: "
TAKEN = b"That username is already taken.\n"


def join(server, name, others=()):
    """Connects and joins as `name`; every client in `others` must see the join."""
    s = server.connect()
    expect(s, PROMPT, name + " prompt")
    s.sendall(name.encode() + b"\n")
    for o in others:
        expect(o, b"## %s joined from 127.0.0.1.\n" % name.encode(), "join notice")
    return s


# ---- chat ---------------------------------------------------------------------

def test_chat_transcript():
    with Server("chat") as srv:
        alice = srv.connect()
        expect(alice, PROMPT)
        alice.sendall(b"\n")                      # empty name: asked again
        expect(alice, PROMPT)
        alice.sendall(b"  alice  \r\n")          # stripped, like the seed
        bob = srv.connect()
        expect(bob, PROMPT)
        bob.sendall(b"alice\n")                   # taken
        expect(bob, TAKEN + PROMPT)
        bob.sendall(b"bad name\n")                # a space: not a name
        expect(bob, b"Names are 1-32 printable characters without spaces.\n" + PROMPT)
        bob.sendall(b"x" * 33 + b"\n")            # too long
        expect(bob, b"Names are 1-32 printable characters without spaces.\n" + PROMPT)
        bob.sendall(b"bob\n")
        expect(alice, b"## bob joined from 127.0.0.1.\n")
        alice.sendall(b"hello bob\n")
        expect(alice, b"alice> hello bob\n")      # the sender hears itself
        expect(bob, b"alice> hello bob\n")
        bob.sendall(b"  hi alice  \n")
        expect(alice, b"bob> hi alice\n")
        expect(bob, b"bob> hi alice\n")
        bob.sendall(b"/who\n")
        expect(bob, b"## 2 users: alice, bob\n")
        # Over-long lines are cut to 4096 bytes, the rest of the line dropped;
        # invalid UTF-8 and control characters become U+FFFD.
        bob.sendall(b"y" * 5000 + b"\n" + b"caf\xe9 \x1b[1m ok \xc3\xa9\n")
        want = b"bob> " + b"y" * 4096 + b"\n" + b"bob> caf\xef\xbf\xbd \xef\xbf\xbd[1m ok \xc3\xa9\n"
        expect(alice, want)
        expect(bob, want)
        # A client that vanishes mid-line: its partial line still goes out
        # (as the seed's `for l in f` does), then the leave notice.
        carol = join(srv, "carol", [alice, bob])
        # She gets the lobby's backlog, marked (read, so her close is a FIN).
        expect(carol, b"".join(b"~ " + l for l in
                               (b"alice> hello bob\n", b"bob> hi alice\n") + tuple(want.splitlines(True))))
        carol.sendall(b"half a li")
        time.sleep(0.05)
        carol.close()
        for s in (alice, bob):
            expect(s, b"carol> half a li\n## carol left the chat.\n")
        bob.sendall(b"/quit\n")
        check(recv_until_eof(bob) == b"", "bob got bytes after /quit")
        expect(alice, b"## bob left the chat.\n")
        # The name is free again.
        bob2 = join(srv, "bob", [alice])
        alice.sendall(b"/who\n")
        expect(alice, b"## 2 users: alice, bob\n")
        bob2.close()
        expect(alice, b"## bob left the chat.\n")
        # SIGTERM: everyone, named or still at the prompt, gets the notice.
        dave = srv.connect()
        expect(dave, PROMPT)
        rc = srv.stop(signal.SIGTERM)
        check(rc == 0, "chat exited %d on SIGTERM" % rc)
        check(recv_until_eof(alice) == b"## server shutting down\n", "alice's shutdown notice")
        check(recv_until_eof(dave) == b"## server shutting down\n", "dave's shutdown notice")


def test_chat_rooms_and_backlog():
    """Users start in lobby; /join moves them (the room is made on demand),
    /rooms counts, /who and messages stay inside a room; whoever joins a room
    gets its last --backlog messages marked '~ '; names are server-wide."""
    with Server("chat", "--backlog", "2") as srv:
        alice = join(srv, "alice")
        for i in range(3):
            alice.sendall(b"m%d\n" % i)
            expect(alice, b"alice> m%d\n" % i)
        bob = join(srv, "bob", [alice])
        expect(bob, b"~ alice> m1\n~ alice> m2\n", "lobby backlog")
        bob.sendall(b"/join  kitchen \n")
        expect(alice, b"## bob went to kitchen.\n")
        expect(bob, b"## you are in kitchen.\n")  # a new room: no backlog
        bob.sendall(b"/who\n/rooms\nin the kitchen\n")
        expect(bob, b"## 1 user: bob\n## rooms: kitchen (1), lobby (1)\nbob> in the kitchen\n")
        alice.sendall(b"/who\n")
        expect(alice, b"## 1 user: alice\n")      # bob's line never reached the lobby
        carol = srv.connect()
        expect(carol, PROMPT)
        carol.sendall(b"bob\n")                   # taken, though bob is in another room
        expect(carol, TAKEN + PROMPT)
        carol.sendall(b"carol\n")
        expect(alice, b"## carol joined from 127.0.0.1.\n")
        expect(carol, b"~ alice> m1\n~ alice> m2\n")
        carol.sendall(b"/join kitchen\n")
        expect(bob, b"## carol joined from 127.0.0.1.\n")
        expect(carol, b"## you are in kitchen.\n~ bob> in the kitchen\n")
        carol.sendall(b"/join bad room\n/join kitchen\n")
        expect(carol, b"## room names are 1-32 printable characters without spaces\n## you are in kitchen.\n")
        bob.close()
        expect(carol, b"## bob left the chat.\n")
        carol.sendall(b"/rooms\n")
        expect(carol, b"## rooms: kitchen (1), lobby (1)\n")
        # An empty room with a backlog stays; one without is forgotten.
        carol.sendall(b"/join tmp\n/join lobby\n/rooms\n")
        expect(carol, b"## you are in tmp.\n## you are in lobby.\n~ alice> m1\n~ alice> m2\n"
                      b"## rooms: kitchen (0), lobby (2)\n")
        expect(alice, b"## carol went to kitchen.\n## carol joined from 127.0.0.1.\n")
        check(srv.stop() == 0, "chat exit status")


def test_chat_max_clients():
    with Server("chat", "--max-clients", "1") as srv:
        a = join(srv, "a")
        b = srv.connect()
        check(recv_until_eof(b) == b"## server full, try again later\n", "the second client was not turned away")
        a.sendall(b"still here\n")
        expect(a, b"a> still here\n")
        # SIGINT is an interrupted run (130, as for every green tool); the
        # summary counts both connections, one join and one message.
        rc = srv.stop(signal.SIGINT)
        check(rc == 130, "chat exited %d on SIGINT" % rc)
        check("green serve chat: 2 connections, 1 joined, 1 message in " in "".join(srv.log),
              "no summary on SIGINT: %r" % srv.log)


def test_chat_name_timeout():
    # A client that never gives a name is told and dropped, so it cannot hold
    # the only slot of --max-clients 1.
    with Server("chat", "--max-clients", "1", "--name-timeout", "300ms") as srv:
        silent = srv.connect()
        check(recv_until_eof(silent) == PROMPT + b"## no name given within 300ms, bye\n",
              "the silent client was not dropped")
        a = join(srv, "a")
        a.sendall(b"in\n")
        expect(a, b"a> in\n")


def test_chat_reserved_names():
    # Names that would read as commands, server notices or backlog lines are
    # refused with a reason and asked again, as are malformed ones.
    reserved = b"That name is reserved: names may not start with '/', '#' or '~', nor be 'server'.\n"
    bad = b"Names are 1-32 printable characters without spaces.\n"
    with Server("chat") as srv:
        s = srv.connect()
        expect(s, PROMPT)
        for name, answer in ((b"/who", reserved), (b"server", reserved), (b"SeRvEr", reserved),
                             (b"##x", reserved), (b"~x", reserved), (b"a\x1bb", bad), (b"x" * 33, bad),
                             (b"", b"")):
            s.sendall(name + b"\n")
            expect(s, answer + PROMPT, "name %r" % name)
        s.sendall(b"servers\n")
        s.sendall(b"/who\n")
        expect(s, b"## 1 user: servers\n", "a name merely starting with 'server'")


def test_localhost_both_families():
    # --host localhost listens on 127.0.0.1 and ::1 (one port), says so, and
    # both kinds of client reach the same server, which counts them together.
    with Server("echo", "-v", host="localhost", lines=2) as srv:
        check(srv.head[1] == "listening on [::1]:%d\n" % srv.port, "second line: %r" % srv.head)
        clients = []
        for addr in ("127.0.0.1", "::1"):
            c = srv.connect(addr=addr)
            c.sendall(b"ping\n")
            expect(c, b"ping\n", "echo over " + addr)
            clients.append(c)
        for c in clients:
            c.close()
        check(srv.stop() == 0, "did not stop cleanly")
        log = "".join(srv.log)
        check(log.count("caught SIGTERM") == 1, "the stop logged once per listener: %r" % srv.log)
        check(re.search(r"connect \[::1\]:\d+ \(2 clients\)", log), "the clients counted per listener: %r" % log)
    with Server("chat", host="localhost", lines=2) as srv:
        a = join(srv, "a")
        b = srv.connect(addr="::1")
        expect(b, PROMPT)
        b.sendall(b"b\n")
        expect(a, b"## b joined from ::1.\n")


def test_localhost_one_family_taken():
    # The port is taken on ::1 only: the server says so and serves IPv4.
    # (Reversed, it would serve IPv6; both taken is the usual "cannot listen".)
    holder = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    holder.bind(("::1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        with Server("echo", host="localhost", port=port, lines=2) as srv:
            c = srv.connect()
            c.sendall(b"ping\n")
            expect(c, b"ping\n")
            check(srv.stop() == 0, "did not stop cleanly")
            log = "".join(srv.head + srv.log)
            check("listen on [::1]:%d: Address already in use; serving on the other address" % port in log,
                  "the unbound address was not reported: %r" % log)
            check(log.count("listening on ") == 1, "listening on an address it did not bind: %r" % log)
    finally:
        holder.close()


def test_chat_slow_reader():
    """A client that never reads is disconnected once its queue is full (1 MiB
    by default); the others get every line, in order, and the server's memory
    stays bounded."""
    with Server("chat") as srv:
        talker = join(srv, "talker")
        listener = join(srv, "listener", [talker])
        slow = srv.connect(rcvbuf=4096)
        expect(slow, PROMPT)
        slow.sendall(b"slow\n")
        expect(talker, b"## slow joined from 127.0.0.1.\n")
        expect(listener, b"## slow joined from 127.0.0.1.\n")
        rss_before = srv.rss_kib()
        lines = 2500   # 10 MiB: more than every socket buffer on the way holds
        payload = b"z" * 4000

        # The talker sends in rounds of 100 lines and both fast clients read
        # each round before the next, so only the silent client falls behind.
        got = {"talker": bytearray(), "listener": bytearray()}
        for r in range(lines // 100):
            talker.sendall(b"".join(b"%05d %s\n" % (i, payload) for i in range(r * 100, r * 100 + 100)))
            for who, sock in (("talker", talker), ("listener", listener)):
                buf = got[who]
                want = (r + 1) * 100
                # Until the round's last line is whole: its prefix alone
                # may arrive in one read and the rest of it in the next.
                while buf.count(b"talker> ") < want or not buf.endswith(b"\n"):
                    chunk = sock.recv(1 << 20)
                    if not chunk:
                        raise AssertionError("%s was disconnected" % who)
                    buf += chunk
        got_t, got_l = [bytes(got["talker"])], [bytes(got["listener"])]
        for who, got in (("listener", got_l[0]), ("talker", got_t[0])):
            msgs = got.split(b"\n")
            chat = [m for m in msgs if m.startswith(b"talker> ")]
            check(len(chat) == lines, "%s got %d of %d lines" % (who, len(chat), lines))
            bad = next((i for i, m in enumerate(chat) if m != b"talker> %05d %s" % (i, payload)), None)
            check(bad is None, "%s got lines out of order or changed: line %s is %r" %
                  (who, bad, chat[bad][:20] + b"... (%d bytes)" % len(chat[bad]) if bad is not None else b""))
            check(b"## slow left the chat." in msgs, "%s never saw the slow reader leave" % who)
        rss_after = srv.rss_kib()
        check(rss_after - rss_before < 32 * 1024, "server grew by %d KiB" % (rss_after - rss_before))
        check(any("slow disconnected" in l for l in srv.log), "the drop was not logged: %r" % srv.log)
        talker.sendall(b"/who\n")
        expect(talker, b"## 2 users: talker, listener\n")
        check(srv.stop() == 0, "chat exit status")


def test_chat_thousand_clients():
    """1,000 clients join, each sends 10 lines; every line reaches everyone,
    in per-sender order."""
    raise_nofile()
    n, per = 1000, 10
    with Server("chat") as srv:
        sel = selectors.DefaultSelector()
        socks = []
        for i in range(n):
            s = srv.connect()
            s.sendall(b"c%d\n" % i)
            socks.append(s)
        bufs = [bytearray() for _ in range(n)]
        counts = [0] * n   # newlines received per client
        target = [1 << 60] * n
        done = [0]         # clients that received all they should
        notices = [0]      # "## ..." lines received by all clients together
        for i, s in enumerate(socks):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)

        def pump(until, deadline):
            while not until():
                if time.time() > deadline:
                    raise AssertionError("timed out waiting for the chat traffic")
                for key, _ in sel.select(timeout=1.0):
                    try:
                        chunk = key.fileobj.recv(1 << 16)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        raise AssertionError("client %d lost its connection" % key.data)
                    i = key.data
                    bufs[i] += chunk
                    before = counts[i]
                    counts[i] += chunk.count(b"\n")
                    notices[0] += chunk.count(b"## ")
                    if before < target[i] <= counts[i]:
                        done[0] += 1

        deadline = time.time() + 120
        # Everyone is in once each of the n(n-1)/2 pairs produced one notice
        # (the earlier of the two hears the later one join).
        pump(lambda: notices[0] >= n * (n - 1) // 2, deadline)
        check(notices[0] == n * (n - 1) // 2, "%d join notices" % notices[0])
        for s in socks:
            s.setblocking(True)
        for r in range(per):
            for i, s in enumerate(socks):
                s.sendall(b"%d\n" % r)
        for s in socks:
            s.setblocking(False)
        want_lines = n * per
        assert per <= 10  # rounds are single digits, compared as bytes below
        for i in range(n):
            target[i] = want_lines + counts[i]
        done[0] = 0
        pump(lambda: done[0] >= n, deadline)
        heard = []
        for i, b in enumerate(bufs):
            msgs = bytes(b).split(b"\n")
            check(msgs[0].startswith(PROMPT), "client %d: no prompt" % i)
            msgs[0] = msgs[0][len(PROMPT):]
            joins = {int(m[4:m.index(b" ", 4)]) for m in msgs if m.startswith(b"## c")}
            check(i not in joins, "client %d heard its own join" % i)
            heard.append(joins)
            # Per sender the round numbers must rise strictly; with 10,000
            # lines in all and rounds 0-9 that means each sender's 10 lines,
            # each once, in the order sent.
            last = {}
            count = 0
            for m in msgs:
                if m[:1] != b"c":
                    continue
                sender, _, r = m.partition(b"> ")
                if last.get(sender, b"/") >= r:
                    raise AssertionError("client %d got %r after round %r of %r" % (i, m, last[sender], sender))
                last[sender] = r
                count += 1
            check(count == want_lines, "client %d got %d lines, want %d" % (i, count, want_lines))
        # Joins are consistent: of every two clients exactly one heard the other.
        for i in range(n):
            for j in heard[i]:
                check(i not in heard[j], "clients %d and %d both heard the other join" % (i, j))
        for s in socks:
            s.close()
        check(srv.stop() == 0, "chat exit status")


# ---- echo ---------------------------------------------------------------------

def test_echo_ten_mib_binary():
    with Server("echo") as srv:
        s = srv.connect()
        data = random.Random(6).randbytes(10 * 1024 * 1024)
        out = []
        t = threading.Thread(target=lambda: out.append(recv_until_eof(s)))
        t.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)    # half-close: the echo still comes back
        t.join()
        check(out[0] == data, "10 MiB came back different (%d bytes)" % len(out[0]))
        check(srv.stop() == 0, "echo exit status")


def test_echo_lines_and_thousand_clients():
    raise_nofile()
    with Server("echo") as srv:
        socks = [srv.connect() for _ in range(1000)]
        for i, s in enumerate(socks):
            s.sendall(b"hello %d\nsecond line %d\n" % (i, i))
        for i, s in enumerate(socks):
            want = b"hello %d\nsecond line %d\n" % (i, i)
            expect(s, want, "client %d" % i)
        for s in socks:
            s.close()
        check(srv.stop() == 0, "echo exit status")


def test_echo_idle_timeout():
    with Server("echo", "--idle-timeout", "300ms", "-v") as srv:
        idle = srv.connect()
        busy = srv.connect()
        # A client that talks more often than the timeout stays connected
        # well past it; the silent one is closed meanwhile.
        deadline = time.time() + 1.2
        while time.time() < deadline:
            busy.sendall(b"x")
            expect(busy, b"x")
            time.sleep(0.05)
        check(recv_until_eof(idle) == b"", "the idle client got data")
        check(srv.stop() == 0, "echo exit status")
        check(any("idle timeout" in l for l in srv.log), "no idle timeout logged with -v: %r" % srv.log)


def test_echo_max_clients():
    with Server("echo", "--max-clients", "2") as srv:
        a, b = srv.connect(), srv.connect()
        for s in (a, b):
            s.sendall(b"in\n")
            expect(s, b"in\n")
        c = srv.connect()
        check(recv_until_eof(c) == b"", "a third client was served")
        a.close()
        # The slot frees once the server saw a's close.
        for _ in range(200):
            d = srv.connect()
            try:
                d.sendall(b"again\n")
                if recv_exactly(d, 6) == b"again\n":
                    break
            except (ConnectionResetError, BrokenPipeError):
                pass  # turned away: the server had not seen a's close yet
            d.close()
            time.sleep(0.01)
        else:
            raise AssertionError("no slot came free after a client left")
        b.sendall(b"b\n")
        expect(b, b"b\n")
        check(srv.stop() == 0, "echo exit status")


def test_echo_sigterm_closes_connections():
    with Server("echo", "--threads", "2") as srv:
        socks = [srv.connect() for _ in range(20)]
        for s in socks:
            s.sendall(b"x")
            expect(s, b"x")
        check(srv.stop(signal.SIGTERM) == 0, "echo exited non-zero on SIGTERM")
        for s in socks:
            check(recv_until_eof(s) == b"", "a connection stayed open")
        # Both hubs' connections and bytes are in the one summary.
        check("green serve echo: 20 connections, 20 B echoed in " in "".join(srv.log),
              "no summary on SIGTERM: %r" % srv.log)


def test_usage_errors():
    r = subprocess.run([GREEN, "serve", "echo", "--host", "example.invalid"], capture_output=True)
    check(r.returncode == 2, "a host name exited %d" % r.returncode)
    check(b"--host" in r.stderr, "the error does not name --host: %r" % r.stderr)
    r = subprocess.run([GREEN, "serve", "echo", "--idle-timeout", "soon"], capture_output=True)
    check(r.returncode == 2 and b"soon" in r.stderr, "a bad duration: %d %r" % (r.returncode, r.stderr))
    with Server("echo") as srv:
        r = subprocess.run([GREEN, "serve", "echo", "--host", "127.0.0.1", "--port", str(srv.port)],
                           capture_output=True)
        check(r.returncode == 1 and b"127.0.0.1:%d" % srv.port in r.stderr,
              "a port in use: %d %r" % (r.returncode, r.stderr))
        srv.stop()


if __name__ == "__main__":
    e2e.main(globals())
