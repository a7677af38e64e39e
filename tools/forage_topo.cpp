// forage-topo: prints what forage sees of the machine (or of a synthetic one) and where a
// default Pool would pin its workers.

#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "forage/topology.hpp"

namespace {

constexpr const char* kUsage =
    "usage: forage-topo [--synthetic DESC]\n"
    "\n"
    "Prints the PUs, cores, caches and NUMA nodes hwloc reports, the PUs this process may run\n"
    "on (taskset and cgroup cpusets are respected), and the pinning plan of one worker per\n"
    "core.\n"
    "\n"
    "  --synthetic DESC  describe an hwloc synthetic topology instead of this machine,\n"
    "                    e.g. --synthetic \"package:2 [numa] l3:1 core:4 pu:2\"\n"
    "  -h, --help        print this help\n";

int fail(const std::string& message) {
  std::fprintf(stderr, "forage-topo: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::string> synthetic;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    constexpr std::string_view kSyntheticEq = "--synthetic=";
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--synthetic") {
      if (i + 1 == argc) return fail("--synthetic needs a description\n" + std::string(kUsage));
      synthetic = argv[++i];
    } else if (arg.starts_with(kSyntheticEq)) {
      synthetic = std::string(arg.substr(kSyntheticEq.size()));
    } else {
      return fail("unknown argument '" + std::string(arg) + "'\n" + std::string(kUsage));
    }
  }
  try {
    const forage::Topology topology =
        synthetic ? forage::Topology::synthetic(*synthetic) : forage::Topology::discover();
    std::fputs(topology.describe().c_str(), stdout);
    return 0;
  } catch (const std::exception& error) {
    return fail(error.what());
  }
}
