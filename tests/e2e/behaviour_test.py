#!/usr/bin/env python3
"""One behaviour for every tool, checked tool by tool against real servers on
loopback (nginx for fetch, Knot for resolve, real TCP clients for serve):

  - input: no file or '-' reads stdin, whether stdin is a file, a pipe or a
    terminal (a pseudo-terminal here, typed line by line and ended with ^D);
  - `| head -n 1` ends the run quietly with status 0;
  - --json is JSON Lines (every line parsed with Python's json module);
  - colour: on a terminal by default, never with NO_COLOR or --color=never,
    always with --color=always (even into a pipe);
  - progress shows only when stderr is a terminal;
  - SIGINT mid-run: what finished is written, the summary is printed, 130;
  - exit status 0 / 1 / 2 as documented (2 with the good results still
    written);
  - odd input: a UTF-8 byte-order mark and CRLF line ends; unreadable files
    among good ones (each named on one line, the others still read, status
    2); stdin, stdout or stderr closed by the shell; a non-blocking stdin;
  - stdout that fails (`> /dev/full`): reported once, a summary, status 1;
    stdout that nobody reads: SIGINT still stops the run with a summary
    whose numbers add up to the input, and the pipe's flags are untouched;
  - stderr that nobody reads never stalls the work: every result still
    reaches stdout and the run ends by itself (diagnostics are dropped).

Usage: behaviour_test.py PATH/TO/green [TEST...]"""
import fcntl
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import e2e  # noqa: E402
from e2e import check  # noqa: E402

GREEN = None
HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 60.0  # bounds every run; a correct one needs a fraction of it
SGR = re.compile(rb"\x1b\[[0-9;]*m")  # a colour escape (not the progress line's \x1b[K)
PROGRESS = b"\r\x1b[K"

work = None
http = None  # base URL of the private nginx
dns = None  # ADDR:PORT of the private Knot
BULK = 20000  # names in Knot's bulk.test zone


def env_with(**extra):
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm"
    for k, v in extra.items():
        env[k] = v
    return env


