#!/usr/bin/env bash
# One behaviour for every tool (stdin forms, `| head -n 1`, --json, colour,
# progress on a terminal only, SIGINT, exit codes), against a private nginx
# and Knot on loopback; see behaviour_test.py. Usage: behaviour_test.sh PATH/TO/green
set -u
green=${1:?usage: behaviour_test.sh PATH/TO/green}
exec python3 "$(dirname "$0")/behaviour_test.py" "$green"
