#!/usr/bin/env bash
# The web examples (examples/web_*.cpp, on green::web) against real clients:
# curl, Python's http.client, Python websockets, raw sockets. Usage:
# web_test.sh PATH/TO/green (the examples are built next to it, in ../examples).
set -u
green=${1:?usage: web_test.sh PATH/TO/green}
examples=$(cd "$(dirname "$green")/../examples" && pwd)
# Debian's python3 has python3-websockets (scripts/packages/net.txt).
py=/usr/bin/python3
[ -x "$py" ] || py=python3
exec "$py" "$(dirname "$0")/web_test.py" "$examples"
