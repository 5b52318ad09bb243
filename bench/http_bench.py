#!/usr/bin/env python3
"""HTTP benchmark for issue 4: `green fetch` against the reference clients.

    bench/http_bench.py PATH/TO/green [--repeat N] [--quick] [--baseline PATH/TO/old-green]

Starts one private nginx on loopback (tests/e2e/lib/httpd.sh, one worker
process) holding 20,000 files of ~1 KiB and 200 files of 1 MiB, then, in one
run, fetches all small files and all big files at -c 20 and -c 100 with:
  green fetch                       (URLs on stdin, bodies discarded)
  curl --parallel --parallel-max N  (URLs from a config file, output /dev/null)
  aria2c -j N -i FILE               (into a scratch dir; bodies are written)
  wget2 --max-threads=N -i FILE     (output /dev/null)
  xargs -P N -n 1 curl              (one curl process per URL)
  the seeds' gevent Pool(N) + urllib (/usr/bin/python3)
and finally 100,000 URLs through green fetch's stdin for its peak memory.
aria2c and xargs+curl fetch only the first 1,000 URLs of each list (they
manage tens of requests per second here); their rates are per request too.
Each command runs under /usr/bin/time (wall, user+sys CPU, peak RSS); the
median of --repeat runs (by wall time) is reported for green and curl, the
runs of the clients interleaved and their order rotated by one each round
(green, curl; curl, green; ...): the first client of a round ran faster, so a
fixed order favoured green. The ratio to curl --parallel is the median of the
per-round ratios for the repeated clients (the others ran once, in the first
round). --baseline adds a second green binary (an older build) as one more
client, to compare a change side by side. Prints the commit and the load
average at the start and the end, then a Markdown table with requests/s,
CPU us per request, peak memory and the ratio to curl --parallel, ready for
bench/RESULTS.md.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SLOW_CAP = 1000
HTTPD = os.path.join(HERE, "..", "tests", "e2e", "lib", "httpd.sh")

GEVENT_PROGRAM = r"""
from gevent import monkey
monkey.patch_all()
import sys
import urllib.request
from gevent.pool import Pool

def download(url):
    return len(urllib.request.urlopen(url).read())

if __name__ == '__main__':
    urls = [line.strip() for line in open(sys.argv[1]) if line.strip()]
    pool = Pool(int(sys.argv[2]))
    sizes = pool.map(download, urls)
    print(len(sizes), sum(sizes))
