#!/usr/bin/env zsh
# Prints what real zsh completion offers for a command line:
#   complete_zsh.zsh COMPDIR 'green demo --co'
# Drives an interactive zsh in a pseudo-terminal (zsh/zpty), loads the
# generated _green through compinit, presses TAB, and captures every
# candidate compadd receives.
compdir=$1
line=$2
zmodload zsh/zpty || exit 2
zpty z zsh -f -i
zpty -w z "PROMPT='' RPROMPT=''"
zpty -w z "fpath=(${(q)compdir} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z "zstyle ':completion:*' list-prompt ''; zstyle ':completion:*' select-prompt ''"
zpty -w z 'compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a __hits; builtin compadd -A __hits "$@"
  local m; for m in $__hits; do print -r -- "<CAND>$m</CAND>"; done
  builtin compadd "$@"
}'
zpty -w z "bindkey '^I' complete-word; print -r -- '<READY>'"
# Wait until the setup ran.
local out
while zpty -r z out; do [[ $out == *'<READY>'* && $out != *print* ]] && break; done
zpty -w -n z "$line"$'\t'
zpty -w -n z $'\C-a\C-k'
zpty -w z "print -r -- '<DONE>'"
while zpty -r z out; do
  [[ $out == *'<DONE>'* && $out != *print* ]] && break
  print -r -- "$out"
done | grep -o '<CAND>[^<]*</CAND>' | sed -e 's/<CAND>//' -e 's/<\/CAND>//' | sort -u
zpty -d z
