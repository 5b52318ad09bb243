#!/usr/bin/env bash
# Man pages: one per subcommand, rendered by man and groff without warnings,
# listing every option its --help lists.
# Usage: man_test.sh PATH/TO/green MANDIR
set -u
green=${1:?usage: man_test.sh GREEN MANDIR}
mandir=${2:?usage: man_test.sh GREEN MANDIR}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

subcommands() {  # the names under "Commands:" in green --help
  "$green" --help | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}'
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
  # Each option with its value's name whole, as --help shows it (not cut at
  # a colon: "--server ADDR[:PORT]"), and no CLI11 syntax in either.
  local named
  while IFS= read -r named; do
    grep -qF -- "$named" <<<"$text" || fail "$page does not show '$named' (as '$* --help' does)"
  done < <("$@" --help | sed -nE 's/^  (-[A-Za-z0-9], )?(--[a-z0-9.-]+ [^ ]+).*/\2/p' | sed -E 's/ +$//')
  local raw
  raw=$(grep -nE '[A-Z]+:\{|:[A-Z]+ in \[|\{true\}|REQUIRED|Excludes:|Positionals:' <<<"$text$("$@" --help)") &&
    fail "$page or '$* --help' shows CLI11 syntax: $raw"
  raw=$("$@" --help | grep -E '^  (-[A-Za-z0-9], )?--[a-z0-9.-]+ [^ ]+=') && fail "'$* --help' shows CLI11's =DEFAULT: $raw"
  # A default is said once per option, not "(default 30s). Default: 30s."
  local twice
  twice=$(awk 'BEGIN {RS = ""} {n = gsub(/[Dd]efault/, "&")} n > 1 {print}' <<<"$text")
  [ -z "$twice" ] || fail "$page states a default twice: $twice"
  twice=$("$@" --help | awk '/^  [^ ]/ || /^      -/ || /^$/ {if (n > 1) print row; row = ""; n = 0}
                             {row = row $0 "\n"; n += gsub(/[Dd]efault/, "&")}')
  [ -z "$twice" ] || fail "'$* --help' states a default twice: $twice"
}

check_page "$mandir/green.1" "$green"
subs=$(subcommands)
commands=$(MANWIDTH=100 MANPAGER=cat man -l "$mandir/green.1" 2>/dev/null | sed -n '/^COMMANDS/,/^OPTIONS/p')
[ -n "$subs" ] || fail "no subcommands found in green --help"
for sub in $subs; do
  check_page "$mandir/green-$sub.1" "$green" "$sub"
  grep -q "green\\\\-$sub" "$mandir/green.1" || fail "green(1) does not refer to green-$sub(1)"
  grep -qE "^ +$sub( |\$)" <<<"$commands" ||
    fail "green(1)'s COMMANDS section does not list $sub"
done

if [ $failures -gt 0 ]; then echo "$failures check(s) failed" >&2; exit 1; fi
echo "man pages: all checks passed for: green $subs"
