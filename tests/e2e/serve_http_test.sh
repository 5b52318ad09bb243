#!/usr/bin/env bash
# `green serve http` against real clients on loopback: curl, Python's
# http.client, wrk, headless Chromium and raw sockets (see serve_http_test.py).
# Usage: serve_http_test.sh PATH/TO/green
set -u
green=${1:?usage: serve_http_test.sh PATH/TO/green}
exec python3 "$(dirname "$0")/serve_http_test.py" "$green"
