"""Runs the test_* functions of a Python end-to-end test (or the ones named on
the command line), each reported as ok or FAIL; a failure does not stop the
others. Exits 1 when any failed."""
import sys
import time


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
