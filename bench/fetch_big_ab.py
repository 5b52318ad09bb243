#!/usr/bin/env python3
"""1 MiB files: green fetch binaries against curl --parallel, interleaved.

    bench/fetch_big_ab.py [--small] [--cat] REPS CONCURRENCY GREEN [GREEN...]

Starts one private nginx on loopback (tests/e2e/lib/httpd.sh, one worker)
with 200 files of 1 MiB (--small: 20,000 files of ~1 KiB), then runs REPS
rounds of: curl --parallel
--parallel-max C (config file, output /dev/null), then each green fetch -q
-c C (URLs on stdin, bodies discarded; with --cat, green fetch --cat and
curl without -o write the bodies to stdout, /dev/null). Wall time and the child's user+sys
CPU come from wait4 (microseconds, not /usr/bin/time's 10 ms ticks). Prints
every run, then per green binary the medians of the per-round ratios to curl
(speed = curl's wall / green's wall; CPU = green's / curl's), and the nginx
worker's CPU per request during each client's runs (/proc, 10 ms ticks), so
work moved from the client to the server shows. The load average is printed
at the start and the end.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HTTPD = os.path.join(HERE, "..", "tests", "e2e", "lib", "httpd.sh")


def run(cmd, stdin=None):
    t0 = time.monotonic()
    with open(stdin) if stdin else open(os.devnull) as f:
        p = subprocess.Popen(cmd, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"{cmd[0]} failed: status {status}")
    return time.monotonic() - t0, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


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


def main():
    args = sys.argv[1:]
    small = "--small" in args
    cat = "--cat" in args
    args = [a for a in args if a not in ("--small", "--cat")]
    reps, c, greens = int(args[0]), args[1], [os.path.abspath(g) for g in args[2:]]
    n = 20000 if small else 200
    print(f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    work = tempfile.mkdtemp(prefix="green-fetch-big.")
    os.chmod(work, 0o755)
    httpd = os.path.join(work, "httpd")
    env = dict(os.environ, SMALL_FILES=str(n if small else 0), BIG_FILES=str(0 if small else n))
    subprocess.run([HTTPD, "start", httpd, "1"], env=env, check=True, stdout=subprocess.DEVNULL)
    try:
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

        for r in range(reps):
            res = {"curl": measured(["curl", "-s", "--parallel", "--parallel-max", c, "-K", cfg])}
            for i, g in enumerate(greens):
                res[i] = measured([g, "fetch", "-q", "--no-progress", "-c", c] + (["--cat"] if cat else []), lst)
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
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        subprocess.run([HTTPD, "stop", httpd], check=False)


if __name__ == "__main__":
    main()
