#!/usr/bin/env bash
# Install and package: `cmake --install` puts the binary, man pages,
# completions and libgreen (headers, static and shared library, CMake package,
# green.pc) in the standard places, and an outside program builds against that
# prefix; cpack makes the green, libgreen0 and libgreen-dev .debs whose
# contents and dependencies are right and whose green --version works once
# unpacked. (scripts/deb-check installs them on a fresh Debian root.)
# Usage: package_test.sh BUILD_DIR
set -u
build=${1:?usage: package_test.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
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

# libgreen: the library a C++ project adopts.
libdir=$(cd "$tmp/prefix" && ls -d lib/x86_64-linux-gnu lib 2>/dev/null | head -n 1)
for f in include/green/green.hpp include/green/detail/core.hpp "$libdir/libgreen.a" "$libdir/libgreen.so" \
         "$libdir/libgreen.so.0" "$libdir/cmake/green/greenConfig.cmake" "$libdir/cmake/green/greenConfigVersion.cmake" \
         "$libdir/cmake/green/green-targets.cmake" "$libdir/pkgconfig/green.pc"; do
  [ -e "$tmp/prefix/$f" ] || fail "cmake --install did not install $f"
done
soname=$(objdump -p "$tmp/prefix/$libdir/libgreen.so" 2>/dev/null | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = libgreen.so.0 ] || fail "libgreen.so's SONAME is '$soname', not libgreen.so.0"
# libgreen.so exports its API only (libgreen/green.map): no code of the Asio,
# Beast or std templates compiled into it (about a thousand such functions before).
leaked=$(nm -D --defined-only -C "$tmp/prefix/$libdir/libgreen.so" | awk '$2 ~ /^[TW]$/' |
  grep -v -e ' green::' -e ' boost::system::' -e '_category()$' | head -n 3)
[ -z "$leaked" ] || fail "libgreen.so exports code that is not its API: $leaked"
nm -D --defined-only -C "$tmp/prefix/$libdir/libgreen.so" | grep -q ' T green::run_main\| T green::detail::run_main' ||
  fail "libgreen.so does not export green::detail::run_main"
# green.pc is relocatable: it works from a prefix other than the configured one.
export PKG_CONFIG_PATH=$tmp/prefix/$libdir/pkgconfig
[ "$(pkg-config --modversion green 2>&1)" = "$(awk 'NR == 1 { print $2 }' <<<"$("$tmp/prefix/bin/green" --version)")" ] ||
  fail "pkg-config --modversion green: $(pkg-config --modversion green 2>&1)"
want="consumer: 0 1 2 3 4 (libgreen $(pkg-config --modversion green))"
if g++ -std=c++20 -o "$tmp/consumer_pc" "$src/tests/consumer/consumer.cpp" $(pkg-config --cflags --libs green) \
     -Wl,-rpath,"$tmp/prefix/$libdir" 2>"$tmp/pc.err"; then
  got=$("$tmp/consumer_pc")
  [ "$got" = "$want" ] || fail "the program built with pkg-config printed '$got', not '$want'"
else
  fail "a program does not build with pkg-config --cflags --libs green: $(head -n 5 "$tmp/pc.err")"
fi
# find_package(green) resolves green::green and its dependencies (configure only: deb-check builds it).
cmake -S "$src/tests/consumer" -B "$tmp/consumer-build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/cmake.out" 2>&1 ||
  fail "find_package(green) failed: $(grep -m 3 -i error -A 3 "$tmp/cmake.out")"

(cd "$build" && cpack -B "$tmp/pkg" >/dev/null 2>"$tmp/cpack.err") || fail "cpack failed: $(cat "$tmp/cpack.err")"
deb=$(ls "$tmp"/pkg/green_*.deb 2>/dev/null | head -n 1)
runtime=$(ls "$tmp"/pkg/libgreen0_*.deb 2>/dev/null | head -n 1)
dev=$(ls "$tmp"/pkg/libgreen-dev_*.deb 2>/dev/null | head -n 1)
[ -n "$runtime" ] || fail "cpack made no libgreen0 .deb"
[ -n "$dev" ] || fail "cpack made no libgreen-dev .deb"
needs_boost_context() {  # prints the package name when the ELF file links Boost.Context
  objdump -p "$1" | grep -q 'NEEDED.*libboost_context' && echo libboost-context1.81.0
}
if [ -z "$deb" ]; then
  fail "cpack made no green .deb"
else
  contents=$(dpkg-deb -c "$deb")
  for f in ./usr/bin/green ./usr/share/man/man1/green.1 ./usr/share/bash-completion/completions/green; do
    grep -qF " $f" <<<"$contents" || fail "the green .deb lacks $f"
  done
  grep -q 'libgreen\|include/green' <<<"$contents" && fail "the green .deb holds library files: $(grep -m 1 'libgreen\|include/green' <<<"$contents")"
  depends=$(dpkg-deb -f "$deb" Depends)
  dpkg-deb -x "$deb" "$tmp/root"
  # Boost.Context is linked only where libgreen's own x86-64 switch is not
  # used, so each package must depend on what its binary really needs.
  for lib in libcurl4 libc-ares2 $(needs_boost_context "$tmp/root/usr/bin/green"); do
    grep -q "$lib" <<<"$depends" || fail "the .deb does not depend on $lib (Depends: $depends)"
  done
  out=$("$tmp/root/usr/bin/green" --version) || fail "green --version from the .deb failed"
  for want in "^green " "^Boost 1\.81" "^libcurl " "^c-ares "; do
    grep -Eq "$want" <<<"$out" || fail "green --version from the .deb lacks '$want'"
  done
fi
if [ -n "$runtime" ]; then
  contents=$(dpkg-deb -c "$runtime")
  grep -qE ' \./usr/lib/(x86_64-linux-gnu/)?libgreen\.so\.0 ' <<<"$contents" || fail "libgreen0 lacks libgreen.so.0"
  grep -qE 'include/|\.a$|libgreen\.so ->|bin/' <<<"$contents" && fail "libgreen0 holds more than the shared library"
  depends=$(dpkg-deb -f "$runtime" Depends)
  dpkg-deb -x "$runtime" "$tmp/runtime"
  for lib in libcurl4 libc-ares2 $(needs_boost_context "$(find "$tmp/runtime" -name 'libgreen.so.0*' -type f | head -n 1)"); do
    grep -q "$lib" <<<"$depends" || fail "libgreen0 does not depend on $lib (Depends: $depends)"
  done
fi
if [ -n "$dev" ]; then
  contents=$(dpkg-deb -c "$dev")
  for f in include/green/green.hpp libgreen.a 'libgreen.so ->' cmake/green/greenConfig.cmake pkgconfig/green.pc; do
    grep -qF "$f" <<<"$contents" || fail "libgreen-dev lacks $f"
  done
  depends=$(dpkg-deb -f "$dev" Depends)
  for want in "libgreen0 (= " libboost-context1.81-dev libc-ares-dev libidn2-dev libssl-dev libcurl; do
    grep -qF "$want" <<<"$depends" || fail "libgreen-dev does not depend on $want (Depends: $depends)"
  done
fi

if [ $failures -gt 0 ]; then echo "$failures check(s) failed" >&2; exit 1; fi
echo "package: install layout (tools and libgreen), a program built with pkg-config, find_package, the three .debs' contents and dependencies, --version all right"
