#!/usr/bin/env python3
"""Tables for the server benchmarks that run their servers in rounds.

    bench/rounds.py [--ref NAME] [--pair A B] [--bound NAME:GOAL] [--rate UNIT] [--cpu UNIT] [--title WORDS] < RUNS

RUNS has one line per measured run: ROUND WORKLOAD POSITION SERVER RATE
USER SYS, where POSITION is the run's place in its round's order (the
scripts rotate the order every round), RATE is higher-is-better, and USER
and SYS are the server's user and kernel CPU time per operation ("-" where
unknown). Per workload it prints each server's medians and the median of
the per-round ratios to --ref: a ratio of medians would let one slow round
of one server decide it.

--pair A B (an A/A run: A and B the same build) adds the order check: the
median over rounds of the earlier-run server's rate over the later one's,
and of the later one's CPU per operation over the earlier one's. Both are
1.00 when the place in a round does not matter.

--bound NAME:GOAL adds what the kernel allows against NAME: a server with
no user-space time at all would still spend the kernel time per operation
of the leanest server measured, so its ratio to NAME's total CPU per
operation is the most a server can reach (GOAL is the ratio asked for).
"""
import argparse
import statistics
import sys
from collections import defaultdict


def num(s):
    return None if s == "-" else float(s)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=None):
    if x is None:
        return "-"
    if digits is None:  # three significant digits or so
        digits = 0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2
    return f"{x:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="green")
    ap.add_argument("--pair", nargs=2)
    ap.add_argument("--bound")
    ap.add_argument("--rate", default="ops/s")
    ap.add_argument("--cpu", default="us/op")
    ap.add_argument("--title", default="", help="words before the workload in each table's title")
    a = ap.parse_args()
    runs = defaultdict(dict)  # workload -> (round, server) -> (pos, rate, usr, sys)
    servers, workloads = [], []
    for line in sys.stdin:
        f = line.split()
        if len(f) != 7:
            continue
        rnd, w, pos, s, rate, usr, sy = f
        if w not in workloads:
            workloads.append(w)
        if s not in servers:
            servers.append(s)
        runs[w][(rnd, s)] = (int(pos), num(rate), num(usr), num(sy))

    def total(v):
        return None if v[2] is None or v[3] is None else v[2] + v[3]

    for w in workloads:
        r = runs[w]
        rounds = sorted({k[0] for k in r}, key=int)
        places = {v[0] for k, v in r.items() if k[1] == servers[0]}
        how = "order rotated from round to round" if len(places) > 1 else "the same order every round"
        print(f"\n## {a.title}{w} (medians of {len(rounds)} rounds, {how})\n")
        cpu = any(v[2] is not None for v in r.values())
        if cpu:
            print(f"| server | {a.rate} | {a.ref} / server | CPU {a.cpu}: user | kernel | total | server / {a.ref} CPU |")
            print("|---|---:|---:|---:|---:|---:|---:|")
        else:
            print(f"| server | {a.rate} | {a.ref} / server |")
            print("|---|---:|---:|")
        for s in servers:
            mine = [r[(n, s)] for n in rounds if (n, s) in r]
            if not mine:
                continue
            both = [(r[(n, a.ref)], r[(n, s)]) for n in rounds if (n, s) in r and (n, a.ref) in r]
            rr = med([g[1] / x[1] for g, x in both if g[1] and x[1]])
            cr = med([total(x) / total(g) for g, x in both if total(g) and total(x) is not None])
            row = f"| {s} | {fmt(med([v[1] for v in mine]), 1)} | {fmt(rr, 2)}x |"
            if cpu:
                row += (f" {fmt(med([v[2] for v in mine]))} | {fmt(med([v[3] for v in mine]))} | "
                        f"{fmt(med([total(v) for v in mine]))} | {fmt(cr, 2)}x |")
            print(row)
        if a.pair:
            first, later = [], []
            for n in rounds:
                if (n, a.pair[0]) not in r or (n, a.pair[1]) not in r:
                    continue
                e, l = sorted([r[(n, a.pair[0])], r[(n, a.pair[1])]], key=lambda v: v[0])
                if e[1] and l[1]:
                    first.append(e[1] / l[1])
                if total(e) and total(l) is not None:
                    later.append(total(l) / total(e))
            def spread(xs):
                return f"rounds {min(xs):.2f}-{max(xs):.2f}" if xs else "no rounds"
            print(f"\nOrder check, {a.pair[0]} vs {a.pair[1]}: the one that ran earlier in a round vs the later one: "
                  f"{a.rate} x{fmt(med(first), 2)} ({spread(first)})"
                  + (f", CPU per op x{fmt(med(later), 2)} for the later one ({spread(later)})" if later else "")
                  + f"; medians of {len(first)} rounds, 1.00 = no order bias when both are one build")
        if a.bound and cpu:
            name, goal = a.bound.split(":")
            sysm = {s: med([r[(n, s)][3] for n in rounds if (n, s) in r]) for s in servers}
            them = med([total(r[(n, name)]) for n in rounds if (n, name) in r])
            mine = sysm.get(a.ref)
            peers = [s for s in servers if s not in (name, a.ref) + tuple(a.pair or ()) and sysm[s] is not None]
            peer = min(peers, key=lambda s: sysm[s], default=None)
            floor = min(x for x in (mine, sysm[peer] if peer else None) if x is not None) if mine or peer else None
            if them and floor:
                print(f"\nKernel bound vs {name}: {name} spends {fmt(them)} {a.cpu} (user + kernel). Kernel time "
                      f"alone: {a.ref} {fmt(mine)}, the leanest peer ({peer or '-'}) "
                      f"{fmt(sysm[peer]) if peer else '-'}. A server with no user-space time at all would reach "
                      f"{fmt(them / floor, 1)}x {name} with the lesser of these, "
                      f"{fmt(them / mine, 1) if mine else '-'}x with {a.ref}'s (the goal is {goal}x).")

if __name__ == "__main__":
    main()
