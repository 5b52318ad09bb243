#!/usr/bin/env bash
# `green serve http` against nginx, h2o and gevent's pywsgi, side by side in
# one run (issue 14). All four serve the same directory at the same time, each
# pinned to CPU 0; the clients run on CPU 1.
#   small: wrk on a 1 KiB file, 50 and 500 connections (requests/s)
#   big:   one curl download of a BIG_MIB file (MB/s; default 1024 MiB)
#   idle:  IDLE_CONNS keep-alive connections after one request each: the
#          server's resident memory per connection
# green runs with 1 hub, nginx with 1 worker (sendfile on, access log off),
# h2o with 1 thread, pywsgi as one process (bench/servers/pywsgi_files.py).
#
# Every round runs each server once per workload, the order rotated by one
# from round to round; before each measured wrk run the script waits until no
# server uses CPU and then gives the server WARMUP seconds (default 1) of the
# same load unmeasured. Ratios are medians of the per-round ratios
# (bench/rounds.py). WARMUP=0 SETTLE=0 ROTATE=0 measure the way the script
# did before (bench/RESULTS.md, "run-order bias"). CPU per request is the
# server's user and kernel time (/proc/PID/stat) over the measured run's
# requests; on loopback the kernel time includes the client's receive path,
# which runs while the server sends.
#
# GREEN_BEFORE=PATH/TO/green adds "green-before", another build of green (the
# commit before a change) run the same way, for a before/after in one run;
# give it the same binary for an A/A run: the "order check" line must say ~1.00.
#
# Usage: bench/serve_http_bench.sh [BUILD_DIR] [SECONDS] [ROUNDS]
#   (build/release, 5, one round per server: each gets each place once)
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build/release}
secs=${2:-5}
rounds=${3:-}
green=$build/tools/green
big_mib=${BIG_MIB:-1024}
idle_conns=${IDLE_CONNS:-10000}
servers=${SERVERS:-"green nginx h2o pywsgi"}
warmup=${WARMUP:-1}
if [ -n "${GREEN_BEFORE:-}" ]; then
  [ -x "$GREEN_BEFORE" ] || { echo "GREEN_BEFORE: no $GREEN_BEFORE" >&2; exit 2; }
  rest=" $servers "
  servers="green green-before ${rest/ green / }"
fi
[ -x "$green" ] || { echo "missing $green (build the release preset)" >&2; exit 2; }
for t in wrk curl nginx h2o taskset; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 2; }; done
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d /tmp/green-http-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/www" "$work/nginx" "$work/h2o"
chmod 755 "$work"  # nginx's and h2o's workers run as another user when started as root
head -c 1024 /dev/urandom >"$work/www/1k.bin"
dd if=/dev/urandom of="$work/www/big.bin" bs=1M count="$big_mib" status=none
cat "$work/www/big.bin" >/dev/null  # into the page cache for everyone

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 200); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$1)).close()" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  exit 1
}

declare -A port pid
start() {
  local p
  p=$(free_port)
  case $1 in
    green)
      taskset -c 0 "$green" serve http "$work/www" --port "$p" 2>"$work/green.log" &
      ;;
    green-before)
      taskset -c 0 "$GREEN_BEFORE" serve http "$work/www" --port "$p" 2>"$work/green-before.log" &
      ;;
    nginx)
      cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 20000; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:$p; root $work/www; }
}
CONF
      taskset -c 0 nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>>"$work/nginx/error.log" &
      ;;
    h2o)
      cat >"$work/h2o/h2o.conf" <<CONF
num-threads: 1
max-connections: 20000
user: $(id -un)
pid-file: $work/h2o/h2o.pid
error-log: $work/h2o/error.log
listen:
  host: 127.0.0.1
  port: $p
hosts:
  default:
    paths:
      /:
        file.dir: $work/www
CONF
      taskset -c 0 h2o -c "$work/h2o/h2o.conf" >"$work/h2o/out.log" 2>&1 &
      ;;
    pywsgi)
      taskset -c 0 /usr/bin/python3 "$here/servers/pywsgi_files.py" "$work/www" "$p" 2>"$work/pywsgi.log" &
      ;;
  esac
  pid[$1]=$!
  pids+=("$!")
  port[$1]=$p
  wait_port "$p"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# The process that serves: nginx's worker is the child of the master started
