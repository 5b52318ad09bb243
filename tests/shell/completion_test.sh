#!/usr/bin/env bash
# Completions: real bash, zsh and fish load the generated scripts and offer
# the right words for subcommands, options and fixed values.
# Usage: completion_test.sh PATH/TO/green COMPDIR
set -u
green=${1:?usage: completion_test.sh GREEN COMPDIR}
compdir=${2:?usage: completion_test.sh GREEN COMPDIR}
here=$(cd "$(dirname "$0")" && pwd)
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

bash_complete() {  # words of a command line; the last one is being completed
  bash --norc --noprofile -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    _green
    printf "%s\n" "${COMPREPLY[@]}"' _ "$compdir/green.bash" "$@"
}
fish_complete() { fish --no-config -c "source '$compdir/green.fish'; complete -C '$1'" | cut -f1; }
zsh_complete() { zsh -f "$here/complete_zsh.zsh" "$compdir" "$1"; }

expect() {  # SHELL LINE WORD...: completing LINE in SHELL offers every WORD
  local shell=$1 line=$2; shift 2
  local got
  case $shell in
    bash) read -ra words <<<"$line"; [[ $line == *" " ]] && words+=(""); got=$(bash_complete "${words[@]}") ;;
    fish) got=$(fish_complete "$line") ;;
    zsh) got=$(zsh_complete "$line") ;;
  esac
  local w
  for w in "$@"; do
    grep -qxF -- "$w" <<<"$got" || fail "$shell: completing '$line' does not offer '$w' (got: $(tr '\n' ' ' <<<"$got"))"
  done
}

subs=$("$green" --help | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}')
for shell in bash fish zsh; do
  for sub in $subs; do
    expect $shell "green ${sub:0:1}" "$sub"
    # Every long option of the subcommand completes from its first three
    # letters (in zsh, whose pseudo-terminal round trip takes a second, the
    # first four of them).
    n=0
    for opt in $("$green" "$sub" --help | grep -oE -- '--[a-z][a-z0-9.-]+' | sort -u); do
      n=$((n + 1))
      [ $shell = zsh ] && [ $n -gt 4 ] && break
      expect $shell "green $sub ${opt:0:4}" "$opt"
    done
  done
  expect $shell "green --ver" "--version"
  # The cases the issue names, and the fixed values of --color.
  expect $shell "green f" fetch
  expect $shell "green fetch --co" --concurrency --connect-timeout --color
  expect $shell "green resolve -t " A AAAA MX TXT
  expect $shell "green cron --color " auto always never
  expect $shell "green serve " echo chat
done

# File arguments complete to files.
tmp=$(mktemp -d)
touch "$tmp/urls-list.txt"
for sub in $subs; do
  if "$green" "$sub" --help | grep -q 'FILE'; then
    expect bash "green $sub $tmp/urls-" "$tmp/urls-list.txt"
    expect fish "green $sub $tmp/urls-" "$tmp/urls-list.txt"
  fi
done
rm -rf "$tmp"

if [ $failures -gt 0 ]; then echo "$failures check(s) failed" >&2; exit 1; fi
echo "completions: all checks passed (bash, zsh, fish) for: $subs"
