#!/usr/bin/env bash
# `green serve chat --http`: WebSocket users (Python websockets), long-polling
# users (curl), TCP users and headless Chromium in the same rooms; see
# chat_web_test.py. Usage: chat_web_test.sh PATH/TO/green
set -u
green=${1:?usage: chat_web_test.sh PATH/TO/green}
# Debian's python3 has python3-websockets (scripts/packages/net.txt).
py=/usr/bin/python3
[ -x "$py" ] || py=python3
exec "$py" "$(dirname "$0")/chat_web_test.py" "$green"
