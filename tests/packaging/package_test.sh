#!/usr/bin/env bash
# tests/packaging/package_test.sh BUILD_DIR — forage's Debian packages, end to end.
#
# In BUILD_DIR (configured with BUILD_SHARED_LIBS=ON and the tools: the release preset):
#   1. cpack -G DEB makes libforage0.2, libforage-dev and forage-tools (cmake/packaging.cmake);
#   2. each package's control fields and files are printed, and lintian must report no error;
#   3. as root only: the packages are installed with apt-get (dpkg underneath), consumers are
#      built against them through find_package (the shared and the static library) and
#      through pkg-config, and run; the packages are then purged, and nothing of them may stay.
# Not root: step 3 is skipped, saying so, and the script fails unless FORAGE_PACKAGE_TEST_NO_ROOT_OK=1
# (installing packages needs root; CI runs as root).
set -euo pipefail

build_dir=$(cd "${1:?usage: tests/packaging/package_test.sh BUILD_DIR}" && pwd)
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out="$build_dir/packages"
work="$build_dir/package-test"
rm -rf "$out" "$work"
mkdir -p "$out" "$work"

step() { echo "--- package test: $*"; }

step "cpack -G DEB"
(cd "$build_dir" && cpack -G DEB -B "$out" >"$work/cpack.log" 2>&1) || {
  cat "$work/cpack.log"
  exit 1
}
mapfile -t debs < <(find "$out" -maxdepth 1 -name '*.deb' | sort)
names=()
for deb in "${debs[@]}"; do names+=("$(dpkg-deb -f "$deb" Package)"); done
echo "packages: ${names[*]}"
expected_runtime="libforage$(sed -n 's/^#define FORAGE_VERSION_MAJOR \([0-9]*\)$/\1/p' \
  "$repo_root/include/forage/version.hpp").$(sed -n 's/^#define FORAGE_VERSION_MINOR \([0-9]*\)$/\1/p' \
  "$repo_root/include/forage/version.hpp")"
for want in "$expected_runtime" libforage-dev forage-tools; do
  if [[ " ${names[*]} " != *" $want "* ]]; then
    echo "package test: cpack made no $want package" >&2
    exit 1
  fi
done

for deb in "${debs[@]}"; do
  step "$(basename "$deb")"
  dpkg-deb -f "$deb" Package Version Architecture Section Depends
  dpkg-deb -c "$deb" | awk '{print "  " $1 " " $6 ($7 ? " " $7 " " $8 : "")}'
done
# The runtime package's Depends come from dpkg-shlibdeps, not from a hand-written list.
if ! dpkg-deb -f "$out/${expected_runtime}_"*.deb Depends | grep -q 'libhwloc15'; then
  echo "package test: $expected_runtime does not depend on libhwloc15" >&2
  exit 1
fi

step "lintian (fails on errors; warnings and notes are printed)"
lintian --fail-on error --tag-display-limit 0 "${debs[@]}"
echo "lintian: no error"

if [[ $(id -u) -ne 0 ]]; then
  echo "package test: SKIPPED installing the packages and building against them: that needs" \
    "root (apt-get install, dpkg --purge). Run this script as root to check it."
  [[ ${FORAGE_PACKAGE_TEST_NO_ROOT_OK:-0} == 1 ]] && exit 0
  exit 1
fi

purge() { dpkg --purge "${names[@]}" >/dev/null 2>&1 || true; }
purge # what an interrupted earlier run left
trap purge EXIT
step "apt-get install ${names[*]}"
apt-get install -y -q --no-install-recommends "${debs[@]}" >"$work/install.log" 2>&1 || {
  cat "$work/install.log"
  exit 1
}
libdir=$(dirname "$(dpkg -L "$expected_runtime" | grep '/libforage\.so\.' | head -n 1)")
ldconfig -p | grep -q "libforage.so.${expected_runtime#libforage} " || {
  echo "package test: ldconfig does not know libforage.so.${expected_runtime#libforage}" >&2
  exit 1
}
forage-topo --help >/dev/null
forage-trace --help >/dev/null

# Runs a consumer and checks which libforage it loaded ("" when linked statically).
run_consumer() {
  local program=$1 expect_so=$2
  "$program"
  local loaded
  loaded=$(ldd "$program" | awk '/libforage\.so/ {print $3}')
  # Debian 12 merges /lib into /usr/lib: compare real paths.
  [[ -n $loaded ]] && loaded=$(readlink -f "$loaded")
  [[ -n $expect_so ]] && expect_so=$(readlink -f "$expect_so")
  if [[ $loaded != "$expect_so" ]]; then
    echo "package test: $program loads '${loaded}', expected '${expect_so}'" >&2
    exit 1
  fi
}
shared_so="$libdir/libforage.so.${expected_runtime#libforage}"

step "find_package(forage): the shared library by default, the static one on request"
for kind in shared static; do
  args=("-DEXPECT_FORAGE_KIND=$kind")
  [[ $kind == static ]] && args+=(-Dforage_SHARED_LIBS=OFF)
  cmake -S "$repo_root/tests/consumer" -B "$work/find-package-$kind" -G Ninja \
    "${args[@]}" >"$work/configure-$kind.log" 2>&1 || {
    cat "$work/configure-$kind.log"
    exit 1
  }
  cmake --build "$work/find-package-$kind" >"$work/build-$kind.log" 2>&1 || {
    cat "$work/build-$kind.log"
    exit 1
  }
  [[ $kind == shared ]] && expect="$shared_so" || expect=""
  run_consumer "$work/find-package-$kind/consumer" "$expect"
  echo "find_package, $kind: built and ran"
done

# The source before the flags: Debian 12's g++ links with --as-needed, which drops a library
# named before the objects that use it (hwloc's own pkg-config flags fail the same way).
step "pkg-config: c++ main.cpp \$(pkg-config --cflags --libs forage)"
# shellcheck disable=SC2046 # the flags are words
c++ "$repo_root/tests/consumer/main.cpp" $(pkg-config --cflags --libs forage) -o "$work/pc-consumer"
run_consumer "$work/pc-consumer" "$shared_so"
echo "pkg-config: built and ran"

step "dpkg --purge ${names[*]}"
trap - EXIT
dpkg --purge "${names[@]}" >/dev/null
for name in "${names[@]}"; do
  if dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'installed'; then
    echo "package test: $name is still installed after the purge" >&2
    exit 1
  fi
done
for left in /usr/include/forage "$shared_so" /usr/bin/forage-topo; do
  if [[ -e $left ]]; then
    echo "package test: $left is still there after the purge" >&2
    exit 1
  fi
done
echo "package test: passed"
