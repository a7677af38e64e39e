/// @file
/// Topology: what the process may run on, as hwloc sees it, and where workers go.
///
/// Only lib/topology/hwloc_discovery.cpp includes <hwloc.h>; this header is plain data plus a
/// handle. The arithmetic on the discovered cores (pinning plans, victim tiers) is in
/// lib/topology/pinning_and_victims.cpp.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "forage/export.hpp"

namespace forage {

/// How a Pool binds its workers to the machine (see Topology::pinning_plan).
enum class Pinning {
  none,   ///< the OS places threads
  cores,  ///< worker i on core i; then the second PU of each core; then wrap (default)
  pus     ///< worker i on allowed PU i in OS order; then wrap
};

/// One physical core with at least one allowed PU. A plain value.
struct Core {
  int os_index = -1;            ///< hwloc's OS index of the core (-1 when unknown)
  std::vector<int> pus;         ///< OS indices of its allowed PUs (hardware threads), ascending
  std::size_t cache_group = 0;  ///< dense id of the cache it shares: L3, else L2, else its own
  std::size_t numa_node = 0;    ///< dense id of its NUMA node
  std::size_t package = 0;      ///< dense id of its package (socket)
};

/// The machine as hwloc sees it (or a synthetic one), and the plans made on it.
///
/// Thread-safety: a discovered Topology is immutable; its const members may be called from
/// any number of threads at once, and copies share the hwloc handle. Errors: a member that
/// allocates may throw std::bad_alloc (or TopologyError when hwloc cannot allocate); the others
/// say what they throw.
class FORAGE_API Topology {
 public:
  /// The machine: hwloc's allowed cpuset intersected with the process's current binding, so
  /// `taskset` and cgroup cpusets are respected. Throws TopologyError when hwloc fails.
  static Topology discover();

  /// An hwloc synthetic description such as "package:1 core:4 pu:2", marked as this system
  /// so that binding is really attempted (and fails for PUs the machine does not have).
  /// Throws InvalidArgument on a malformed description.
  static Topology synthetic(std::string_view description);

  /// The cores with at least one allowed PU.
  const std::vector<Core>& cores() const noexcept { return cores_; }
  /// How many cores have an allowed PU.
  std::size_t core_count() const noexcept { return cores_.size(); }
  /// How many allowed PUs (hardware threads) there are.
  std::size_t pu_count() const noexcept;
  /// OS indices of every allowed PU, ascending.
  std::vector<int> allowed_pus() const;
  /// Whether this topology came from synthetic().
  bool is_synthetic() const noexcept { return synthetic_; }

  /// The OS PU index each worker is bound to; empty for Pinning::none.
  /// cores: worker i -> first PU of core i; after every core has one worker, the second PU of
  /// each core; then wrap around. pus: allowed PUs in OS order, wrapping.
  std::vector<int> pinning_plan(std::size_t workers, Pinning pinning) const;

  /// Victims of `worker` (one of `workers`) in tiers, nearest first: same core (or same PU,
  /// when oversubscribed), same cache group, same NUMA node and package, same package (another
  /// NUMA node of it: sub-NUMA clustering), same NUMA node (another package: a node that
  /// spans sockets), the rest; empty tiers omitted. Where each package is one NUMA node (most
  /// machines) that is: core, cache, NUMA node, the rest.
  /// A worker picks at random inside a tier before moving to the next one. `plan` is
  /// pinning_plan(workers, ...); an empty plan (Pinning::none) gives one tier of all others,
  /// which is why the worker count is passed apart from the plan. Throws InvalidArgument if
  /// worker >= workers, or a non-empty plan has another size or a PU not in this topology.
  std::vector<std::vector<std::size_t>> victim_tiers(std::size_t workers,
                                                     const std::vector<int>& plan,
                                                     std::size_t worker) const;

  /// Binds the calling thread to one PU of allowed_pus(). Returns "" on success, else why it
  /// failed (a PU outside allowed_pus() is refused without asking the OS).
  std::string bind_current_thread(int os_pu) const;

  /// A readable report: PUs, cores, caches, NUMA nodes, allowed set, and the pinning plan
  /// for one worker per core.
  std::string describe() const;

 private:
  struct Handle;  // owns the hwloc topology
  std::shared_ptr<Handle> handle_;
  std::vector<Core> cores_;
  bool synthetic_ = false;
};

}  // namespace forage
