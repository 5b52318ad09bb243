"""Reads `green cron --json` events on stdin and prints the p50/p99 lateness
of job starts (tick -> run greenlet started, and tick -> child spawned)."""
import json
import sys


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


late, spawned, skips, starts = [], [], 0, 0
for line in sys.stdin:
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    if ev.get("event") == "start":
        starts += 1
        late.append(ev["late_ms"])
        spawned.append(ev["late_ms"] + ev["spawn_ms"])
    elif ev.get("event") == "skip":
        skips += 1
print("starts %d  skipped (overlap) %d" % (starts, skips))
print("tick lateness (run started)   p50 %.2f ms  p99 %.2f ms  max %.2f ms"
      % (pct(late, 50), pct(late, 99), max(late) if late else float("nan")))
print("child spawned after its tick  p50 %.2f ms  p99 %.2f ms" % (pct(spawned, 50), pct(spawned, 99)))
