#!/usr/bin/env python3
"""Server CPU and system calls per request of `green serve http` against nginx
and h2o on a 1 KiB file (issue 14), measured so that load on a shared machine
moves it little: the serving process's own user and system CPU time
(/proc/PID/stat) over a fixed wrk run, divided by the requests wrk completed.
Every server serves the same directory, pinned to CPU 0; wrk (-t1) runs on
CPU 1. Rounds interleave the servers and rotate their order (the first server
of a round used to win by 20-40%); the table gives medians of the rounds.

With --syscalls, one more wrk run per server under
`perf stat -e 'syscalls:sys_enter_*'` counts the system calls per request
(perf's tracepoints slow the server a little, so those runs are left out of
the CPU figures).

Usage: bench/serve_http_cpu.py [--before PATH] [--rounds N] [--secs S]
           [--conns 50,500] [--servers green,green-before,nginx,h2o]
           [--syscalls] [GREEN]
GREEN defaults to build/release/tools/green; --before adds "green-before",
another build run the same way (the A/B of a change).
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HZ = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on port {port}")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # utime, stime


class Server:
    def __init__(self, name, work, green, before):
        self.name = name
        self.port = free_port()
        www = os.path.join(work, "www")
        if name in ("green", "green-before"):
            binary = green if name == "green" else before
            cmd = [binary, "serve", "http", www, "--port", str(self.port)]
        elif name == "nginx":
            d = os.path.join(work, "nginx")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "nginx.conf"), "w") as f:
                f.write(f"""worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 20000; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path {d};
  proxy_temp_path {d};
  fastcgi_temp_path {d};
  uwsgi_temp_path {d};
  scgi_temp_path {d};
  server {{ listen 127.0.0.1:{self.port}; root {www}; }}
}}
""")
            cmd = ["nginx", "-c", f"{d}/nginx.conf", "-p", d]
        elif name == "h2o":
            d = os.path.join(work, "h2o")
            os.makedirs(d, exist_ok=True)
            import pwd
            with open(os.path.join(d, "h2o.conf"), "w") as f:
                f.write(f"""num-threads: 1
max-connections: 20000
user: {pwd.getpwuid(os.getuid()).pw_name}
pid-file: {d}/h2o.pid
error-log: {d}/error.log
listen:
  host: 127.0.0.1
  port: {self.port}
hosts:
  default:
    paths:
      /:
        file.dir: {www}
""")
            cmd = ["h2o", "-c", f"{d}/h2o.conf"]
        else:
            sys.exit(f"unknown server {name}")
        self.proc = subprocess.Popen(["taskset", "-c", "0"] + cmd, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(work, name + ".log"), "w"))
        wait_port(self.port)
        self.pid = self.proc.pid
        if name == "nginx":  # the worker serves, not the master
            for _ in range(100):
                kids = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
                if kids:
                    self.pid = int(kids[0])
                    break
                time.sleep(0.05)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wrk(port, conns, secs):
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{secs}s",
                          f"http://127.0.0.1:{port}/1k.bin"], capture_output=True, text=True).stdout
    n = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        sys.exit(f"wrk: {bad.group(1)} error responses from port {port}")
    return n, float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def measure(srv, conns, secs):
    u0, s0 = cpu_ticks(srv.pid)
    n, rps = wrk(srv.port, conns, secs)
    u1, s1 = cpu_ticks(srv.pid)
    per = 1e6 / HZ / max(n, 1)
    return rps, (u1 - u0) * per, (s1 - s0) * per


def syscalls(srv, conns, secs, work):
    out = os.path.join(work, f"perf-{srv.name}-{conns}.txt")
    perf = subprocess.Popen(["perf", "stat", "-x", ",", "-o", out, "-e", "syscalls:sys_enter_*", "-p", str(srv.pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    n, _ = wrk(srv.port, conns, secs)
    perf.send_signal(signal.SIGINT)
    perf.wait()
    counts = {}
    with open(out) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[2].startswith("syscalls:sys_enter_") and parts[0].isdigit():
                if int(parts[0]):
                    counts[parts[2][len("syscalls:sys_enter_"):]] = int(parts[0]) / n
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("green", nargs="?", default="build/release/tools/green")
    ap.add_argument("--before")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--conns", default="50,500")
    ap.add_argument("--servers", default="")
    ap.add_argument("--syscalls", action="store_true")
    a = ap.parse_args()
    names = a.servers.split(",") if a.servers else (["green"] + (["green-before"] if a.before else []) + ["nginx", "h2o"])
    for t in ["wrk", "taskset"] + [n for n in names if n in ("nginx", "h2o")] + (["perf"] if a.syscalls else []):
        if not shutil.which(t):
            sys.exit(f"missing {t}")
    work = tempfile.mkdtemp(prefix="green-http-cpu-")
    os.chmod(work, 0o755)  # nginx's workers run as another user when started as root
    os.makedirs(os.path.join(work, "www"))
    with open(os.path.join(work, "www", "1k.bin"), "wb") as f:
        f.write(os.urandom(1024))
    servers = {}
    try:
        for n in names:
            servers[n] = Server(n, work, os.path.abspath(a.green), a.before and os.path.abspath(a.before))
        print(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}, "
              f"{a.rounds} rounds of {a.secs} s, order rotated each round", flush=True)
        for conns in [int(c) for c in a.conns.split(",")]:
            res = {n: [] for n in names}
            for r in range(a.rounds):
                order = names[r % len(names):] + names[:r % len(names)]
                for n in order:
                    res[n].append(measure(servers[n], conns, a.secs))
            print(f"\n## wrk -t1 -c{conns}, 1 KiB file (load {os.getloadavg()[0]:.1f})\n")
            print("| server | req/s | CPU us/request | user | sys | CPU per request, rounds | vs green |")
            print("|---|---:|---:|---:|---:|---|---:|")
            g = statistics.median(u + s for _, u, s in res[names[0]])
            for n in names:
                tot = [u + s for _, u, s in res[n]]
                print(f"| {n} | {statistics.median(x for x, _, _ in res[n]):.0f} | {statistics.median(tot):.2f} | "
                      f"{statistics.median(u for _, u, _ in res[n]):.2f} | {statistics.median(s for _, _, s in res[n]):.2f} | "
                      f"{' '.join(f'{t:.2f}' for t in tot)} | {statistics.median(tot) / g:.2f}x |", flush=True)
            if a.syscalls:
                counts = {n: syscalls(servers[n], conns, a.secs, work) for n in names}
                calls = sorted({c for n in names for c in counts[n] if max(counts[m].get(c, 0) for m in names) >= 0.005})
                print(f"\nSystem calls per request, wrk -t1 -c{conns} (perf stat -e 'syscalls:sys_enter_*'):\n")
                print("| system call | " + " | ".join(names) + " |")
                print("|---|" + "---:|" * len(names))
                for c in calls:
                    print(f"| {c} | " + " | ".join(f"{counts[n].get(c, 0):.3f}" for n in names) + " |")
                print("| **total** | " + " | ".join(f"**{sum(counts[n].values()):.2f}**" for n in names) + " |",
                      flush=True)
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
