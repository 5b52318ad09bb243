#!/usr/bin/python3
"""The core workloads of bench_core on gevent, for comparison.

    gevent_core.py switch N          N gevent.sleep(0) calls in total, two greenlets
    gevent_core.py spawn N [ALIVE]   N x gevent.spawn(f).join(), ALIVE greenlets parked
                                     on a gevent.event.Event meanwhile
    gevent_core.py rss N             N greenlets parked on one Event: RSS delta / N
    gevent_core.py link N            N x (spawn, link a counting callback), join all
    gevent_core.py iwait N           N greenlets that each sleep(0) once, taken with iwait
    gevent_core.py jqueue N          N items through a JoinableQueue, task_done, join

Prints `key value` lines like bench_core. Run with the system interpreter
(/usr/bin/python3), which has python3-gevent.
"""
import os
import sys
import time

import gevent
import gevent.event
import greenlet

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def map_count():
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


def max_map_count():
    with open("/proc/sys/vm/max_map_count") as f:
        return int(f.read())


def ping(k):
    sleep = gevent.sleep
    for _ in range(k):
        sleep(0)


def bench_switch(total):
    per = total // 2
    gevent.joinall([gevent.spawn(ping, per // 10 + 1), gevent.spawn(ping, per // 10 + 1)])
    c0 = time.process_time_ns()
    t0 = time.perf_counter_ns()
    gevent.joinall([gevent.spawn(ping, per), gevent.spawn(ping, per)])
    t1 = time.perf_counter_ns()
    c1 = time.process_time_ns()
    calls = 2 * per
    print(f"switches {calls}")
    print(f"seconds {(t1 - t0) / 1e9:.4f}")
    print(f"switch_ns {(t1 - t0) / calls:.2f}")
    print(f"switch_cpu_ns {(c1 - c0) / calls:.2f}")


counter = 0


def trivial():
    global counter
    counter += 1


def bench_spawn(n, alive):
    global counter
    ev = gevent.event.Event()
    parked = [gevent.spawn(ev.wait) for _ in range(alive)]
    gevent.sleep(0)
    spawn = gevent.spawn
    for _ in range(10000):
        spawn(trivial).join()
    counter = 0
    c0 = time.process_time_ns()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        spawn(trivial).join()
    t1 = time.perf_counter_ns()
    c1 = time.process_time_ns()
    assert counter == n, (counter, n)
    ev.set()
    gevent.joinall(parked)
    print(f"alive {alive}")
    print(f"spawn_joins {n}")
    print(f"seconds {(t1 - t0) / 1e9:.4f}")
    print(f"spawn_join_ns {(t1 - t0) / n:.2f}")
    print(f"spawn_join_per_s {n / ((t1 - t0) / 1e9):.0f}")
    print(f"spawn_join_cpu_per_s {n / ((c1 - c0) / 1e9):.0f}")


def bench_rss(n):
    ev = gevent.event.Event()
    gs = [None] * n  # the list's storage is allocated before the baseline
    started = [0]

    def parked():
        started[0] += 1
        ev.wait()

    rss0 = rss_bytes()
    maps0 = map_count()
    t0 = time.perf_counter_ns()
    spawn = gevent.spawn
    for i in range(n):
        gs[i] = spawn(parked)
    gevent.sleep(0)  # every greenlet's start callback runs before ours
    t1 = time.perf_counter_ns()
    rss1 = rss_bytes()
    maps1 = map_count()
    assert started[0] == n, (started[0], n)
    ev.set()
    gevent.joinall(gs)
    t2 = time.perf_counter_ns()
    rss2 = rss_bytes()
    print(f"greenlets {n}")
    print(f"rss_before {rss0}")
    print(f"rss_peak {rss1}")
    print(f"rss_per_greenlet {(rss1 - rss0) / n:.1f}")
    print(f"rss_after_join {rss2}")
    print(f"maps_before {maps0}")
    print(f"maps_peak {maps1}")
    print(f"max_map_count {max_map_count()}")
    print(f"spawn_park_s {(t1 - t0) / 1e9:.3f}")
    print(f"wake_join_s {(t2 - t1) / 1e9:.3f}")
    print(f"all_joined {int(all(g.dead for g in gs))}")


def bench_items(name, n, body):
    body(n // 10 + 1)
    c0 = time.process_time_ns()
    t0 = time.perf_counter_ns()
    body(n)
    t1 = time.perf_counter_ns()
    c1 = time.process_time_ns()
    print(f"items {n}")
    print(f"{name}_ns {(t1 - t0) / n:.2f}")
    print(f"{name}_cpu_ns {(c1 - c0) / n:.2f}")


def link_body(k):
    called = [0]

    def cb(_g):
        called[0] += 1

    gs = []
    for _ in range(k):
        g = gevent.spawn(trivial)
        g.link(cb)
        gs.append(g)
    gevent.joinall(gs)
    while called[0] < k:
        gevent.sleep(0)


def iwait_body(k):
    gs = [gevent.spawn(gevent.sleep, 0) for _ in range(k)]
    got = sum(1 for _ in gevent.iwait(gs))
    assert got == k


def jqueue_body(k):
    import gevent.queue
    q = gevent.queue.JoinableQueue()

    def consume():
        while True:
            q.get()
            q.task_done()

    c = gevent.spawn(consume)
    for i in range(k):
        q.put(i)
    q.join()
    c.kill()


def main(argv):
    if len(argv) < 3 or argv[1] not in ("switch", "spawn", "rss", "link", "iwait", "jqueue"):
        print(__doc__, file=sys.stderr)
        return 2
    n = int(argv[2])
    print(f"gevent {gevent.__version__} greenlet {greenlet.__version__} loop {gevent.config.loop.__module__}")
    if argv[1] == "switch":
        bench_switch(n)
    elif argv[1] == "spawn":
        bench_spawn(n, int(argv[3]) if len(argv) > 3 else 0)
    elif argv[1] == "rss":
        bench_rss(n)
    else:
        bench_items(argv[1], n, {"link": link_body, "iwait": iwait_body, "jqueue": jqueue_body}[argv[1]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
