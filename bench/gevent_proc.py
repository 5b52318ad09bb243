"""gevent.subprocess equivalent of bench_proc: N `true` processes, C at a time."""
import sys
import time

import gevent.pool
from gevent import subprocess


def main():
    n, c = int(sys.argv[1]), int(sys.argv[2])
    pool = gevent.pool.Pool(c)
    t0 = time.monotonic()
    for _ in range(n):
        pool.spawn(lambda: subprocess.Popen(["true"]).wait())
    pool.join()
    print("%.3f %d %d gevent" % (time.monotonic() - t0, n, c))


main()
