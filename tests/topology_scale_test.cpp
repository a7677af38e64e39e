// Topology at the sizes forage's users run on (16 to 256 cores), on synthetic machines: the
// pinning plan puts one worker on every core before any core gets a second, and every worker's
// victim tiers hold every other worker exactly once, nearest tier first, with the tier sizes
// each machine's shape implies.

#include <algorithm>
#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "forage/topology.hpp"

namespace forage {
namespace {

using Tiers = std::vector<std::vector<std::size_t>>;

constexpr std::size_t kWorkerCounts[] = {1, 16, 64, 256};

// Shapes of machines forage's users run on, as hwloc synthetic descriptions.
struct Machine {
  const char* description;
  const char* like;
};
constexpr Machine kMachines[] = {
    {"package:2 numa:2 core:16 pu:2", "2 sockets, sub-NUMA clustering: 64 cores, 128 PUs"},
    {"package:8 core:32 pu:1", "8 sockets on one NUMA node, no shared cache: 256 cores"},
    {"package:2 [numa] l3:4 core:8 pu:2", "2 sockets of 4 L3 groups (EPYC, NPS1): 64 cores"},
    {"package:2 l3:4 core:8 pu:2", "the same, one NUMA node over both sockets (NPS0)"},
};

std::vector<std::size_t> tier_sizes(const Tiers& tiers) {
  std::vector<std::size_t> sizes;
  for (const auto& tier : tiers) sizes.push_back(tier.size());
  return sizes;
}

// The core each planned PU is on.
std::vector<std::size_t> core_of_plan(const Topology& topology, const std::vector<int>& plan) {
  std::vector<std::size_t> cores;
  for (int pu : plan) {
    for (std::size_t c = 0; c < topology.core_count(); ++c) {
      const std::vector<int>& pus = topology.cores()[c].pus;
      if (std::find(pus.begin(), pus.end(), pu) != pus.end()) cores.push_back(c);
    }
  }
  return cores;
}

// How far apart two cores are, written from the tier rules of Topology::victim_tiers (its
// header): 0 same core, 1 same cache group, 2 same NUMA node and package, 3 same package only,
// 4 same NUMA node only, 5 neither.
int distance(const Core& a, const Core& b, bool same_core) {
  if (same_core) return 0;
  if (a.cache_group == b.cache_group) return 1;
  const bool numa = a.numa_node == b.numa_node;
  const bool package = a.package == b.package;
  if (numa && package) return 2;
  if (package) return 3;
  if (numa) return 4;
  return 5;
}

// ---- Packages ---------------------------------------------------------------------------------

TEST(TopologyScale, CoresKnowTheirPackage) {
  const Topology topology = Topology::synthetic("package:2 core:2 pu:1");
  std::vector<std::size_t> packages;
  for (const Core& core : topology.cores()) packages.push_back(core.package);
  EXPECT_EQ(packages, (std::vector<std::size_t>{0, 0, 1, 1}));
  EXPECT_NE(topology.describe().find("package 1 (Package L#1"), std::string::npos)
      << topology.describe();
}

// ---- Pinning plans ----------------------------------------------------------------------------

TEST(TopologyScale, CoresPlanGivesEveryCoreOneWorkerThenTheSecondPusThenWraps) {
  for (const Machine& machine : kMachines) {
    const Topology topology = Topology::synthetic(machine.description);
    const std::size_t cores = topology.core_count();
    const std::size_t pus = topology.pu_count();
    for (const std::size_t workers : kWorkerCounts) {
      SCOPED_TRACE(std::string(machine.description) + ", " + std::to_string(workers) + " workers");
      const std::vector<int> plan = topology.pinning_plan(workers, Pinning::cores);
      ASSERT_EQ(plan.size(), workers);
      for (std::size_t i = 0; i < workers; ++i) {
        if (i < cores) {
          EXPECT_EQ(plan[i], topology.cores()[i].pus[0]) << "worker " << i;
        } else if (i < pus) {
          // Every core here has two PUs: the second rank, core by core.
          EXPECT_EQ(plan[i], topology.cores()[i - cores].pus[1]) << "worker " << i;
        } else {
          EXPECT_EQ(plan[i], plan[i - pus]) << "worker " << i;
        }
      }
      // No core holds two workers while another core holds none.
      const std::vector<std::size_t> core_of = core_of_plan(topology, plan);
      const std::set<std::size_t> distinct(core_of.begin(), core_of.end());
      EXPECT_EQ(distinct.size(), std::min(workers, cores));
    }
  }
}

TEST(TopologyScale, PusPlanFollowsOsOrderAtEverySize) {
  const Topology topology = Topology::synthetic("package:2 numa:2 core:16 pu:2");
  const std::vector<int> pus = topology.allowed_pus();
  for (const std::size_t workers : kWorkerCounts) {
    const std::vector<int> plan = topology.pinning_plan(workers, Pinning::pus);
    ASSERT_EQ(plan.size(), workers);
    for (std::size_t i = 0; i < workers; ++i) EXPECT_EQ(plan[i], pus[i % pus.size()]);
  }
}

// ---- Victim tiers -----------------------------------------------------------------------------

TEST(TopologyScale, EveryOtherWorkerIsAVictimExactlyOnceNearestTierFirst) {
  for (const Machine& machine : kMachines) {
    const Topology topology = Topology::synthetic(machine.description);
    for (const std::size_t workers : kWorkerCounts) {
      const std::vector<int> plan = topology.pinning_plan(workers, Pinning::cores);
      const std::vector<std::size_t> core_of = core_of_plan(topology, plan);
      for (std::size_t worker = 0; worker < workers; ++worker) {
        SCOPED_TRACE(std::string(machine.description) + ", " + std::to_string(workers) +
                     " workers, worker " + std::to_string(worker));
        const Tiers tiers = topology.victim_tiers(workers, plan, worker);
        std::vector<std::size_t> seen;
        int previous = -1;
        for (const std::vector<std::size_t>& tier : tiers) {
          ASSERT_FALSE(tier.empty());
          const auto distance_to = [&](std::size_t other) {
            return distance(topology.cores()[core_of[worker]], topology.cores()[core_of[other]],
                            core_of[worker] == core_of[other]);
          };
          const int here = distance_to(tier.front());
          EXPECT_GT(here, previous) << "tiers out of order";
          for (std::size_t other : tier) EXPECT_EQ(distance_to(other), here) << other;
          previous = here;
          seen.insert(seen.end(), tier.begin(), tier.end());
        }
        std::sort(seen.begin(), seen.end());
        std::vector<std::size_t> others;
        for (std::size_t other = 0; other < workers; ++other) {
          if (other != worker) others.push_back(other);
        }
        ASSERT_EQ(seen, others);
      }
    }
  }
}

TEST(TopologyScale, UnpinnedVictimsAreOneTierOfEveryOtherWorker) {
  const Topology topology = Topology::synthetic("package:8 core:32 pu:1");
  for (const std::size_t workers : kWorkerCounts) {
    const Tiers tiers = topology.victim_tiers(workers, {}, workers - 1);
    if (workers == 1) {
      EXPECT_TRUE(tiers.empty());
      continue;
    }
    ASSERT_EQ(tiers.size(), 1u);
    EXPECT_EQ(tiers[0].size(), workers - 1);
  }
}

// 2 packages x 2 NUMA nodes x 16 cores x 2 PUs, no shared cache in the description. Worker 0
// is on core 0 (NUMA node 0 of package 0).
TEST(TopologyScale, SubNumaMachineTiersAreCoreThenNodeThenPackageThenTheRest) {
  const Topology topology = Topology::synthetic("package:2 numa:2 core:16 pu:2");
  const auto sizes_at = [&](std::size_t workers) {
    return tier_sizes(
        topology.victim_tiers(workers, topology.pinning_plan(workers, Pinning::cores), 0));
  };
  EXPECT_EQ(sizes_at(1), (std::vector<std::size_t>{}));
  EXPECT_EQ(sizes_at(16), (std::vector<std::size_t>{15}));  // all on node 0
  EXPECT_EQ(sizes_at(64), (std::vector<std::size_t>{15, 16, 32}));
  // 128 fill every PU: worker 64 is core 0's second PU.
  EXPECT_EQ(sizes_at(128), (std::vector<std::size_t>{1, 30, 32, 64}));
  // 256 put two workers on each PU: 3 others on core 0.
  EXPECT_EQ(sizes_at(256), (std::vector<std::size_t>{3, 60, 64, 128}));
}

// Without this tier order a machine whose NUMA node spans its sockets (or one that reports a
// single node) mixed the workers across the socket link in with those on the same die.
TEST(TopologyScale, PackagesSplitTheTiersWhenOneNumaNodeSpansThem) {
  const Topology eight = Topology::synthetic("package:8 core:32 pu:1");
  const std::vector<int> plan = eight.pinning_plan(256, Pinning::cores);
  EXPECT_EQ(tier_sizes(eight.victim_tiers(256, plan, 0)), (std::vector<std::size_t>{31, 224}));
  EXPECT_EQ(tier_sizes(eight.victim_tiers(256, plan, 255)), (std::vector<std::size_t>{31, 224}));
  const std::vector<int> plan64 = eight.pinning_plan(64, Pinning::cores);
  EXPECT_EQ(tier_sizes(eight.victim_tiers(64, plan64, 40)), (std::vector<std::size_t>{31, 32}));

  // EPYC-like, NPS0: 4 L3 groups of 8 cores per socket, one NUMA node for both sockets.
  const Topology nps0 = Topology::synthetic("package:2 l3:4 core:8 pu:2");
  const std::vector<int> plan_nps0 = nps0.pinning_plan(64, Pinning::cores);
  const Tiers tiers = nps0.victim_tiers(64, plan_nps0, 0);
  EXPECT_EQ(tier_sizes(tiers), (std::vector<std::size_t>{7, 24, 32}));
  EXPECT_EQ(tiers[1].front(), 8u);   // the same socket's other L3 groups
  EXPECT_EQ(tiers[2].front(), 32u);  // then the other socket
}

// The same EPYC-like machine with a NUMA node per socket (NPS1): L3 group, socket, the rest.
TEST(TopologyScale, NumaPerSocketMachineTiersAreCacheThenSocketThenTheRest) {
  const Topology topology = Topology::synthetic("package:2 [numa] l3:4 core:8 pu:2");
  const std::vector<int> plan = topology.pinning_plan(256, Pinning::cores);
  // 256 workers on 128 PUs: worker 0 shares core 0 with workers 64, 128 and 192.
  const Tiers tiers = topology.victim_tiers(256, plan, 0);
  EXPECT_EQ(tier_sizes(tiers), (std::vector<std::size_t>{3, 28, 96, 128}));
  EXPECT_EQ(tiers[0], (std::vector<std::size_t>{64, 128, 192}));
}

}  // namespace
}  // namespace forage