# (h2o serves from the process started; its child is a helper).
serving_pid() {
  local p=${pid[$1]} child
  if [ "$1" = nginx ]; then
    child=$(pgrep -P "$p" | head -1)
    [ -n "$child" ] && p=$child
  fi
  echo "$p"
}
user_sys() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
# Waits (at most 5 s) until none of the servers has used CPU for 0.2 s: a
# server still closing the last run's connections must not share CPU 0 with
# the next one's measured run.
settle() {
  local now last="" i s
  [ "${SETTLE:-1}" = 0 ] && return
  for i in $(seq 25); do
    now=$(for s in $servers; do user_sys "$(serving_pid "$s")"; done | tr '\n' ' ')
    [ "$now" = "$last" ] && break
    last=$now
    sleep 0.2
  done
  echo "$(((i - 2) * 2))" >>"$work/settle"  # tenths of a second some server still ran
}
# Prints "REQ/S USER-US SYS-US" (the server's user and kernel CPU time per
# request): the machine is shared, so the server's own CPU time per request
# says more than requests/s when others compete for the cores.
wrk_run() {
  local p u0 s0 u1 s1 out
  p=$(serving_pid "$1")
  settle
  [ "$warmup" = 0 ] || taskset -c 1 wrk -t1 -c"$2" -d"${warmup}s" "http://127.0.0.1:${port[$1]}/1k.bin" >/dev/null
  read -r u0 s0 < <(user_sys "$p")
  out=$(taskset -c 1 wrk -t1 -c"$2" -d"${secs}s" "http://127.0.0.1:${port[$1]}/1k.bin")
  read -r u1 s1 < <(user_sys "$p")
  awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" '
    /^Requests\/sec:/ { rps = $2 }
    / requests in / { n = $1 }
    END { n = n > 0 ? n : 1; printf "%s %.2f %.2f\n", rps, u / hz * 1e6 / n, s / hz * 1e6 / n }' <<<"$out"
}
curl_mbps() {
  settle
  taskset -c 1 curl -s -o /dev/null -w '%{speed_download} %{size_download}\n' "http://127.0.0.1:${port[$1]}/big.bin" |
    awk -v want=$((big_mib * 1048576)) '$2 != want { print "short download: " $2 > "/dev/stderr" } { printf "%.1f\n", $1 / 1e6 }'
}

for s in $servers; do start "$s"; done
# Are they all serving the same bytes?
for s in $servers; do
  got=$(curl -s "http://127.0.0.1:${port[$s]}/1k.bin" | cmp -s - "$work/www/1k.bin" && echo same)
  [ "$got" = same ] || { echo "$s does not serve the file's bytes" >&2; exit 1; }
done

set -- $servers
rounds=${rounds:-$#}
echo "# serve http (issue 14): $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${secs}s per wrk run, $rounds rounds"
echo "# uptime: $(uptime)"
echo "# green $(git -C "$here" rev-parse --short HEAD 2>/dev/null), $(nginx -v 2>&1), $(h2o --version | head -1), gevent $(/usr/bin/python3 -c 'import gevent; print(gevent.__version__)')"
runs=$work/runs
for r in $(seq "$rounds"); do
  k=$(((r - 1) % $#))
  [ "${ROTATE:-1}" = 0 ] && k=0
  order="${*:k+1} ${*:1:k}"
  for c in 50 500; do
    pos=0
    for s in $order; do
      pos=$((pos + 1))
      echo "$r c$c $pos $s $(wrk_run "$s" "$c")" >>"$runs"
    done
  done
  pos=0
  for s in $order; do
    [ "$s" = pywsgi ] && continue
    pos=$((pos + 1))
    echo "$r big $pos $s $(curl_mbps "$s") - -" >>"$runs"
  done
  echo "# round $r done (order $order): $(uptime)" >&2
done
echo "# uptime after: $(uptime)"
[ -s "$work/settle" ] && sort -n "$work/settle" | awk '{ a[NR] = $1 } END {
  printf "# before a measured run, some server still used CPU for: median %.1f s, max %.1f s (%d runs)\n", a[int((NR + 1) / 2)] / 10, a[NR] / 10, NR }'
echo
echo "Runs (round, workload, place in the round, server, rate, CPU us/request user, kernel):"
echo
sed 's/^/    /' "$runs"
pair=
[ -n "${GREEN_BEFORE:-}" ] && pair="--pair green green-before"
bound=
[[ " $servers " = *" pywsgi "* ]] && bound="--bound pywsgi:30"
grep -v ' big ' "$runs" | python3 "$here/rounds.py" --title "1 KiB file, wrk -t1 -" --ref green --rate req/s --cpu us/request $pair $bound
grep ' big ' "$runs" | python3 "$here/rounds.py" --title "${big_mib} MiB file, one curl download: " --ref green --rate MB/s $pair

echo
echo "## $idle_conns idle keep-alive connections (one request each): server resident memory"
echo
echo "| server | RSS before | RSS with $idle_conns conns | per connection |"
echo "|---|---:|---:|---:|"
for s in $servers; do
  [ "$s" = pywsgi ] && continue
  p=$(serving_pid "$s")
  before=$(rss_kib "$p")
  coproc IDLE { taskset -c 1 /usr/bin/python3 "$here/servers/http_idle.py" 127.0.0.1 "${port[$s]}" /1k.bin "$idle_conns"; }
  read -r line <&"${IDLE[0]}"
  if [ "$line" != ready ]; then
    echo "| $s | idle client failed: $line | | |"
    continue
  fi
  sleep 1
  after=$(rss_kib "$p")
  exec {IDLE[1]}>&-
  wait "$IDLE_PID" 2>/dev/null
  per=$(awk -v a="$after" -v b="$before" -v n="$idle_conns" 'BEGIN { printf "%.2f KiB", (a - b) / n }')
  echo "| $s | $before KiB | $after KiB | $per |"
  sleep 1
done
