#!/usr/bin/env bash
# Man pages: one per subcommand, rendered by man and groff without warnings,
# listing every option its --help lists.
# Usage: man_test.sh PATH/TO/green MANDIR
set -u
green=${1:?usage: man_test.sh GREEN MANDIR}
mandir=${2:?usage: man_test.sh GREEN MANDIR}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

subcommands() {  # the names under "Subcommands:" in green --help
  "$green" --help | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}'
}
options_in_help() {  # every -x / --long token that --help lists
  "$@" --help | grep -oE '(^|[ ,])--?[A-Za-z0-9][A-Za-z0-9.-]*' | sed 's/^[ ,]*//' | sort -u
}

check_page() {  # PAGE, then the command whose --help it documents
  local page=$1; shift
  [ -f "$page" ] || { fail "missing man page $page"; return; }
  local warnings
  warnings=$(groff -ww -man -Tutf8 "$page" 2>&1 >/dev/null)
  [ -z "$warnings" ] || fail "groff warns about $page: $warnings"
  local text
  text=$(MANWIDTH=100 MANPAGER=cat man -l "$page" 2>&1) || fail "man -l $page failed"
  for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES; do
    grep -q "^$section" <<<"$text" || fail "$page has no $section section"
  done
  local opt
  for opt in $(options_in_help "$@"); do
    grep -qF -- "$opt" <<<"$text" || fail "$page does not mention $opt (listed by '$* --help')"
  done
}

check_page "$mandir/green.1" "$green"
subs=$(subcommands)
[ -n "$subs" ] || fail "no subcommands found in green --help"
for sub in $subs; do
  check_page "$mandir/green-$sub.1" "$green" "$sub"
  grep -q "green\\\\-$sub" "$mandir/green.1" || fail "green(1) does not refer to green-$sub(1)"
done

if [ $failures -gt 0 ]; then echo "$failures check(s) failed" >&2; exit 1; fi
echo "man pages: all checks passed for: green $subs"