def run(args, stdin=subprocess.DEVNULL, input=None, env=None):
    """Runs green with pipes for stdout and stderr: (status, stdout, stderr)."""
    if input is not None:
        stdin = None
    p = subprocess.run([GREEN, *args], stdin=stdin, input=input, capture_output=True, env=env or env_with(),
                       timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr


def run_shell(script):
    p = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, env=env_with(G=GREEN),
                       timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr


def run_tty(args, typed=None, env=None, stderr_tty=True):
    """Runs green with stdin, stdout (and stderr unless stderr_tty is false)
    on a pseudo-terminal. `typed` lines are typed in, then ^D. Returns
    (status, what the terminal showed, stderr if it was a pipe)."""
    master, slave = os.openpty()
    p = subprocess.Popen([GREEN, *args], stdin=slave, stdout=slave,
                         stderr=slave if stderr_tty else subprocess.PIPE, env=env or env_with(),
                         start_new_session=True)
    os.close(slave)
    if typed is not None:
        for line in typed:
            os.write(master, line.encode() + b"\n")
        os.write(master, b"\x04")
    shown = bytearray()
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif p.poll() is not None:
            break
    os.close(master)
    err = p.stderr.read() if p.stderr else b""
    try:
        rc = p.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise AssertionError("%s did not end on a terminal" % args)
    return rc, bytes(shown), err


def lines_of(data):
    return [l for l in data.decode(errors="replace").splitlines() if l]


def json_lines(data, keys):
    rows = [json.loads(l) for l in data.decode().splitlines()]  # raises on anything but JSON Lines
    check(rows, "no JSON lines")
    for r in rows:
        check(isinstance(r, dict) and keys <= r.keys(), "a JSON line lacks %s: %r" % (keys, r))
    return rows


class Interrupt:
    """Starts green with its stdin a pipe kept open, so the run is mid-way
    (waiting for more input, or for its jobs) when SIGINT comes."""

    def __init__(self, args, feed=b"", env=None):
        self.p = subprocess.Popen([GREEN, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env or env_with())
        if feed:
            self.p.stdin.write(feed)
            self.p.stdin.flush()
        self.out = bytearray()

    def wait_for_lines(self, n):
        deadline = time.time() + TIMEOUT
        while self.out.count(b"\n") < n:
            check(time.time() < deadline, "no %d result lines before the interrupt: %r" % (n, bytes(self.out)))
            r, _, _ = select.select([self.p.stdout], [], [], 0.5)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                check(chunk, "stdout ended early: %r" % bytes(self.out))
                self.out += chunk

    def interrupt(self):
        """SIGINT with stdin still open (closing it first would end the run
        normally); returns (status, all of stdout, stderr)."""
        self.p.send_signal(signal.SIGINT)
        err = bytearray()
        streams = {self.p.stdout.fileno(): self.out, self.p.stderr.fileno(): err}
        deadline = time.time() + TIMEOUT
        while streams and time.time() < deadline:
            r, _, _ = select.select(list(streams), [], [], 0.5)
            for fd in r:
                chunk = os.read(fd, 65536)
                if chunk:
                    streams[fd] += chunk
                else:
                    del streams[fd]
        try:
            rc = self.p.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError("no exit after SIGINT")
        finally:
            self.p.stdin.close()
        return rc, bytes(self.out), bytes(err)


def colour_matrix(args, stdin_data=None, want_out=False, want_err=False, extra_env=None):
    """The colour rules for one command that has something to colour: on a
    terminal by default; never with NO_COLOR or --color=never; always with
    --color=always, even into pipes (and even with NO_COLOR set)."""
    e = dict(extra_env or {})

    def color(when):  # right after the tool's name: cron's main command takes what follows `--`
        return [args[0], "--color=" + when, *args[1:]]
    typed = stdin_data.splitlines() if stdin_data is not None else None
    rc, shown, _ = run_tty(args, typed, env_with(**e))
    check(SGR.search(shown), "no colour on a terminal: %r" % shown[-300:])
    rc, shown, _ = run_tty(args, typed, env_with(NO_COLOR="1", **e))
    check(not SGR.search(shown), "colour despite NO_COLOR: %r" % shown[-300:])
    rc, shown, _ = run_tty(color("never"), typed, env_with(**e))
    check(not SGR.search(shown), "colour despite --color=never: %r" % shown[-300:])
    inp = stdin_data.encode() if stdin_data is not None else None
    for env in (env_with(**e), env_with(NO_COLOR="1", **e)):
        rc, out, err = run(color("always"), input=inp, env=env)
        if want_out:
            check(SGR.search(out), "--color=always did not colour stdout: %r" % out[:300])
        if want_err:
            check(SGR.search(err), "--color=always did not colour stderr: %r" % err[:300])
    rc, out, err = run(args, input=inp)
    check(not SGR.search(out) and not SGR.search(err), "colour into a pipe by default: %r %r" % (out[:200], err[:200]))


def stdin_forms(args, text, check_result):
    """`args` reads `text` from stdin given as a file, a pipe ('-') and a terminal."""
    path = os.path.join(work, "stdin.txt")
    with open(path, "w") as f:
        f.write(text)
    with open(path) as f:
        rc, out, err = run(args, stdin=f)
    check_result("a file on stdin", rc, out)
    rc, out, err = run([*args, "-"], input=text.encode())
    check_result("a pipe on stdin ('-')", rc, out)
    rc, shown, _ = run_tty(args, text.splitlines(), stderr_tty=False)
    check_result("a terminal on stdin", rc, SGR.sub(b"", shown))


def quiet_head(script, what):
    rc, out, err = run_shell(script)
    check(rc == 0, "%s | head -n 1 exited %d: %r" % (what, rc, err[-300:]))
    check(len(lines_of(out)) == 1, "%s | head -n 1 printed %r" % (what, out[:300]))
    check(not re.search(rb"Broken pipe|EPIPE|terminate|Abort|rror:", err), "%s | head -n 1 was not quiet: %r"
          % (what, err[-300:]))


def to_dev_full(args, summary):
    """`green ARGS > /dev/full`: the error once on stderr, the summary, status 1."""
    with open("/dev/full", "wb") as full:
        p = subprocess.run([GREEN, *args], stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE,
                           env=env_with(), timeout=TIMEOUT)
    err = p.stderr
    check(p.returncode == 1, "%s > /dev/full exited %d: %r" % (args, p.returncode, err[-300:]))
    check(err.count(b"cannot write stdout: No space left on device") == 1,
          "%s > /dev/full did not say so once: %r" % (args, err[-300:]))
    check(summary is None or summary in err, "%s > /dev/full: no summary: %r" % (args, err[-300:]))


def stuck_reader(args, while_stuck=None):
    """Runs green with stdout a pipe that nobody reads; once the pipe is full
    (and `while_stuck()` returned), SIGINT. Returns (status, stderr); checks
    that green left the pipe's flags as they were (it shares them with this
    process)."""
    r, w = os.pipe()
    fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ: full sooner
    flags = fcntl.fcntl(w, fcntl.F_GETFL)
    p = subprocess.Popen([GREEN, *args], stdin=subprocess.DEVNULL, stdout=w, stderr=subprocess.PIPE, env=env_with())
    try:
        deadline = time.time() + TIMEOUT
        while True:
            waiting = int.from_bytes(fcntl.ioctl(r, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)
            if waiting >= 4096:
                break
            if p.poll() is not None:
                raise AssertionError("%s ended before its stdout filled: %r" % (args, p.stderr.read()[-300:]))
            check(time.time() < deadline, "%s: stdout never filled" % args)
            time.sleep(0.05)
        if while_stuck:
            while_stuck()
        p.send_signal(signal.SIGINT)
        try:
            _, err = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("%s: SIGINT did not stop a run whose stdout nobody reads" % args)
        check(fcntl.fcntl(w, fcntl.F_GETFL) == flags, "%s changed its stdout's flags" % args)
        return p.returncode, err
    finally:
        os.close(r)
        os.close(w)


def unread_stderr(args, server=None):
    """Runs green with stderr a 4 KiB pipe that nobody reads (the way
    `2> >(sleep 1000)` is), stdout read as usual: (status, stdout, the first
    4 KiB of stderr). With `server(p, err_fd)`, it is called once green runs
    (it may read stderr's first line) and must stop green. A run that hangs
    fails the test."""
    r, w = os.pipe()
    fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ: full after a few dozen lines
    p = subprocess.Popen([GREEN, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=w, env=env_with())
    os.close(w)
    try:
        if server:
            server(p, r)
        try:
            out, _ = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise AssertionError("%s hung on a stderr nobody reads" % args)
        os.set_blocking(r, False)
        try:
            err = os.read(r, 65536)
        except BlockingIOError:
            err = b""
        return p.returncode, out, err
    finally:
        os.close(r)


def number(pattern, text):
    m = re.search(pattern, text)
    check(m, "no %r in %r" % (pattern, text[-400:]))
    return int(m.group(1))


def run_nonblocking_stdin(args, chunks):
    """Runs green with stdin a non-blocking socket (a description it cannot
    reopen through /proc) fed `chunks` one by one with pauses, so reads in
    between find nothing: (status, stdout, stderr)."""
    a, b = socket.socketpair()
    b.setblocking(False)
    p = subprocess.Popen([GREEN, *args], stdin=b.fileno(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env_with())
    b.close()
    for chunk in chunks:
        time.sleep(0.2)
        a.sendall(chunk)
    a.close()
    out, err = p.communicate(timeout=TIMEOUT)
    return p.returncode, out, err


def unreadable_inputs():
    """Paths that cannot be read, each with the reason green must give: a
    missing file, a directory, and (unless we are root) a file we may not read."""
    bad = [(os.path.join(work, "no-such-list"), b"No such file or directory"), (work, b"Is a directory")]
    if os.geteuid() != 0:
        secret = os.path.join(work, "secret-list")
        with open(secret, "w") as f:
            f.write("secret\n")
        os.chmod(secret, 0)
        bad.append((secret, b"Permission denied"))
    return bad


def input_edges(args, first, second, ok):
    """The input rules for a tool that reads lines: `first` behind a BOM with
    CRLF ends, unreadable files between it and `second`, all processed with
    status 2; closed standard descriptors; a non-blocking stdin."""
    bom = os.path.join(work, "bom-list")
    with open(bom, "wb") as f:
        f.write(b"\xef\xbb\xbf" + first.encode() + b"\r\n# a comment\r\n")
    good = os.path.join(work, "good-list")
    with open(good, "w") as f:
        f.write(second + "\n")
    bad = unreadable_inputs()
    rc, out, err = run([*args, bom, *[b for b, _ in bad], good])
    check(rc == 2, "unreadable inputs among good ones exited %d: %r" % (rc, err[-400:]))
    check(ok(out, first) and ok(out, second), "the good inputs were not all processed: %r %r" % (out, err[-400:]))
    check(b"bom-list:1" not in err, "the byte-order mark made line 1 bad: %r" % err[-400:])
    for path, why in bad:
        line = b"green %s: cannot read %s: %s\n" % (args[0].encode(), path.encode(), why)
        check(err.count(line) == 1, "no one line %r: %r" % (line, err[-400:]))
    # Closed by the shell: stdin reads as closed, stdout fails as closed (not
    # into a file opened later), stderr takes nothing else's output.
    cmd = " ".join("'%s'" % a for a in args)
    rc, out, err = run_shell('"$G" %s - <&-' % cmd)
    check(rc == 2 and b"cannot read stdin: Bad file descriptor" in err, "stdin closed: %d %r" % (rc, err[-300:]))
    rc, out, err = run_shell('"$G" %s %s >&-' % (cmd, good))
    check(rc == 1 and b"cannot write stdout: Bad file descriptor" in err, "stdout closed: %d %r" % (rc, err[-300:]))
    rc, out, err = run_shell('"$G" %s %s 2>&-' % (cmd, good))
    check(rc == 0 and ok(out, second) and (b"green %s:" % args[0].encode()) not in out,
          "stderr closed: %d %r" % (rc, out[-300:]))
    rc, out, err = run_nonblocking_stdin([*args, "-"], [first.encode() + b"\n", second.encode() + b"\n"])
    check(rc == 0 and ok(out, first) and ok(out, second), "a non-blocking stdin: %d %r %r" % (rc, out, err[-300:]))


# ---- fetch -----------------------------------------------------------------------

def test_fetch_stdin():
    url = http + "/files/size-1000.bin"

    def ok(how, rc, out):
        check(rc == 0 and b"200\t1000\t" in out, "fetch with %s: %d %r" % (how, rc, out[-300:]))
    stdin_forms(["fetch", "--no-progress"], url + "\n" + url + "?2\n", ok)


def test_fetch_input_edges():
    def ok(out, url):
        return ("200\t1\t" in out.decode() and url in out.decode())
    input_edges(["fetch", "--no-progress"], http + "/files/size-1.bin?bom", http + "/files/size-1.bin?second", ok)


def test_fetch_head():
    with open(os.path.join(work, "many-urls.txt"), "w") as f:
        for i in range(3000):
            f.write("%s/files/size-1.bin?%d\n" % (http, i))
    quiet_head('"$G" fetch %s/many-urls.txt | head -n 1' % work, "fetch")


def test_fetch_json():
    urls = "%s/files/size-1000.bin\n%s/status/404\nhttp://127.0.0.1:1/refused\n" % (http, http)
    rc, out, err = run(["fetch", "--json"], input=urls.encode())
    rows = json_lines(out, {"url", "status", "bytes", "time", "error"})
    check(sorted(str(r["status"]) for r in rows) == ["200", "404", "None"], "statuses: %r" % rows)
    check(rc == 1, "a 404 and a refused connection exited %d" % rc)
    # No response, no HTTP version; url is the line as given, final_url where
    # the redirects led.
    versions = {r["url"].rsplit("/", 1)[1]: r["http_version"] for r in rows}
    check(versions == {"size-1000.bin": "1.1", "404": "1.1", "refused": None}, "http_version: %r" % versions)
    given = "%s/r3" % http
    rc, out, err = run(["fetch", "--json"], input=given.encode() + b"\n")
    row = json_lines(out, {"url", "final_url"})[0]
    check(row["url"] == given and row["final_url"] == "%s/files/size-1000.bin" % http, "redirected: %r" % row)
    # Bytes that are not UTF-8 keep their identity as %XX (not U+FFFD), and
    # diagnostics show them escaped, never raw.
    rc, out, err = run(["fetch", "--json"], input=b"http://127.0.0.1:1/a\xff\xc3\xa9\n")
    row = json_lines(out, {"url"})[0]
    check(row["url"] == "http://127.0.0.1:1/a%FF\u00e9" and row["http_version"] is None, "url with raw bytes: %r" % row)
    check(b"\xff" not in err and b"/a\\xff\xc3\xa9: " in err, "raw bytes on stderr: %r" % err)


def test_fetch_colour():
    colour_matrix(["fetch", "--no-progress", "-"], "%s/files/size-1.bin\n%s/status/404\n" % (http, http),
                  want_out=True, want_err=False)


def test_fetch_progress():
    urls = "".join("%s/files/size-1.bin?%d\n" % (http, i) for i in range(50))
    path = os.path.join(work, "progress-urls.txt")
    with open(path, "w") as f:
        f.write(urls)
    rc, shown, _ = run_tty(["fetch", path])
    check(rc == 0 and re.search(rb"\r\x1b\[K\d+(/\d+)? URLs", shown), "no progress on a terminal: %r" % shown[-300:])
    rc, shown, _ = run_tty(["fetch", "--no-progress", path])
    check(PROGRESS not in shown, "progress despite --no-progress")
    rc, out, err = run(["fetch", path])
    check(rc == 0 and PROGRESS not in err and b"\r" not in err, "progress into a pipe: %r" % err[-300:])
    rc, shown, err = run_tty(["fetch", path], stderr_tty=False)
    check(PROGRESS not in err and PROGRESS not in shown, "progress although stderr is a pipe")
    rc, shown, _ = run_tty(["fetch", path], env=env_with(TERM="dumb"))
    check(rc == 0 and b"\x1b[K" not in shown and b" URLs (" not in shown, "progress on TERM=dumb: %r" % shown[-300:])
    # A 404 is an answer, not an error: the progress line counts errors as
    # the summary does (both 0 here; the progress said "30 errors").
    path = os.path.join(work, "progress-404.txt")
    with open(path, "w") as f:
        f.write("".join("%s/status/404?%d\n" % (http, i) for i in range(30)))
    rc, shown, _ = run_tty(["fetch", path])
    drawn = re.findall(rb"\r\x1b\[K(\d+)/30 URLs[^\r]*?  (\d+) errors?", shown)
    check(rc == 1 and drawn, "no progress for the 404s: %r" % shown[-300:])
    check(all(errs == b"0" for _, errs in drawn), "the progress counted 404s as errors: %r" % drawn)
    check(b"errors 0" in shown and b"4xx 30" in shown, "summary: %r" % shown[-300:])


def test_fetch_sigint():
    urls = "".join("%s/files/size-1000.bin?%d\n" % (http, i) for i in range(3)).encode()
    run_ = Interrupt(["fetch", "-"], urls)
    run_.wait_for_lines(3)
    rc, out, err = run_.interrupt()
    check(rc == 130, "SIGINT exited %d" % rc)
    check(out.count(b"200\t1000\t") == 3, "results lost: %r" % out)
    check(b"green fetch: 3 URLs in" in err and b"(interrupted;" in err, "no summary after SIGINT: %r" % err)


def test_fetch_exit_codes():
    good = "%s/files/size-1.bin\n" % http
    rc, out, err = run(["fetch"], input=good.encode())
    check(rc == 0, "all 2xx exited %d" % rc)
    rc, out, err = run(["fetch"], input=(good + http + "/status/500\n").encode())
    check(rc == 1 and b"500\t" in out, "a 500 exited %d" % rc)
    rc, out, err = run(["fetch"], input=("not a url\n" + good).encode())
    check(rc == 2 and b"200\t1\t" in out and b"stdin:1:" in err,
          "a bad line: %d, the good URL must still be written: %r %r" % (rc, out, err))
    rc, out, err = run(["fetch", "--concurrency", "0"], input=good.encode())
    check(rc == 2 and out == b"" and b"green fetch: --concurrency" in err, "bad usage: %d %r" % (rc, err))
    rc, out, err = run(["fetch", os.path.join(work, "no-such-file")])
    check(rc == 2 and b"no-such-file" in err, "a missing file: %d %r" % (rc, err))


def test_fetch_stdout_errors():
    path = os.path.join(work, "some-urls.txt")
    with open(path, "w") as f:
        f.write("".join("%s/files/size-1.bin?%d\n" % (http, i) for i in range(20)))
    to_dev_full(["fetch", path], b"green fetch: ")
    path = os.path.join(work, "stuck-urls.txt")
    with open(path, "w") as f:
        f.write("".join("%s/files/size-1.bin?%d\n" % (http, i) for i in range(3000)))
    rc, err = stuck_reader(["fetch", "--json", "-c", "10", path])
    check(rc == 130, "SIGINT with stdout unread exited %d: %r" % (rc, err[-300:]))
    done = number(rb"green fetch: (\d+) URLs? in", err)  # those interrupted included
    unread = number(rb"interrupted; (\d+) input lines? not read", err)
    check(done + unread == 3000 and unread > 0, "the summary does not add up to 3000: %r" % err[-400:])


def test_fetch_stderr_unread():
    urls = "".join("http://127.0.0.1:1/refused-%d\n" % i for i in range(1500))  # a line on stderr each
    path = os.path.join(work, "refused-urls.txt")
    with open(path, "w") as f:
        f.write(urls + "%s/files/size-1.bin\n" % http)
    rc, out, err = unread_stderr(["fetch", "-c", "50", path])
    check(rc == 1 and len(lines_of(out)) == 1501 and b"200\t1\t" in out,
          "fetch with stderr unread: %d, %d lines" % (rc, len(lines_of(out))))
    check(err.startswith(b"green fetch: http://127.0.0.1:1/refused-"), "stderr: %r" % err[:200])


# ---- resolve ---------------------------------------------------------------------

def resolve_args(*more):
    return ["resolve", "--server", dns, *more]


def test_resolve_stdin():
    def ok(how, rc, out):
        check(rc == 0 and b"www.green.test\tA\t300\t192.0.2.10" in out, "resolve with %s: %d %r" % (how, rc, out))
    stdin_forms(resolve_args("--no-progress"), "www.green.test\nmail.green.test\n", ok)


def test_resolve_input_edges():
    def ok(out, name):
        return (name + "\tA\t").encode() in out
    input_edges(resolve_args("--no-progress"), "www.green.test", "mail.green.test", ok)


def many_names():
    path = os.path.join(work, "many-names.txt")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("".join("h%d.bulk.test\n" % i for i in range(BULK)))
    return path


def test_resolve_head():
    quiet_head('"$G" resolve --server %s -c 100 %s | head -n 1' % (dns, many_names()), "resolve")


def test_resolve_json():
    rc, out, err = run(resolve_args("--json", "-t", "A,MX"), input=b"green.test\nmissing.green.test\n")
    rows = json_lines(out, {"name", "type", "status", "answers"})
    got = sorted((r["name"], r["type"], r["status"]) for r in rows)
    check(got == [("green.test", "A", "NODATA"), ("green.test", "MX", "NOERROR"),
                  ("missing.green.test", "A", "NXDOMAIN"), ("missing.green.test", "MX", "NXDOMAIN")],
          "JSON rows: %r" % got)
    check(rc == 1, "unanswered queries exited %d" % rc)


def test_resolve_colour():
    colour_matrix(resolve_args("--no-progress"), "www.green.test\nmissing.green.test\n", want_err=True)


def test_resolve_progress():
    path = os.path.join(work, "progress-names.txt")
    with open(path, "w") as f:
        f.write("".join("h%d.bulk.test\n" % i for i in range(200)))
    rc, shown, _ = run_tty(resolve_args("-c", "50", path))
    check(rc == 0 and re.search(rb"\r\x1b\[K\d+(/\d+)? queries", shown),
          "no progress on a terminal: %r" % shown[-300:])
    rc, shown, _ = run_tty(resolve_args("--no-progress", path))
    check(PROGRESS not in shown, "progress despite --no-progress")
    rc, out, err = run(resolve_args(path))
    check(rc == 0 and b"\r" not in err, "progress into a pipe: %r" % err[-300:])
    rc, out, err = run(resolve_args("-q", path))
    check(rc == 0 and err == b"", "-q still wrote to stderr: %r" % err[-300:])


def test_resolve_sigint():
    run_ = Interrupt(resolve_args("-"), b"www.green.test\nmail.green.test\n")
    run_.wait_for_lines(3)  # www has two A records, mail one
    rc, out, err = run_.interrupt()
    check(rc == 130, "SIGINT exited %d" % rc)
    check(b"192.0.2.10" in out and b"192.0.2.25" in out, "results lost: %r" % out)
    check(b"green resolve: 2 names, 2 queries" in err and b"interrupted" in err, "no summary after SIGINT: %r" % err)


def test_resolve_exit_codes():
    rc, out, err = run(resolve_args(), input=b"www.green.test\n")
    check(rc == 0, "answered exited %d" % rc)
    rc, out, err = run(resolve_args(), input=b"www.green.test\nmissing.green.test\n")
    check(rc == 1 and b"missing.green.test A: NXDOMAIN" in err, "an NXDOMAIN: %d %r" % (rc, err))
    rc, out, err = run(resolve_args(), input=b"a..b\nwww.green.test\n")
    check(rc == 2 and b"192.0.2.10" in out and b"stdin:1:" in err, "a bad name: %d %r %r" % (rc, out, err))
    rc, out, err = run(resolve_args("-t", "BOGUS"), input=b"www.green.test\n")
    check(rc == 2 and out == b"" and b"green resolve: " in err and b"BOGUS" in err, "a bad type: %d %r" % (rc, err))


def test_resolve_stdout_errors():
    path = os.path.join(work, "few-names.txt")
    with open(path, "w") as f:
        f.write("www.green.test\nmail.green.test\n")
    to_dev_full(resolve_args(path), b"green resolve: 2 names")
    rc, err = stuck_reader(resolve_args("-c", "50", many_names()))
    check(rc == 130, "SIGINT with stdout unread exited %d: %r" % (rc, err[-300:]))
    names = number(rb"green resolve: (\d+) names?", err)
    queries = number(rb", (\d+) quer(?:y|ies), ", err)
    unfinished = number(rb"interrupted; (\d+) quer(?:y|ies) not finished", err)
    unread = number(rb", (\d+) input lines? not read", err)
    check(names + unread == BULK and unread > 0 and queries + unfinished == names,
          "the summary does not add up to %d: %r" % (BULK, err[-400:]))


def test_resolve_stderr_unread():
    path = os.path.join(work, "half-missing.txt")
    with open(path, "w") as f:
        f.write("".join("h%d.bulk.test\nmissing%d.green.test\n" % (i, i) for i in range(1500)))
    rc, out, err = unread_stderr(resolve_args("--no-progress", path))
    check(rc == 1 and len(lines_of(out)) == 1500, "resolve with stderr unread: %d, %d lines" % (rc, len(lines_of(out))))
    check(b"NXDOMAIN" in err, "stderr: %r" % err[:200])


# ---- cron ------------------------------------------------------------------------

def test_cron_stdin():
    tab = "@every 100ms echo from-the-tab\n"

    def ok(how, rc, out):
        check(rc == 0 and b"from-the-tab" in out, "cron --tab with %s: %d %r" % (how, rc, out[-300:]))
    # `--tab -` is stdin; the main command bounds the run.
    path = os.path.join(work, "tab.txt")
    with open(path, "w") as f:
        f.write(tab)
    with open(path) as f:
        rc, out, err = run(["cron", "--tab", "-", "--", "sleep", "0.5"], stdin=f)
    ok("a file on stdin", rc, out)
    rc, out, err = run(["cron", "--tab", "-", "--", "sleep", "0.5"], input=tab.encode())
    ok("a pipe on stdin", rc, out)
    rc, shown, _ = run_tty(["cron", "--tab", "-", "--", "sleep", "0.5"], tab.splitlines(), stderr_tty=False)
    ok("a terminal on stdin", rc, shown)


def test_cron_input_edges():
    """A crontab with a byte-order mark and CRLF ends, as a file and from a
    non-blocking stdin; a closed stdin."""
    tab = b"\xef\xbb\xbf@every 100ms echo from-the-tab\r\n"
    path = os.path.join(work, "bom-tab")
    with open(path, "wb") as f:
        f.write(tab)
    rc, out, err = run(["cron", "--test", "--tab", path])
    check(rc == 0 and out.startswith(b"%s:1\t@every 100ms\techo from-the-tab\n" % path.encode()),
          "a crontab with a BOM: %d %r %r" % (rc, out[:200], err))
    rc, out, err = run_nonblocking_stdin(["cron", "--test", "--tab", "-"], [tab[:10], tab[10:]])
    check(rc == 0 and out.startswith(b"stdin:1\t@every 100ms\techo from-the-tab\n"),
          "a crontab from a non-blocking stdin: %d %r %r" % (rc, out[:200], err))
    rc, out, err = run_shell('"$G" cron --test --tab - <&-')
    check(rc == 2 and b"green cron: cannot read stdin: Bad file descriptor" in err, "stdin closed: %d %r" % (rc, err))


def test_cron_stdout_errors():
    to_dev_full(["cron", "--every", "20ms", "echo tick", "--", "sleep", "0.3"], b"; stopped: stdout failed")
    # Nobody reads stdout: the jobs keep ticking (only the one whose output
    # waits blocks on its pipe), and SIGINT still ends the run with its
    # summary and 130.
    ticks = os.path.join(work, "cron-ticks")

    def ticking():
        def count():
            try:
                with open(ticks) as f:
                    return len(f.readlines())
            except FileNotFoundError:
                return 0
        seen = count()
        deadline = time.time() + TIMEOUT
        while count() < seen + 3:
            check(time.time() < deadline, "cron stopped ticking while its stdout was full")
            time.sleep(0.05)
    rc, err = stuck_reader(["cron", "--every", "20ms", "head -c 100000 /dev/zero", "--every", "50ms",
                            "echo >>%s" % ticks], while_stuck=ticking)
    check(rc == 130, "SIGINT with stdout unread exited %d: %r" % (rc, err[-300:]))
    check(b"stdout is not being read" in err and b"; stopped by signal" in err, "cron's summary: %r" % err[-400:])


def test_cron_head():
    quiet_head('"$G" cron --every 20ms "echo tick" | head -n 1', "cron")


def test_cron_json():
    rc, out, err = run(["cron", "--json", "--every", "100ms", "echo hi; exit 3", "--", "sleep", "0.45"])
    rows = json_lines(out, {"event", "job", "time"})
    events = {r["event"] for r in rows}
    check({"start", "output", "exit"} <= events, "events: %r" % rows)
    check(any(r["event"] == "exit" and r.get("exit_code") == 3 for r in rows), "exit code: %r" % rows)
    check(rc == 0, "the main command's status (0) exited %d" % rc)


def test_cron_colour():
    # Two jobs: each line is prefixed with its job, in the job's colour.
    colour_matrix(["cron", "--every", "50ms", "echo a", "--every", "50ms", "echo b", "--", "sleep", "0.3"],
                  want_out=True)


def test_cron_sigint():
    run_ = Interrupt(["cron", "--every", "50ms", "echo tick"])
    run_.wait_for_lines(2)
    rc, out, err = run_.interrupt()
    check(rc == 130, "SIGINT exited %d" % rc)
    check(re.search(rb"\d+ runs?, ", err) and b"stopped by signal" in err, "no summary after SIGINT: %r" % err)
    # No job runs at the stop, MAIN does: the wait names only MAIN.
    run_ = Interrupt(["cron", "--grace", "100ms", "--every", "1h", "true", "--", "sh", "-c",
                      "trap '' TERM; echo up; sleep 5"])
    run_.wait_for_lines(1)
    rc, out, err = run_.interrupt()
    check(rc == 130 and b"waiting up to --grace 100ms for the main command (and what it started) to finish" in err
          and b"killing the main command after --grace 100ms" in err and b"0 job run" not in err,
          "stop with only MAIN running: %d %r" % (rc, err))


def test_cron_exit_codes():
    rc, out, err = run(["cron", "--every", "1h", "true", "--", "true"])
    check(rc == 0, "main 'true' exited %d" % rc)
    rc, out, err = run(["cron", "--every", "1h", "true", "--", "false"])
    check(rc == 1, "main 'false' exited %d" % rc)
    rc, out, err = run(["cron", "--tab", "-"], input=b"@every 1s echo fine\n61 * * * * echo bad\n")
    check(rc == 2 and b"stdin:2:" in err and out == b"", "a bad crontab line: %d %r" % (rc, err))
    rc, out, err = run(["cron", "--every", "soon", "true"])
    check(rc == 2 and b"green cron: " in err and b"soon" in err, "a bad duration: %d %r" % (rc, err))


def test_cron_stderr_unread():
    # The job's stderr fills the pipe and then its own (it waits, as in any
    # pipeline); MAIN's end still ends the run, and the summary is given up on.
    rc, out, err = unread_stderr(["cron", "--grace", "100ms", "--every", "50ms", "seq 3000 >&2; echo out", "--",
                                  "sleep", "0.5"])
    check(rc == 0 and lines_of(out)[:1] == ["out"], "cron with stderr unread: %d %r" % (rc, out[-200:]))


# ---- serve -----------------------------------------------------------------------

class Serve(e2e.Server):
    def __init__(self, mode, *args, env=None):
        super().__init__([GREEN, "serve", mode, *args, "--port", "0"], stdout=subprocess.PIPE, env=env or env_with())

    def stop(self, sig):
        """(exit status, stdout, stderr after the "listening on" line)."""
        rc = super().stop(sig, TIMEOUT)
        return rc, "".join(self.out).encode(), "".join(self.log).encode()


def test_serve_signals():
    for sig, want in ((signal.SIGINT, 130), (signal.SIGTERM, 0)):
        srv = Serve("echo")
        with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as c:
            c.sendall(b"ping\n")
            check(c.recv(16) == b"ping\n", "no echo")
        rc, out, err = srv.stop(sig)
        check(rc == want, "%s exited %d, want %d" % (sig.name, rc, want))
        check(b"green serve echo: 1 connection, 5 B echoed in " in err, "no summary after %s: %r" % (sig.name, err))
        check(out == b"", "a server wrote to stdout: %r" % out)


def test_serve_stderr_unread():
    """serve echo -v logs every connect and disconnect: with its stderr
    unread, clients are still served, and SIGTERM still stops it."""
    def clients(p, err_fd):
        first = b""
        while b"\n" not in first:
            check(select.select([err_fd], [], [], TIMEOUT)[0], "no 'listening on' line")
            first += os.read(err_fd, 1)  # one byte at a time: the rest stays unread
        port = int(re.search(rb":(\d+)\n", first).group(1))
        for i in range(300):  # about 30 KiB of log lines
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as c:
                c.sendall(b"ping %d\n" % i)
                got = b""
                while not got.endswith(b"\n"):
                    chunk = c.recv(64)
                    check(chunk, "connection %d closed before its echo" % i)
                    got += chunk
                check(got == b"ping %d\n" % i, "echo %d: %r" % (i, got))
        p.send_signal(signal.SIGTERM)
    rc, out, err = unread_stderr(["serve", "echo", "-v", "--port", "0"], clients)
    check(rc == 0 and out == b"", "serve echo -v with stderr unread: %d %r" % (rc, out[:200]))
    check(err.startswith(b"green serve echo: connect "), "stderr: %r" % err[:200])


def test_serve_colour_and_exit_codes():
    srv = Serve("chat")
    try:
        busy = ["serve", "chat", "--port", str(srv.port)]
        rc, out, err = run(busy)
        check(rc == 1 and (b"127.0.0.1:%d" % srv.port) in err, "a port in use: %d %r" % (rc, err))
        colour_matrix(busy, want_err=True)
    finally:
        srv.stop(signal.SIGTERM)
    rc, out, err = run(["serve", "gopher"])
    check(rc == 2 and b"green serve: " in err, "an unknown mode: %d %r" % (rc, err))


def test_serve_http():
    """JSON Lines on stdout, nothing else there; the summary on stderr; the
    exit status of each stop; a bad DIR is a usage error naming it."""
    www = os.path.join(work, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "a.txt"), "w") as f:
        f.write("hello\n")
    for sig, want in ((signal.SIGINT, 130), (signal.SIGTERM, 0)):
        srv = Serve("http", www, "--json")
        for path in ("/a.txt", "/missing"):
            with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as c:
                c.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode())
                while c.recv(65536):
                    pass
        rc, out, err = srv.stop(sig)
        check(rc == want, "%s exited %d, want %d" % (sig.name, rc, want))
        lines = json_lines(out, {"time", "client", "method", "target", "status", "bytes", "duration"})
        check([(l["target"], l["status"]) for l in lines] == [("/a.txt", 200), ("/missing", 404)], repr(lines))
        check(b"green serve http: 2 requests" in err, "no summary after %s: %r" % (sig.name, err))
    rc, out, err = run(["serve", "http", os.path.join(work, "no-such-dir"), "--port", "0"])
    check(rc == 2 and b"green serve http: " in err and b"no-such-dir" in err, "a missing DIR: %d %r" % (rc, err))
    rc, out, err = run(["serve", "chat", www, "--port", "0"])
    check(rc == 2 and b"serve http" in err, "a DIR for chat: %d %r" % (rc, err))
    colour_matrix(["serve", "http", os.path.join(work, "no-such-dir"), "--port", "0"], want_err=True)


# ---- demo ------------------------------------------------------------------------

def test_demo():
    to_dev_full(["demo", "-n", "5"], None)
    rc, out, err = run(["demo", "-n", "5"])
    check(rc == 0 and lines_of(out)[0] == "== two greenlets switching with sleep(0)", "demo: %d %r" % (rc, out[:200]))
    quiet_head('"$G" demo | head -n 1', "demo")
    colour_matrix(["demo", "-n", "5"], want_out=True)
    rc, out, err = run(["demo", "-n", "0"])
    check(rc == 2 and b"green demo: " in err, "demo -n 0: %d %r" % (rc, err))


# ---- the servers and the runner -------------------------------------------------

def start_servers():
    global http, dns
    subprocess.run([os.path.join(HERE, "lib", "httpd.sh"), "start", os.path.join(work, "httpd")], check=True,
                   stdout=subprocess.DEVNULL, timeout=TIMEOUT)
    with open(os.path.join(work, "httpd", "env")) as f:
        env = dict(l.strip().split("=", 1) for l in f if "=" in l)
    http = "http://127.0.0.1:%s" % env["HTTP_PORT"]
    port = subprocess.run([os.path.join(HERE, "..", "dns", "knot.sh"), "start", os.path.join(work, "knot"),
                           str(BULK)], check=True, capture_output=True, timeout=TIMEOUT).stdout.decode().strip()
    dns = "127.0.0.1:%s" % port


def stop_servers():
    subprocess.run([os.path.join(HERE, "lib", "httpd.sh"), "stop", os.path.join(work, "httpd")], timeout=TIMEOUT)
    subprocess.run([os.path.join(HERE, "..", "dns", "knot.sh"), "stop", os.path.join(work, "knot")],
                   timeout=TIMEOUT)


def main():
    global GREEN, work
    GREEN = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="green-behaviour.") as tmp:
        work = tmp
        os.chmod(tmp, 0o755)  # nginx's workers may run as another user
        start_servers()
        try:
            failures = e2e.run_tests(globals(), sys.argv[2:])
        finally:
            stop_servers()
    e2e.finish(failures)


if __name__ == "__main__":
    main()
