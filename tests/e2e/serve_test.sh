#!/usr/bin/env bash
# `green serve echo|chat` against real TCP clients on loopback (the clients
# are Python sockets; see serve_test.py). Usage: serve_test.sh PATH/TO/green
set -u
green=${1:?usage: serve_test.sh PATH/TO/green}
exec python3 "$(dirname "$0")/serve_test.py" "$green"
