#!/usr/bin/env python3
"""1 MiB files: green fetch binaries against curl --parallel, interleaved.

    bench/fetch_big_ab.py [--small] [--cat] REPS CONCURRENCY GREEN [GREEN...]

Starts one private nginx on loopback (tests/e2e/lib/httpd.sh, one worker)
with 200 files of 1 MiB (--small: 20,000 files of ~1 KiB), then runs REPS
rounds of: curl --parallel
--parallel-max C (config file, output /dev/null) and each green fetch -q
-c C (URLs on stdin, bodies discarded; with --cat, green fetch --cat and
curl without -o write the bodies to stdout, /dev/null), the order rotated
by one each round (the first client of a round ran faster, even between
identical builds). Wall time and the child's user+sys CPU come from wait4
(microseconds, not /usr/bin/time's 10 ms ticks). Prints the commit, the
load average at the start and the end, every run, then per green binary the
medians of the per-round ratios to curl (speed = curl's wall / green's wall;
CPU = green's / curl's), and the nginx worker's CPU per request during each
client's runs (/proc, 10 ms ticks), so work moved from the client to the
server shows. The scratch directory goes when the script ends, however.
"""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HTTPD = os.path.join(HERE, "..", "tests", "e2e", "lib", "httpd.sh")


def run(cmd, stdin=None):
    # The peak RSS comes from /usr/bin/time: a child exec'd straight from this
    # process inherits its high-water mark (ru_maxrss survives exec), ~21 MiB
    # with 20,000 URLs, which hid both clients' own. time's CPU is negligible.
    with tempfile.NamedTemporaryFile("r") as tf, open(stdin) if stdin else open(os.devnull) as f:
        t0 = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", tf.name] + cmd, stdin=f, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except BaseException:
            p.kill()
            p.wait()
            raise
        wall = time.monotonic() - t0
        if status != 0:
            sys.exit(f"{cmd[0]} failed: status {status}")
        return wall, ru.ru_utime + ru.ru_stime, int(tf.read().split()[-1]) / 1024


def cpu_of(pids):
    total = 0
    for pid in pids:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])
    return total / os.sysconf("SC_CLK_TCK")


def children(parent):
    pids = []
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == parent:
                pids.append(p)
        except OSError:
            pass
    return pids


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def main():
    # SIGTERM (a harness's timeout) unwinds like SIGINT, through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = sys.argv[1:]
    small = "--small" in args
    cat = "--cat" in args
    args = [a for a in args if a not in ("--small", "--cat")]
    reps, c, greens = int(args[0]), args[1], [os.path.abspath(g) for g in args[2:]]
    n = 20000 if small else 200
    head = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"], capture_output=True,
                          text=True).stdout.strip()
    print(f"commit {head or 'unknown'} (this checkout); load average {loadavg()} at the start", flush=True)
    work = tempfile.mkdtemp(prefix="green-fetch-big.")
    httpd = os.path.join(work, "httpd")
    try:
        os.chmod(work, 0o755)
        env = dict(os.environ, SMALL_FILES=str(n if small else 0), BIG_FILES=str(0 if small else n))
        subprocess.run([HTTPD, "start", httpd, "1"], env=env, check=True, stdout=subprocess.DEVNULL)
        conf = dict(l.split("=", 1) for l in open(os.path.join(httpd, "env")).read().split())
        path = "small/{}.txt" if small else "big/{}.bin"
        urls = [f"http://127.0.0.1:{conf['HTTP_PORT']}/" + path.format(i) for i in range(1, n + 1)]
        workers = children(conf["NGINX_PID"])
        lst, cfg = os.path.join(work, "urls.txt"), os.path.join(work, "urls.curl")
        open(lst, "w").write("\n".join(urls) + "\n")
        out = "" if cat else 'output = "/dev/null"\n'
        open(cfg, "w").write("".join(f'url = "{u}"\n{out}' for u in urls))
        rows = {}
        def measured(cmd, stdin=None):
            before = cpu_of(workers)
            wall, cpu, rss = run(cmd, stdin)
            return wall, cpu, rss, cpu_of(workers) - before

        clients = [("curl", ["curl", "-s", "--parallel", "--parallel-max", c, "-K", cfg], None)]
        clients += [(i, [g, "fetch", "-q", "--no-progress", "-c", c] + (["--cat"] if cat else []), lst)
                    for i, g in enumerate(greens)]
        for r in range(reps):
            res = {}
            for k, cmd, stdin in clients[r % len(clients):] + clients[:r % len(clients)]:
                res[k] = measured(cmd, stdin)
            for k, v in res.items():
                rows.setdefault(k, []).append(v)
            print(r + 1, " ".join(f"{k}: {v[0]:.3f} s {v[1] * 1000:.0f} ms CPU {v[2]:.1f} MiB" for k, v in res.items()),
                  flush=True)
        cw = rows["curl"]
        for i, g in enumerate(greens):
            gw = rows[i]
            speed = [cw[r][0] / gw[r][0] for r in range(reps)]
            cpu = [gw[r][1] / cw[r][1] for r in range(reps)]
            print(f"-c {c} {g}: {statistics.median(speed):.2f}x curl's requests/s (rounds {min(speed):.2f}-"
                  f"{max(speed):.2f}), CPU {statistics.median(cpu):.2f}x curl's; CPU per request "
                  f"{statistics.median(x[1] for x in gw) / n * 1e6:.0f} vs {statistics.median(x[1] for x in cw) / n * 1e6:.0f}"
                  f" us (nginx {statistics.median(x[3] for x in gw) / n * 1e6:.0f} vs "
                  f"{statistics.median(x[3] for x in cw) / n * 1e6:.0f} us); peak {statistics.median(x[2] for x in gw):.1f} vs "
                  f"{statistics.median(x[2] for x in cw):.1f} MiB")
        print(f"load average {loadavg()} at the end")
    finally:
        subprocess.run([HTTPD, "stop", httpd], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
