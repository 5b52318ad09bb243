#!/usr/bin/env bash
# The examples web_test.sh does not run: the README's (it prints what the
# README says it does) and gevent's echo server over TLS with its client
# (the seed's protocol: a welcome line, every line echoed back, "quit" ends
# the session), with a certificate made here, the right CA and a wrong one.
# Usage: examples_test.sh PATH/TO/green (the examples are in ../examples).
set -u
green=${1:?usage: examples_test.sh PATH/TO/green}
examples=$(cd "$(dirname "$green")/../examples" && pwd)
tmp=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# ---- examples/readme.cpp ----
out=$("$examples/example_readme")
expected=$'1\n4\n9\ntimed out'
[ "$out" = "$expected" ] || fail "example_readme printed: $out"

# ---- examples/tls_echo.cpp ----
for name in cert other; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$tmp/$name-key.pem" \
    -out "$tmp/$name.pem" -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null ||
    fail "openssl req ($name)"
done
"$examples/example_tls_echo" server "$tmp/cert.pem" "$tmp/cert-key.pem" 0 >"$tmp/server.out" 2>"$tmp/server.err" &
server=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/^Starting echo server on port \([0-9]*\)$/\1/p' "$tmp/server.out")
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -z "$port" ]; then
  fail "the TLS echo server did not start: $(cat "$tmp/server.err")"
else
  out=$(timeout 20 "$examples/example_tls_echo" client localhost "$port" "$tmp/cert.pem" hello 'how are you' quit)
  expected=$'Welcome to the echo server! Type quit to exit.\r\nhello\nhow are you'
  [ "$out" = "$expected" ] || fail "example_tls_echo client printed: $(printf %q "$out")"
  grep -q '^New connection from 127\.0\.0\.1:[0-9]* (TLSv1\.3)$' "$tmp/server.out" ||
    fail "the server did not log the connection: $(cat "$tmp/server.out")"
  # A client trusting another CA refuses the server, naming why; the server
  # logs the failed handshake and goes on.
  timeout 20 "$examples/example_tls_echo" client localhost "$port" "$tmp/other.pem" hello >"$tmp/bad.out" 2>"$tmp/bad.err"
  rc=$?
  [ "$rc" = 1 ] || fail "a client with the wrong CA exited $rc"
  grep -q 'certificate verify failed' "$tmp/bad.err" || fail "wrong CA: $(cat "$tmp/bad.err")"
  out=$(timeout 20 "$examples/example_tls_echo" client 127.0.0.1 "$port" "$tmp/cert.pem" again quit)
  [ "$out" = $'Welcome to the echo server! Type quit to exit.\r\nagain' ] || fail "after a failed handshake: $out"
  grep -q 'handshake with 127\.0\.0\.1:[0-9]* failed' "$tmp/server.err" ||
    fail "the server did not report the failed handshake: $(cat "$tmp/server.err")"
  kill "$server"
  wait "$server"
  rc=$?
  server=
  # Killed by SIGTERM (no handler in the example): 143.
  [ "$rc" = 143 ] || fail "the TLS echo server exited $rc on SIGTERM"
fi

[ "$failures" = 0 ] && echo "examples: all passed"
exit $((failures > 0))
