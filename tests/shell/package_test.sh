#!/usr/bin/env bash
# Install and package: `cmake --install` puts the binary, man pages and
# completions in the standard places; cpack makes a .deb whose contents and
# dependencies are right and whose green --version works once unpacked.
# Usage: package_test.sh BUILD_DIR
set -u
build=${1:?usage: package_test.sh BUILD_DIR}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null || fail "cmake --install failed"
for f in bin/green share/man/man1/green.1 share/man/man1/green-demo.1 \
         share/bash-completion/completions/green share/zsh/vendor-completions/_green \
         share/fish/vendor_completions.d/green.fish; do
  [ -e "$tmp/prefix/$f" ] || fail "cmake --install did not install $f"
done
"$tmp/prefix/bin/green" --version >/dev/null || fail "the installed green --version failed"

(cd "$build" && cpack -B "$tmp/pkg" >/dev/null 2>"$tmp/cpack.err") || fail "cpack failed: $(cat "$tmp/cpack.err")"
deb=$(ls "$tmp"/pkg/*.deb 2>/dev/null | head -n 1)
if [ -z "$deb" ]; then
  fail "cpack made no .deb"
else
  contents=$(dpkg-deb -c "$deb")
  for f in ./usr/bin/green ./usr/share/man/man1/green.1 ./usr/share/bash-completion/completions/green; do
    grep -qF " $f" <<<"$contents" || fail "the .deb lacks $f"
  done
  depends=$(dpkg-deb -f "$deb" Depends)
  for lib in libcurl4 libc-ares2 libboost-context1.81.0; do
    grep -q "$lib" <<<"$depends" || fail "the .deb does not depend on $lib (Depends: $depends)"
  done
  dpkg-deb -x "$deb" "$tmp/root"
  out=$("$tmp/root/usr/bin/green" --version) || fail "green --version from the .deb failed"
  for want in "^green " "^Boost 1\.81" "^libcurl " "^c-ares "; do
    grep -Eq "$want" <<<"$out" || fail "green --version from the .deb lacks '$want'"
  done
fi

if [ $failures -gt 0 ]; then echo "$failures check(s) failed" >&2; exit 1; fi
echo "package: install layout, .deb contents, dependencies and --version all right"