"""


def timed(cmd, stdin=None, cwd=None):
    """Runs cmd under /usr/bin/time; returns (wall s, cpu s, peak KiB, rc)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf.name] + cmd
        with open(stdin, "rb") if stdin else open(os.devnull, "rb") as inp:
            proc = subprocess.run(full, stdin=inp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
        last = [l for l in open(tf.name).read().splitlines() if l.strip()][-1]
        wall, user, sys_, rss = last.split()
        if proc.returncode != 0:
            sys.stderr.write(f"  ! {' '.join(cmd[:3])}... exited {proc.returncode}: {proc.stderr.decode()[-300:]}\n")
        return float(wall), float(user) + float(sys_), int(rss), proc.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("green")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer files, for a smoke run")
    ap.add_argument("--baseline", default="", help="another green binary to run side by side (an older build)")
    ap.add_argument("--only", default="", help="comma-separated clients by first word (green,curl,aria2c,wget2,xargs,"
                    "gevent); curl --parallel, the reference, always runs")
    args = ap.parse_args()
    green = os.path.abspath(args.green)
    only = set(filter(None, args.only.split(",")))
    n_small, n_big, n_stream = (20000, 200, 100000) if not args.quick else (2000, 20, 10000)

    commit = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"], capture_output=True,
                          text=True).stdout.strip()
    load0 = " ".join(open("/proc/loadavg").read().split()[:3])
    # SIGTERM (a harness's timeout) unwinds like SIGINT, through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = tempfile.mkdtemp(prefix="green-http-bench.")
    httpd = os.path.join(work, "httpd")
    try:
        os.chmod(work, 0o755)
        env = dict(os.environ, SMALL_FILES=str(n_small), BIG_FILES=str(n_big))
        subprocess.run([HTTPD, "start", httpd, "1"], env=env, check=True, stdout=subprocess.DEVNULL)
        conf = dict(l.split("=", 1) for l in open(os.path.join(httpd, "env")).read().split())
        base = f"http://127.0.0.1:{conf['HTTP_PORT']}"
        lists = {}
        for kind, n, path in (("small", n_small, "small/{}.txt"), ("big", n_big, "big/{}.bin")):
            urls = [f"{base}/{path.format(i)}" for i in range(1, n + 1)]
            lst = os.path.join(work, f"{kind}.txt")
            open(lst, "w").write("\n".join(urls) + "\n")
            cfg = os.path.join(work, f"{kind}.curl")
            open(cfg, "w").write("".join(f'url = "{u}"\noutput = "/dev/null"\n' for u in urls))
            lists[kind] = (n, lst, cfg)
        stream = os.path.join(work, "stream.txt")
        with open(stream, "w") as f:
            for i in range(n_stream):
                f.write(f"{base}/small/{i % n_small + 1}.txt\n")
        gevent_prog = os.path.join(work, "gevent_fetch.py")
        open(gevent_prog, "w").write(GEVENT_PROGRAM)
        scratch = os.path.join(work, "scratch")

        def head(lst):
            # aria2c and one curl process per URL manage tens of requests per
            # second here: they fetch the first SLOW_CAP URLs of a list only.
            short = lst + ".head"
            with open(lst) as f, open(short, "w") as g:
                for i, line in enumerate(f):
                    if i >= SLOW_CAP:
                        break
                    g.write(line)
            return short

        def count(path):
            return sum(1 for _ in open(path))

        def clients(c, lst, cfg):
            yield "green fetch", [green, "fetch", "-q", "--no-progress", "-c", str(c)], lst, True
            if args.baseline:
                yield "green fetch (baseline)", [os.path.abspath(args.baseline), "fetch", "-q", "--no-progress", "-c",
                                                 str(c)], lst, True
            yield "curl --parallel", ["curl", "-s", "--parallel", "--parallel-max", str(c), "-K", cfg], None, True
            if shutil.which("aria2c"):
                yield "aria2c -j", ["aria2c", "-q", "-j", str(c), "--allow-overwrite=true", "--auto-file-renaming=false",
                                    "-d", scratch, "-i", head(lst)], None, False
            if shutil.which("wget2"):
                yield "wget2 --max-threads", ["wget2", "-q", f"--max-threads={c}", "-O", "/dev/null", "-i", lst], None, False
            yield "xargs -P curl", ["xargs", "-P", str(c), "-n", "1", "curl", "-s", "-o", "/dev/null"], head(lst), False
            yield "gevent Pool + urllib", ["/usr/bin/python3", gevent_prog, lst, str(c)], None, False

        rows = []
        every = {}
        print(f"# nginx 1 worker on 127.0.0.1; {n_small} x ~1 KiB and {n_big} x 1 MiB; median of {args.repeat} for green/curl",
              file=sys.stderr)
        for kind in ("small", "big"):
            n, lst, cfg = lists[kind]
            for c in (20, 100):
                chosen = [cl for cl in clients(c, lst, cfg) if not only or cl[0].split()[0] in only | {"curl"}]
                runs = {cl[0]: [] for cl in chosen}
                for round_ in range(args.repeat):
                    k = round_ % len(chosen)
                    for name, cmd, stdin, repeat in chosen[k:] + chosen[:k]:
                        if round_ > 0 and not repeat:
                            continue
                        if os.path.isdir(scratch):
                            shutil.rmtree(scratch)
                        os.makedirs(scratch)
                        runs[name].append(timed(cmd, stdin=stdin))
                for name, cmd, stdin, repeat in chosen:
                    wall, cpu, rss, rc = sorted(runs[name])[len(runs[name]) // 2]
                    listed = [a for a in cmd + [stdin or ""] if a.endswith(".head")]
                    n = count(listed[0]) if listed else lists[kind][0]
                    ref = runs["curl --parallel"]
                    per_round = [r[0] / x[0] * n / lists[kind][0] for x, r in zip(runs[name], ref)]
                    rows.append((kind, c, name, n, wall, cpu, rss, rc, statistics.median(per_round)))
                    every[(kind, c, name)] = runs[name]
                    print(f"  {kind:5} -c {c:3} {name:22} {n / wall:9.0f} req/s  {cpu:6.2f} CPU s  {rss / 1024:6.1f} MiB"
                          f"{'' if rc == 0 else f'  (exit {rc})'}", file=sys.stderr)
        wall, cpu, rss, rc = timed([green, "fetch", "-q", "--no-progress", "-c", "100"], stdin=stream)
        stream_row = (n_stream, wall, cpu, rss, rc)
    finally:
        subprocess.run([HTTPD, "stop", httpd], stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)

    out = [f"Commit {commit or 'unknown'} (this checkout), {os.path.abspath(args.green)}; load average {load0} at the "
           f"start, {' '.join(open('/proc/loadavg').read().split()[:3])} at the end; {args.repeat} rounds, the order "
           "rotated each round; 'vs curl --parallel' is the median of the per-round ratios.", ""]
    out.append("| files | -c | client | requests/s | vs curl --parallel | CPU s | CPU us/request | peak MiB |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|")
    for kind in ("small", "big"):
        for c in (20, 100):
            group = [r for r in rows if r[0] == kind and r[1] == c]
            for (_, _, name, n, wall, cpu, rss, rc, ratio) in group:
                label = f"{lists[kind][0]} x {'1 KiB' if kind == 'small' else '1 MiB'}"
                if n != lists[kind][0]:
                    name += f" (first {n})"
                note = "" if rc == 0 else f" (exit {rc})"
                out.append(f"| {label} | {c} | {name}{note} | {n / wall:,.0f} | {ratio:.2f}x | {cpu:.2f} | "
                           f"{cpu / n * 1e6:.0f} | {rss / 1024:.1f} |")
    if args.baseline:
        out.append("")
        for kind in ("small", "big"):
            for c in (20, 100):
                new, old = every[(kind, c, "green fetch")], every[(kind, c, "green fetch (baseline)")]
                speed = statistics.median(o[0] / x[0] for x, o in zip(new, old))
                cpu = statistics.median(x[1] / o[1] for x, o in zip(new, old))
                out.append(f"{kind} -c {c}: green fetch / baseline = {speed:.2f}x requests/s, {cpu:.2f}x CPU "
                           "(medians of the per-round ratios)")
    n, wall, cpu, rss, rc = stream_row
    out.append("")
    out.append(f"green fetch -c 100, {n:,} URLs from stdin: {n / wall:,.0f} requests/s, {cpu:.2f} CPU s, "
               f"peak RSS {rss / 1024:.1f} MiB{'' if rc == 0 else f' (exit {rc})'}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
