// forage-topo: prints what forage sees of the machine (or of a synthetic one) and where a
// default Pool would pin its workers. --json gives the same facts to scripts
// (tools/forage-bench reads its machine description from it).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "forage/topology.hpp"

namespace {

nlohmann::json describe_json(const forage::Topology& topology) {
  std::size_t numa_nodes = 0;
  std::size_t cache_groups = 0;
  std::size_t packages = 0;
  nlohmann::json cores = nlohmann::json::array();
  for (const forage::Core& core : topology.cores()) {
    numa_nodes = std::max(numa_nodes, core.numa_node + 1);
    cache_groups = std::max(cache_groups, core.cache_group + 1);
    packages = std::max(packages, core.package + 1);
    cores.push_back({{"os_index", core.os_index},
                     {"pus", core.pus},
                     {"cache_group", core.cache_group},
                     {"numa_node", core.numa_node},
                     {"package", core.package}});
  }
  return {{"synthetic", topology.is_synthetic()},
          {"cores", topology.core_count()},
          {"pus", topology.pu_count()},
          {"numa_nodes", numa_nodes},
          {"cache_groups", cache_groups},
          {"packages", packages},
          {"allowed_pus", topology.allowed_pus()},
          {"core_list", cores},
          {"pinning_plan", topology.pinning_plan(topology.core_count(), forage::Pinning::cores)}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Prints the PUs, cores, caches and NUMA nodes hwloc reports, the PUs this process may run "
      "on (taskset and cgroup cpusets are respected), and the pinning plan of one worker per "
      "core.",
      "forage-topo"};
  std::string synthetic;
  bool json = false;
  app.add_option("--synthetic", synthetic,
                 "describe an hwloc synthetic topology instead of this machine, e.g. "
                 "\"package:2 [numa] l3:1 core:4 pu:2\"");
  app.add_flag("--json", json,
               "print the allowed cores, PUs, NUMA nodes, cache groups and the pinning plan as "
               "one JSON object");
  CLI11_PARSE(app, argc, argv);
  try {
    const forage::Topology topology =
        synthetic.empty() ? forage::Topology::discover() : forage::Topology::synthetic(synthetic);
    if (json) {
      std::cout << describe_json(topology).dump(2) << '\n';
    } else {
      std::cout << topology.describe();
    }
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "forage-topo: %s\n", error.what());
    return 1;
  }
}
