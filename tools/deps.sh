# shellcheck shell=bash disable=SC2034  # the package arrays are used by the scripts that source this
# tools/deps.sh — Debian 12 package checks shared by tools/check and .ci/run.
#
# Source it, then call:
#   forage_require_packages "${FORAGE_BUILD_PACKAGES[@]}" "${FORAGE_TEST_PACKAGES[@]}"
#
# Missing packages are installed when running as root (apt-get update runs once per shell);
# otherwise the function prints the missing packages and the command to install them, and
# exits 1. Set FORAGE_SKIP_DEPS=1 to skip the check (e.g. on a distribution without dpkg,
# where you installed the equivalents yourself).

# Compilers, build system and the libraries the library itself needs.
FORAGE_BUILD_PACKAGES=(
  cmake                  # >= 3.25 (Debian 12: 3.25.1)
  ninja-build            # the presets' generator
  g++                    # g++ 12: release, checked, debug and tsan presets
  clang                  # clang++ 14: asan preset
  pkg-config             # finds hwloc
  libhwloc-dev           # topology and pinning
  hwloc                  # lstopo, to see what hwloc sees
  libconcurrentqueue-dev # moodycamel::ConcurrentQueue (headers only)
  nlohmann-json3-dev     # JSON: trace output (lib/trace.cpp), forage-topo --json
  libcli11-dev           # command-line flags of forage-topo and forage-trace
)

# GoogleTest, property tests, model checking, sanitizer runtimes, taskset.
FORAGE_TEST_PACKAGES=(
  googletest             # GoogleTest sources (libgtest-dev depends on it)
  libgtest-dev           # GTest::gtest, GTest::gtest_main
  librapidcheck-dev      # rapidcheck, rapidcheck_gtest
  relacy-dev             # relacy/relacy.hpp for the model-check tests
  libclang-rt-14-dev     # clang's ASan/UBSan runtimes and libFuzzer (tests/fuzz/; only
                         # recommended by clang-14)
  util-linux             # taskset
  python3-jsonschema     # tests/tools/bench_json_test.py checks forage-bench --json
)

# Benchmarks and the peers they are compared against.
FORAGE_BENCH_PACKAGES=(
  libbenchmark-dev       # Google Benchmark
  python3                # tools/forage-bench
  libtbb-dev             # oneTBB peer
  libthread-pool-dev     # thread_pool::ThreadPool peer
  libomp-dev             # OpenMP runtime for clang++ (depends on libomp-14-dev)
)

# forage::mpi (the scale-out layer, target forage::mpi), its `mpi` tests and
# tools/forage-bench-mpi: Open MPI's headers, library and mpiexec.
FORAGE_MPI_PACKAGES=(
  libopenmpi-dev         # mpi.h, libmpi (MPI::MPI_C)
  openmpi-bin            # mpiexec
)

# tools/forage-bench --chart: matplotlib for Debian's /usr/bin/python3.
FORAGE_CHART_PACKAGES=(
  python3-matplotlib
)

# Debian packages of forage (tests/packaging/package_test.sh): cpack's DEB generator needs
# dpkg-shlibdeps and file to compute Depends; lintian checks the packages.
FORAGE_PACKAGING_PACKAGES=(
  dpkg-dev               # dpkg-shlibdeps
  file                   # CPack's DEB generator finds the binaries with it
  lintian                # checks the .deb files
)

# The API reference (docs/Doxyfile.in, target `docs`) and its test
# Docs.ReferenceBuildsWithoutWarnings: doxygen, and graphviz's dot for the class and include
# graphs.
FORAGE_DOCS_PACKAGES=(
  doxygen                # 1.9.4: WARN_AS_ERROR = FAIL_ON_WARNINGS
  graphviz               # dot
)

# True when the Debian package $1 is installed (any architecture).
forage_package_installed() {
  local status
  status=$(dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null) || return 1
  # Status is "<want> <error> <state>", e.g. "install ok installed" or "hold ok installed";
  # "deinstall ok config-files" means removed.
  grep -q ' ok installed$' <<<"$status"
}

# forage_require_packages PKG... — make sure every PKG is installed (see the header).
forage_require_packages() {
  if [[ ${FORAGE_SKIP_DEPS:-0} == 1 ]]; then
    return 0
  fi
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "forage: dpkg-query not found: cannot check packages (forage targets Debian 12)." >&2
    echo "forage: continuing; install the equivalents of: $*" >&2
    return 0
  fi

  local pkg
  local -a missing=()
  for pkg in "$@"; do
    forage_package_installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi

  if [[ $(id -u) -ne 0 ]]; then
    {
      echo "forage: missing Debian packages: ${missing[*]}"
      echo "forage: install them with:"
      echo "    sudo apt-get install -y ${missing[*]}"
    } >&2
    exit 1
  fi

  echo "forage: installing missing Debian packages: ${missing[*]}"
  if [[ -z ${FORAGE_APT_UPDATED:-} ]]; then
    apt-get update
    FORAGE_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"

  local -a still=()
  for pkg in "${missing[@]}"; do
    forage_package_installed "$pkg" || still+=("$pkg")
  done
  if ((${#still[@]} != 0)); then
    echo "forage: apt-get did not install: ${still[*]}" >&2
    exit 1
  fi
  echo "forage: installed ${missing[*]}"
}
