#!/usr/bin/env python3
"""libgreen's core benchmarks, two or more bench_core builds interleaved.

    bench/core_ab.py [--rounds R] [--insns] BENCH_CORE BENCH_CORE...

Each round runs every binary once through switch, spawn+join (alone and
with ALIVE parked), link, iwait, jqueue and rss, pinned with taskset to
one CPU; the order of the binaries rotates from round to round. On a
shared machine wall time is noise, so the figures are process CPU time
(bench_core's *_cpu_* keys), and the ratio column is the median of the
per-round ratios to the first binary (> 1: better than the first).
--insns adds instructions per operation from valgrind's cachegrind (a run
of 2N minus a run of N, divided by N): what load does not move, though
branch mispredictions, which the CPU time shows, are not in it.
Environment: CPU=1 SWITCH_N=5000000 SPAWN_N=1000000 ALIVE=10000
ITEMS_N=200000 RSS_N=100000.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

CPU = os.environ.get("CPU", "1")
SWITCH_N = int(os.environ.get("SWITCH_N", 5000000))
SPAWN_N = int(os.environ.get("SPAWN_N", 1000000))
ALIVE = int(os.environ.get("ALIVE", 10000))
ITEMS_N = int(os.environ.get("ITEMS_N", 200000))
RSS_N = int(os.environ.get("RSS_N", 100000))

# name, bench_core arguments (N last), key, lower is better, unit scale, unit
WORKLOADS = [
    ("switch, ns per sleep(0)", ["switch", SWITCH_N], "switch_cpu_ns", True, 1, "ns"),
    ("spawn+join one at a time, per s", ["spawn", SPAWN_N, 0], "spawn_join_cpu_per_s", False, 1e6, "M"),
    (f"spawn+join with {ALIVE} parked, per s", ["spawn", SPAWN_N, ALIVE], "spawn_join_cpu_per_s", False, 1e6, "M"),
    ("link, ns per item", ["link", ITEMS_N], "link_cpu_ns", True, 1, "ns"),
    ("iwait, ns per item", ["iwait", ITEMS_N], "iwait_cpu_ns", True, 1, "ns"),
    ("JoinableQueue, ns per item", ["jqueue", ITEMS_N], "jqueue_cpu_ns", True, 1, "ns"),
    (f"RSS per parked greenlet ({RSS_N})", ["rss", RSS_N], "rss_per_greenlet", True, 1, "B"),
]
# bench_core arguments, N, and the operations a run of N adds over one of N
# per N (the warm-up rounds of all but spawn are a tenth of N)
INSNS = [("switch", ["switch"], 200000, 1.1), ("spawn+join", ["spawn"], 100000, 1.0), ("link", ["link"], 20000, 1.1),
         ("iwait", ["iwait"], 20000, 1.1), ("jqueue", ["jqueue"], 200000, 1.1)]


def run(binary, args):
    out = subprocess.run(["taskset", "-c", CPU, binary] + [str(a) for a in args], check=True,
                         capture_output=True, text=True).stdout
    return dict(l.split(None, 1) for l in out.splitlines() if " " in l)


def insns(binary, args, n, per):
    def irefs(k):
        err = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                              binary] + args + [str(k)], check=True, capture_output=True, text=True).stderr
        return int(re.search(r"I\s+refs:\s+([\d,]+)", err).group(1).replace(",", ""))
    return (irefs(2 * n) - irefs(n)) / (n * per)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--insns", action="store_true")
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    bins = [os.path.abspath(b) for b in a.binaries]
    load0 = open("/proc/loadavg").read().split()[:3]
    vals = {(w[0], b): [] for w in WORKLOADS for b in bins}
    for r in range(a.rounds):
        order = bins[r % len(bins):] + bins[:r % len(bins)]
        for w in WORKLOADS:
            for b in order:
                vals[(w[0], b)].append(float(run(b, w[1])[w[2]]))
        print(f"round {r + 1}/{a.rounds} done, load {open('/proc/loadavg').read().split()[0]}", file=sys.stderr,
              flush=True)
    load1 = open("/proc/loadavg").read().split()[:3]
    print("| workload (CPU time; medians of %d interleaved rounds) | %s | %s |" %
          (a.rounds, " | ".join(str(i) for i in range(len(bins))),
           " | ".join(f"{i} vs 0" for i in range(1, len(bins)))))
    print("|---" * (1 + 2 * len(bins) - 1) + "|")
    for name, _, _, lower, scale, unit in WORKLOADS:
        cells = [f"{statistics.median(vals[(name, b)]) / scale:.{1 if unit != 'M' else 2}f} {unit}" for b in bins]
        ratios = []
        for b in bins[1:]:
            rs = [(x / y if lower else y / x) for x, y in zip(vals[(name, bins[0])], vals[(name, b)])]
            ratios.append(f"{statistics.median(rs):.3f}x")
        print(f"| {name} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    print()
    for i, b in enumerate(bins):
        print(f"- {i}: {b}")
        for name, *_ in WORKLOADS:
            print(f"  - {name}: {' '.join(f'{v:g}' for v in vals[(name, b)])}")
    print(f"- load average {' '.join(load0)} at start, {' '.join(load1)} at end; pinned with taskset -c {CPU}")
    if a.insns:
        print()
        print("| instructions per operation (cachegrind) | %s |" % " | ".join(str(i) for i in range(len(bins))))
        print("|---" * (1 + len(bins)) + "|")
        for name, args, n, per in INSNS:
            print(f"| {name} | {' | '.join(f'{insns(b, args, n, per):.0f}' for b in bins)} |")


if __name__ == "__main__":
    main()
