#!/usr/bin/env bash
# A private nginx on loopback for green's HTTP tests and benchmarks.
#
#   httpd.sh start DIR [WORKERS]   creates DIR (config, temp dirs, content, a
#                                  self-signed certificate) and starts nginx as
#                                  the calling user; writes DIR/env with
#                                  HTTP_PORT, HTTPS_PORT, NGINX_PID, CERT
#   httpd.sh stop DIR              stops that nginx by its PID
#
# Content under http://127.0.0.1:$HTTP_PORT/ (and https on $HTTPS_PORT, with
# HTTP/2):
#   /files/size-{0,1,1000,65536,1048576,3000000}.bin   random bytes, and
#   DIR/www/SHA256SUMS for byte-exact checks
#   /status/404, /status/500, /status/429 (Retry-After: 1)
#   /r3 -> /r2 -> /r1 -> /files/size-1000.bin   (302 chain), /loop-a <-> /loop-b
#   /slow/size-65536.bin                         served at 1 KiB/s
#   /small/N.txt for N in 1..$SMALL_FILES (default 0)  ~1 KiB each (benchmarks)
#   /big/N.bin for N in 1..$BIG_FILES (default 0)      1 MiB each (benchmarks)
#   /echo-ua                                      returns 200 "ua=<User-Agent>"
#   /method                                       returns 200 "<method> <body length>"
set -euo pipefail
cmd=${1:?usage: httpd.sh start|stop DIR [WORKERS]}
dir=${2:?usage: httpd.sh start|stop DIR [WORKERS]}
workers=${3:-1}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
stop)
  if [ -f "$dir/env" ]; then
    # shellcheck disable=SC1091
    . "$dir/env"
    kill "$NGINX_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$NGINX_PID" 2>/dev/null || true
  fi
  exit 0
  ;;
start) ;;
*) echo "httpd.sh: unknown command $cmd" >&2; exit 2 ;;
esac

nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { echo "httpd.sh: nginx is not installed (scripts/bootstrap)" >&2; exit 3; }

mkdir -p "$dir"/{www/files,www/slow,www/small,www/big,tmp,logs}
dir=$(cd "$dir" && pwd)
for n in 0 1 1000 65536 1048576 3000000; do
  head -c "$n" /dev/urandom >"$dir/www/files/size-$n.bin"
done
cp "$dir/www/files/size-65536.bin" "$dir/www/slow/"
(cd "$dir/www" && sha256sum files/*.bin >SHA256SUMS)
small=${SMALL_FILES:-0}
if [ "$small" -gt 0 ]; then
  line=$(head -c 1000 /dev/zero | tr '\0' 'x')
  python3 - "$dir/www/small" "$small" "$line" <<'PY'
import sys, os
d, n, line = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(1, n + 1):
    with open(os.path.join(d, f"{i}.txt"), "w") as f:
        f.write(f"{i:08d} {line}\n")
PY
fi
big=${BIG_FILES:-0}
if [ "$big" -gt 0 ]; then
  head -c 1048576 /dev/urandom >"$dir/www/big/1.bin"
  for i in $(seq 2 "$big"); do ln -f "$dir/www/big/1.bin" "$dir/www/big/$i.bin"; done
fi

# When run as root, nginx's workers drop to nobody: let them read the content.
chmod -R a+rX "$dir"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null

for attempt in 1 2 3 4 5; do
  http_port=$(free_port)
  https_port=$(free_port)
  cat >"$dir/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  default_type application/octet-stream;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  sendfile on;
  server {
    listen 127.0.0.1:$http_port reuseport backlog=4096;
    listen 127.0.0.1:$https_port ssl http2;
    ssl_certificate $dir/cert.pem;
    ssl_certificate_key $dir/key.pem;
    root $dir/www;
    location = /status/404 { return 404 "not found\n"; }
    location = /status/500 { return 500 "server error\n"; }
    location = /status/429 { add_header Retry-After 1 always; return 429 "slow down\n"; }
    location = /r3 { return 302 /r2; }
    location = /r2 { return 302 /r1; }
    location = /r1 { return 302 /files/size-1000.bin; }
    location = /loop-a { return 302 /loop-b; }
    location = /loop-b { return 302 /loop-a; }
    location = /echo-ua { return 200 "ua=\$http_user_agent\n"; }
    location = /method { return 200 "\$request_method \$content_length\n"; }
    location /slow/ { limit_rate 1k; }
  }
}
CONF
  "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" </dev/null >"$dir/logs/stdout" 2>&1 &
  pid=$!
  for _ in $(seq 50); do
    if curl -s -o /dev/null "http://127.0.0.1:$http_port/files/size-0.bin"; then
      printf 'HTTP_PORT=%s\nHTTPS_PORT=%s\nNGINX_PID=%s\nCERT=%s\nWWW=%s\n' \
        "$http_port" "$https_port" "$pid" "$dir/cert.pem" "$dir/www" >"$dir/env"
      exit 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
echo "httpd.sh: nginx did not start; see $dir/logs/error.log" >&2
cat "$dir/logs/error.log" >&2 || true
exit 1
