"""What the Python end-to-end tests share: the runner (each test_* function
reported as ok or FAIL, a failure not stopping the others), a server process
that reports its ports on stderr, socket and curl helpers.

A test file puts this folder on sys.path, imports what it uses and ends with
`if __name__ == "__main__": e2e.main(globals())`, so it runs from ctest (its
*_test.sh) and by hand: `python3 tests/e2e/serve_test.py build/release/tools/green/green [TEST...]`."""
import re
import signal
import socket
import subprocess
import sys
import threading
import time

# Every wait is bounded, so a broken server fails a test instead of hanging
# it; the bound is far above what a correct server needs.
IO_TIMEOUT = 30.0


def run_tests(namespace, names=None):
    names = names or [n for n in namespace if n.startswith("test_")]
    failures = []
    for name in names:
        start = time.time()
        try:
            namespace[name]()
            print("ok   %s (%.1fs)" % (name, time.time() - start), flush=True)
        except Exception as e:  # report every failure, keep going
            failures.append(name)
            print("FAIL %s: %s" % (name, e), flush=True)
    return failures


def finish(failures):
    if failures:
        print("%d failed: %s" % (len(failures), " ".join(failures)))
        sys.exit(1)


def main(namespace, arg="GREEN"):
    """A test file's main: its first argument (the green binary, or a
    folder) becomes the file's global `arg`, then the tests named after it
    run, or all of them. Exits 1 when any failed."""
    if len(sys.argv) < 2:
        sys.exit("usage: %s %s [TEST...]" % (sys.argv[0], arg))
    namespace[arg] = sys.argv[1]
    finish(run_tests(namespace, sys.argv[2:]))


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def recv_exactly(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def expect(s, want, what=""):
    """The next bytes from socket `s` are `want`."""
    got = recv_exactly(s, len(want))
    if got != want:
        raise AssertionError("%sexpected %r, got %r" % (what + ": " if what else "", want, got))


def recv_until_eof(s):
    buf = bytearray()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return bytes(buf)
        buf += chunk


def exchange(port, data):
    """Connects to 127.0.0.1:`port`, sends `data` and returns everything until
    the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        s.sendall(data)
        return recv_until_eof(s)


def curl(*args):
    """curl -sS ARGS, bounded: (exit status, stdout bytes, stderr text)."""
    r = subprocess.run(["curl", "-sS", "--max-time", str(IO_TIMEOUT), *args], capture_output=True,
                       timeout=IO_TIMEOUT * 2)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def curl_ok(*args):
    """curl() that must succeed: (stdout bytes, stderr text)."""
    rc, out, err = curl(*args)
    check(rc == 0, "curl %s: %s" % (" ".join(args), err))
    return out, err


class Server:
    """A server process that reports where it listens on stderr ("listening
    on 127.0.0.1:PORT", "listening on http://127.0.0.1:PORT/"). self.head is
    its first `lines` lines of stderr (one per listener, and what came
    between), self.ports the ports they name, self.port the first, which
    must be on 127.0.0.1. Threads drain stderr into self.log (and stdout into
    self.out when `stdout` is a pipe), so a verbose server never blocks on a
    full pipe. stop() signals and waits; leaving a `with` block kills a
    server still running."""

    LISTENING = re.compile(r"listening on (?:http://)?(\S+):(\d+)/?$")

    def __init__(self, argv, lines=1, stdout=subprocess.DEVNULL, env=None):
        self.name = argv[0]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, env=env)
        self.head = [self.proc.stderr.readline().decode() for _ in range(lines)]
        found = [m for m in (self.LISTENING.match(l.rstrip("\n")) for l in self.head) if m]
        if not found or found[0].group(1) != "127.0.0.1":
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("%s did not report its port: %r" % (self.name, self.head))
        self.ports = [int(m.group(2)) for m in found]
        self.port = self.ports[0]
        self.log, self.out = [], []
        self.threads = [threading.Thread(target=self._drain, args=(self.proc.stderr, self.log), daemon=True)]
        if stdout == subprocess.PIPE:
            self.threads.append(threading.Thread(target=self._drain, args=(self.proc.stdout, self.out), daemon=True))
        for t in self.threads:
            t.start()

    @staticmethod
    def _drain(stream, into):
        for line in stream:
            into.append(line.decode(errors="replace"))

    def connect(self, rcvbuf=None, addr="127.0.0.1"):
        s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(IO_TIMEOUT)
        s.connect((addr, self.port))
        return s

    def stop(self, sig=signal.SIGTERM, timeout=IO_TIMEOUT):
        """Sends `sig` and returns the exit status, once stdout and stderr
        were read to the end (the summary included)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("%s did not stop on %s" % (self.name, sig))
        for t in self.threads:
            t.join(timeout=timeout)
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
