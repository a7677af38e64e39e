// Where workers go and whom they steal from: arithmetic on the cores that discovery
// (hwloc_discovery.cpp) found. Nothing here asks hwloc, so a synthetic topology gives exactly
// the answers a real machine with the same shape would, and tests can check them.

#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "forage/errors.hpp"
#include "forage/topology.hpp"

namespace forage {

namespace {

// The index into `cores` of the core holding each planned PU.
std::vector<std::size_t> cores_of_plan(const std::vector<Core>& cores,
                                       const std::vector<int>& plan) {
  std::map<int, std::size_t> core_of_pu;
  for (std::size_t c = 0; c < cores.size(); ++c) {
    for (int pu : cores[c].pus) core_of_pu.emplace(pu, c);
  }
  std::vector<std::size_t> result;
  result.reserve(plan.size());
  for (int pu : plan) {
    const auto it = core_of_pu.find(pu);
    if (it == core_of_pu.end()) {
      throw InvalidArgument("forage::Topology::victim_tiers: the plan names PU " +
                            std::to_string(pu) +
                            ", which is not an allowed PU of this topology; pass the result "
                            "of this topology's pinning_plan()");
    }
    result.push_back(it->second);
  }
  return result;
}

}  // namespace

std::size_t Topology::pu_count() const noexcept {
  std::size_t count = 0;
  for (const Core& core : cores_) count += core.pus.size();
  return count;
}

std::vector<int> Topology::allowed_pus() const {
  std::vector<int> pus;
  pus.reserve(pu_count());
  for (const Core& core : cores_) pus.insert(pus.end(), core.pus.begin(), core.pus.end());
  std::sort(pus.begin(), pus.end());
  return pus;
}

std::vector<int> Topology::pinning_plan(std::size_t workers, Pinning pinning) const {
  std::vector<int> order;  // the PU each worker gets, before wrapping around
  switch (pinning) {
    case Pinning::none:
      return {};
    case Pinning::pus:
      order = allowed_pus();
      break;
    case Pinning::cores: {
      // Rank r takes the r-th PU of every core that has one, so cores with fewer allowed PUs
      // (a partial taskset, hybrid chips) simply drop out of the later ranks.
      std::size_t ranks = 0;
      for (const Core& core : cores_) ranks = std::max(ranks, core.pus.size());
      for (std::size_t rank = 0; rank < ranks; ++rank) {
        for (const Core& core : cores_) {
          if (rank < core.pus.size()) order.push_back(core.pus[rank]);
        }
      }
      break;
    }
  }
  std::vector<int> plan;
  if (order.empty()) return plan;  // an empty Topology{}: nothing to pin to
  plan.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) plan.push_back(order[i % order.size()]);
  return plan;
}

std::vector<std::vector<std::size_t>> Topology::victim_tiers(std::size_t workers,
                                                             const std::vector<int>& plan,
                                                             std::size_t worker) const {
  if (worker >= workers) {
    throw InvalidArgument("forage::Topology::victim_tiers: worker " + std::to_string(worker) +
                          " is not one of the " + std::to_string(workers) +
                          " workers; pass an index below the worker count");
  }
  if (!plan.empty() && plan.size() != workers) {
    throw InvalidArgument("forage::Topology::victim_tiers: the plan has " +
                          std::to_string(plan.size()) + " entries for " + std::to_string(workers) +
                          " workers; pass pinning_plan(workers, ...) or an empty plan");
  }
  // Nearest first. A package and a NUMA node can nest either way: sub-NUMA clustering puts
  // several nodes in one package, a node interleaved over sockets (AMD's NPS0) spans several
  // packages. Either way a victim that shares both is nearer than one that shares only one,
  // and one in the same package (a few on-die hops) is nearer than one behind the socket link
  // that happens to share a node.
  enum Tier : std::size_t {
    kSameCore,
    kSameCache,
    kSameNumaAndPackage,
    kSamePackage,
    kSameNuma,
    kRest,
    kTiers
  };
  std::vector<std::vector<std::size_t>> tiers(kTiers);
  if (plan.empty()) {
    for (std::size_t other = 0; other < workers; ++other) {
      if (other != worker) tiers[kRest].push_back(other);
    }
  } else {
    const std::vector<std::size_t> core_of = cores_of_plan(cores_, plan);
    const Core& mine = cores_[core_of[worker]];
    for (std::size_t other = 0; other < workers; ++other) {
      if (other == worker) continue;
      const Core& theirs = cores_[core_of[other]];
      // Same PU (oversubscription) implies same core, so it lands in the first tier too.
      if (core_of[other] == core_of[worker]) {
        tiers[kSameCore].push_back(other);
      } else if (theirs.cache_group == mine.cache_group) {
        tiers[kSameCache].push_back(other);
      } else if (theirs.numa_node == mine.numa_node && theirs.package == mine.package) {
        tiers[kSameNumaAndPackage].push_back(other);
      } else if (theirs.package == mine.package) {
        tiers[kSamePackage].push_back(other);
      } else if (theirs.numa_node == mine.numa_node) {
        tiers[kSameNuma].push_back(other);
      } else {
        tiers[kRest].push_back(other);
      }
    }
  }
  std::erase_if(tiers, [](const std::vector<std::size_t>& tier) { return tier.empty(); });
  return tiers;
}

}  // namespace forage
