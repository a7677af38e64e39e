// Topology through hwloc: discovery, binding and describe(). This is the only file that
// includes <hwloc.h>: the public header is plain data, so users of forage need neither hwloc's
// headers nor its types.
//
// What is decided here, once, at discovery: which PUs the process may run on, how they group
// into cores, and which cores share a cache or a NUMA node. Everything after that (pinning
// plans, victim tiers) is arithmetic on `cores_`, in pinning_and_victims.cpp, so it is the same
// for a real machine and a synthetic one, and tests can check it exactly.

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <hwloc.h>

#include "forage/errors.hpp"
#include "forage/topology.hpp"

namespace forage {

// Copies of a Topology share one loaded hwloc topology: loading costs milliseconds (it reads
// /sys), and binding needs it for as long as any copy may bind a thread.
struct Topology::Handle {
  hwloc_topology_t topology = nullptr;
  std::string synthetic_description;      // empty for the real machine
  std::vector<std::string> cache_groups;  // describe()'s name of each dense cache_group id
  std::vector<std::string> numa_nodes;    // describe()'s name of each dense numa_node id
  std::vector<std::string> packages;      // describe()'s name of each dense package id
  std::string restriction;                // what narrowed hwloc's allowed set, for describe()

  Handle() = default;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (topology != nullptr) hwloc_topology_destroy(topology);
  }
};

namespace {

constexpr const char* kSyntheticExample = "package:1 core:4 pu:2";

struct BitmapFree {
  void operator()(hwloc_bitmap_s* bitmap) const noexcept { hwloc_bitmap_free(bitmap); }
};
// Every bitmap is owned, so an exception between allocation and the end of a function
// cannot leak it.
using Bitmap = std::unique_ptr<hwloc_bitmap_s, BitmapFree>;

// strerror may share one buffer between threads, and workers bind (and report failures)
// concurrently. The overloads accept both strerror_r flavours: GNU returns the text, POSIX an
// error code.
[[maybe_unused]] std::string strerror_text(const char* text, const char* /*buffer*/) {
  return text;
}
[[maybe_unused]] std::string strerror_text(int result, const char* buffer) {
  return result == 0 ? buffer : "unknown error";
}
std::string errno_text(int error) {
  char buffer[256] = {};
  return strerror_text(strerror_r(error, buffer, sizeof buffer), buffer);
}

Bitmap alloc_bitmap(const char* what) {
  Bitmap bitmap(hwloc_bitmap_alloc());
  if (!bitmap)
    throw TopologyError(std::string("forage: hwloc_bitmap_alloc failed (") + what +
                        "): out of memory");
  return bitmap;
}

Bitmap dup_bitmap(hwloc_const_bitmap_t source, const char* what) {
  if (source == nullptr) {
    throw TopologyError(std::string("forage: hwloc returned no ") + what);
  }
  Bitmap copy(hwloc_bitmap_dup(source));
  if (!copy) throw TopologyError(std::string("forage: cannot copy ") + what + ": out of memory");
  return copy;
}

// "0-3,8": hwloc's list syntax, the same one taskset -c and lstopo use.
std::string bitmap_text(hwloc_const_bitmap_t bitmap) {
  char* text = nullptr;
  if (hwloc_bitmap_list_asprintf(&text, bitmap) < 0 || text == nullptr) {
    std::free(text);
    return "(unprintable cpuset)";
  }
  std::string result(text);
  std::free(text);
  return result;
}

// The same list syntax for ascending OS indices.
std::string list_text(const std::vector<int>& sorted) {
  std::string out;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(sorted[i]);
    if (j > i) out += '-' + std::to_string(sorted[j]);
    i = j + 1;
  }
  return out.empty() ? "(none)" : out;
}

// The process binding through plain Linux, for when hwloc cannot report it. The mask is sized
// at run time because a fixed cpu_set_t stops at 1024 CPUs and the call fails (EINVAL) on
// bigger machines.
Bitmap affinity_from_sched() {
  for (int cpus = 1024; cpus <= (1 << 20); cpus *= 2) {
    cpu_set_t* mask = CPU_ALLOC(static_cast<std::size_t>(cpus));
    if (mask == nullptr) break;
    const std::size_t bytes = CPU_ALLOC_SIZE(static_cast<std::size_t>(cpus));
    CPU_ZERO_S(bytes, mask);
    if (sched_getaffinity(0, bytes, mask) != 0) {
      const int error = errno;
      CPU_FREE(mask);
      if (error == EINVAL) continue;  // the kernel's mask is wider: retry with a bigger one
      throw TopologyError("forage: cannot read the process's CPU affinity (sched_getaffinity: " +
                          errno_text(error) + ")");
    }
    Bitmap result(hwloc_bitmap_alloc());
    bool ok = static_cast<bool>(result);
    for (int cpu = 0; ok && cpu < cpus; ++cpu) {
      if (CPU_ISSET_S(static_cast<std::size_t>(cpu), bytes, mask)) {
        ok = hwloc_bitmap_set(result.get(), static_cast<unsigned>(cpu)) == 0;
      }
    }
    CPU_FREE(mask);
    if (!ok) throw TopologyError("forage: out of memory reading the process's CPU affinity");
    return result;
  }
  throw TopologyError("forage: cannot read the process's CPU affinity (sched_getaffinity)");
}

// hwloc's allowed cpuset follows cgroup cpusets but not `taskset`: the process binding is what
// taskset (or a parent's sched_setaffinity) changed. HWLOC_CPUBIND_PROCESS is the union over
// the process's threads, so a thread that pinned itself does not shrink the answer.
Bitmap process_binding(hwloc_topology_t topology) {
  Bitmap bound = alloc_bitmap("process binding");
  if (hwloc_get_cpubind(topology, bound.get(), HWLOC_CPUBIND_PROCESS) == 0 &&
      !hwloc_bitmap_iszero(bound.get())) {
    return bound;
  }
  return affinity_from_sched();
}

// Memory children hang off ordinary objects in hwloc 2; a memory-side cache may sit between
// the object and its NUMA node.
hwloc_obj_t first_numa_child(hwloc_obj_t object) {
  for (hwloc_obj_t child = object->memory_first_child; child != nullptr;
       child = child->next_sibling) {
    hwloc_obj_t node = child;
    while (node != nullptr && node->type != HWLOC_OBJ_NUMANODE) node = node->memory_first_child;
    if (node != nullptr) return node;
  }
  return nullptr;
}

// The nearest NUMA node above `object`: with sub-NUMA clustering a package holds several, and
// the one attached lowest in the tree is the core's own.
hwloc_obj_t local_numa_node(hwloc_obj_t object) {
  for (hwloc_obj_t above = object; above != nullptr; above = above->parent) {
    if (above->memory_arity > 0) {
      if (hwloc_obj_t node = first_numa_child(above)) return node;
    }
  }
  return nullptr;
}

// Workers that share this cache share the data they steal cheaply. L3 first: where it exists it
// is the largest cache cores share; L2 is shared by clusters on some chips; otherwise a core
// shares no cache with another and is its own group.
hwloc_obj_t cache_group_object(hwloc_obj_t core) {
  hwloc_obj_t l2 = nullptr;
  for (hwloc_obj_t above = core->parent; above != nullptr; above = above->parent) {
    if (above->type == HWLOC_OBJ_L3CACHE) return above;
    if (above->type == HWLOC_OBJ_L2CACHE && l2 == nullptr) l2 = above;
  }
  return l2 != nullptr ? l2 : core;
}

std::string object_name(hwloc_obj_t object) {
  char type[64] = {};
  if (hwloc_obj_type_snprintf(type, sizeof type, object, 0) < 0) std::strcpy(type, "object");
  std::string name = std::string(type) + " L#" + std::to_string(object->logical_index);
  // A cache's OS index is a sysfs id that means nothing to a reader; a core's or node's is
  // the number tools such as numactl and taskset use.
  if (!hwloc_obj_type_is_cache(object->type) && object->os_index != HWLOC_UNKNOWN_INDEX) {
    name += " P#" + std::to_string(object->os_index);
  }
  return name;
}

// Assigns dense ids to hwloc objects in order of first appearance.
class DenseIds {
 public:
  std::size_t id(hwloc_obj_t object, std::vector<std::string>& names, const std::string& name) {
    const auto [it, inserted] = ids_.try_emplace(object, names.size());
    if (inserted) names.push_back(name);
    return it->second;
  }

 private:
  std::map<hwloc_obj_t, std::size_t> ids_;
};

// Cores in hwloc's logical order (the tree's order, so neighbours in the list are neighbours
// on the machine), each with the PUs of `allowed` it holds. A PU that no Core object covers
// (an OS that reports no cores) stands for a core of its own.
// `cache_names`, `numa_names` and `package_names` receive a name for each dense id.
std::vector<Core> build_cores(hwloc_topology_t topology, hwloc_const_bitmap_t allowed,
                              std::vector<std::string>& cache_names,
                              std::vector<std::string>& numa_names,
                              std::vector<std::string>& package_names) {
  std::vector<Core> cores;
  std::map<hwloc_obj_t, std::size_t> core_index;
  DenseIds cache_ids;
  DenseIds numa_ids;
  DenseIds package_ids;
  for (hwloc_obj_t pu = hwloc_get_next_obj_by_type(topology, HWLOC_OBJ_PU, nullptr); pu != nullptr;
       pu = hwloc_get_next_obj_by_type(topology, HWLOC_OBJ_PU, pu)) {
    if (pu->os_index == HWLOC_UNKNOWN_INDEX || !hwloc_bitmap_isset(allowed, pu->os_index)) {
      continue;
    }
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topology, HWLOC_OBJ_CORE, pu);
    if (core == nullptr) core = pu;
    auto [it, inserted] = core_index.try_emplace(core, cores.size());
    if (inserted) {
      Core entry;
      entry.os_index = (core->type == HWLOC_OBJ_CORE && core->os_index != HWLOC_UNKNOWN_INDEX)
                           ? static_cast<int>(core->os_index)
                           : -1;
      hwloc_obj_t cache = cache_group_object(core);
      entry.cache_group = cache_ids.id(
          cache, cache_names,
          cache == core ? object_name(core) + " (no shared cache)" : object_name(cache));
      hwloc_obj_t numa = local_numa_node(core);
      // hwloc always reports at least one NUMA node; cores outside all of them (a broken
      // topology) stay usable, sharing one "no NUMA node" id.
      entry.numa_node =
          numa_ids.id(numa, numa_names, numa != nullptr ? object_name(numa) : "no NUMA node");
      // A core outside every package (an OS that reports none) shares one "no package" id.
      hwloc_obj_t package = hwloc_get_ancestor_obj_by_type(topology, HWLOC_OBJ_PACKAGE, core);
      entry.package = package_ids.id(package, package_names,
                                     package != nullptr ? object_name(package) : "no package");
      cores.push_back(std::move(entry));
    }
    cores[it->second].pus.push_back(static_cast<int>(pu->os_index));
  }
  for (Core& core : cores) std::sort(core.pus.begin(), core.pus.end());
  return cores;
}

[[noreturn]] void throw_synthetic_error(std::string_view description, const std::string& why) {
  throw InvalidArgument("forage::Topology::synthetic: \"" + std::string(description) +
                        "\" is not a valid hwloc synthetic description (" + why +
                        "); write levels from the top down, e.g. \"" + kSyntheticExample +
                        "\" or \"package:2 [numa] l3:1 core:4 pu:2\"");
}

std::string count_text(int count, const char* singular, const char* plural) {
  return std::to_string(count) + ' ' + (count == 1 ? singular : plural);
}

std::string size_text(hwloc_uint64_t bytes) {
  if (bytes >= (1ULL << 30) && bytes % (1ULL << 30) == 0) {
    return std::to_string(bytes >> 30) + " GiB";
  }
  if (bytes >= (1ULL << 20) && bytes % (1ULL << 20) == 0) {
    return std::to_string(bytes >> 20) + " MiB";
  }
  if (bytes >= (1ULL << 10)) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " B";
}

const char* pinning_name(Pinning pinning) {
  switch (pinning) {
    case Pinning::none:
      return "none";
    case Pinning::cores:
      return "cores";
    case Pinning::pus:
      return "pus";
  }
  return "?";
}

}  // namespace

Topology Topology::discover() {
  auto handle = std::make_shared<Handle>();
  if (hwloc_topology_init(&handle->topology) != 0) {
    const int error = errno;
    handle->topology = nullptr;
    throw TopologyError("forage::Topology::discover: hwloc_topology_init failed: " +
                        errno_text(error));
  }
  if (hwloc_topology_load(handle->topology) != 0) {
    const int error = errno;
    throw TopologyError("forage::Topology::discover: hwloc_topology_load failed: " +
                        errno_text(error) + "; run lstopo to see what hwloc reports");
  }
  Bitmap allowed =
      dup_bitmap(hwloc_topology_get_allowed_cpuset(handle->topology), "allowed cpuset");
  const std::string hwloc_allowed = bitmap_text(allowed.get());
  Bitmap bound = process_binding(handle->topology);
  if (hwloc_bitmap_and(allowed.get(), allowed.get(), bound.get()) != 0) {
    throw TopologyError("forage::Topology::discover: out of memory intersecting cpusets");
  }
  if (hwloc_bitmap_iszero(allowed.get())) {
    throw TopologyError("forage::Topology::discover: the process is bound to PUs " +
                        bitmap_text(bound.get()) + " but hwloc allows only " + hwloc_allowed +
                        "; nothing is left to run on (check taskset and the cgroup cpuset)");
  }
  if (!hwloc_bitmap_isequal(allowed.get(), hwloc_topology_get_allowed_cpuset(handle->topology))) {
    handle->restriction = "narrowed from hwloc's allowed " + hwloc_allowed +
                          " by the process binding " + bitmap_text(bound.get()) +
                          " (taskset / sched_setaffinity)";
  }

  Topology result;
  result.cores_ = build_cores(handle->topology, allowed.get(), handle->cache_groups,
                              handle->numa_nodes, handle->packages);
  if (result.cores_.empty()) {
    throw TopologyError("forage::Topology::discover: hwloc reports no PU in the allowed set " +
                        bitmap_text(allowed.get()));
  }
  result.handle_ = std::move(handle);
  return result;
}

Topology Topology::synthetic(std::string_view description) {
  auto handle = std::make_shared<Handle>();
  handle->synthetic_description = std::string(description);
  if (hwloc_topology_init(&handle->topology) != 0) {
    const int error = errno;
    handle->topology = nullptr;
    throw TopologyError("forage::Topology::synthetic: hwloc_topology_init failed: " +
                        errno_text(error));
  }
  if (description.empty()) throw_synthetic_error(description, "it is empty");
  if (hwloc_topology_set_synthetic(handle->topology, handle->synthetic_description.c_str()) != 0) {
    const int error = errno;
    throw_synthetic_error(description, "hwloc rejects it: " + errno_text(error));
  }
  // Without this flag hwloc's binding hooks for a synthetic topology succeed without doing
  // anything, and a test could never see a pin fail.
  if (hwloc_topology_set_flags(handle->topology, HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM) != 0) {
    const int error = errno;
    throw TopologyError("forage::Topology::synthetic: hwloc_topology_set_flags failed: " +
                        errno_text(error));
  }
  if (hwloc_topology_load(handle->topology) != 0) {
    const int error = errno;
    throw_synthetic_error(description, "hwloc cannot build it: " + errno_text(error));
  }
  // A synthetic machine is not the process's machine, so its binding says nothing about it.
  Bitmap allowed =
      dup_bitmap(hwloc_topology_get_allowed_cpuset(handle->topology), "allowed cpuset");

  Topology result;
  result.synthetic_ = true;
  result.cores_ = build_cores(handle->topology, allowed.get(), handle->cache_groups,
                              handle->numa_nodes, handle->packages);
  if (result.cores_.empty()) throw_synthetic_error(description, "it has no PU");
  result.handle_ = std::move(handle);
  return result;
}

std::string Topology::bind_current_thread(int os_pu) const {
  const std::string pu_name = "PU " + std::to_string(os_pu);
  if (!handle_) return "cannot bind to " + pu_name + ": the topology is empty (default-built)";
  const std::vector<int> allowed = allowed_pus();
  if (!std::binary_search(allowed.begin(), allowed.end(), os_pu)) {
    const bool exists =
        os_pu >= 0 &&
        hwloc_get_pu_obj_by_os_index(handle_->topology, static_cast<unsigned>(os_pu)) != nullptr;
    return "cannot bind to " + pu_name + ": " +
           (exists ? "it is outside the allowed PUs "
                   : "it is not in the topology (allowed PUs: ") +
           list_text(allowed) + (exists ? "" : ")");
  }
  Bitmap set(hwloc_bitmap_alloc());
  if (!set || hwloc_bitmap_only(set.get(), static_cast<unsigned>(os_pu)) != 0) {
    return "cannot bind to " + pu_name + ": out of memory";
  }
  if (hwloc_set_cpubind(handle_->topology, set.get(), HWLOC_CPUBIND_THREAD) != 0) {
    const int error = errno;  // before any allocation below can change it
    return "cannot bind to " + pu_name + ": " + errno_text(error) + " (hwloc_set_cpubind)";
  }
  return "";
}

std::string Topology::describe() const {
  if (!handle_) return "empty topology (default-built; use Topology::discover())\n";
  hwloc_topology_t topology = handle_->topology;
  std::ostringstream out;

  if (synthetic_) {
    out << "synthetic topology \"" << handle_->synthetic_description
        << "\" (binding is attempted on this machine)\n";
  } else {
    out << "this machine, as hwloc";
    if (const char* version =
            hwloc_obj_get_info_by_name(hwloc_get_root_obj(topology), "hwlocVersion")) {
      out << ' ' << version;
    }
    out << " sees it";
    if (!hwloc_topology_is_thissystem(topology)) {
      out << " (hwloc was pointed elsewhere, e.g. HWLOC_XMLFILE: binding does nothing)";
    }
    out << '\n';
    hwloc_obj_t package = hwloc_get_next_obj_by_type(topology, HWLOC_OBJ_PACKAGE, nullptr);
    if (package != nullptr) {
      if (const char* model = hwloc_obj_get_info_by_name(package, "CPUModel")) {
        out << "cpu: " << model << '\n';
      }
    }
  }

  out << "machine: "
      << count_text(hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_PACKAGE), "package", "packages")
      << ", "
      << count_text(hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_NUMANODE), "NUMA node",
                    "NUMA nodes");
  for (hwloc_obj_type_t level : {HWLOC_OBJ_L5CACHE, HWLOC_OBJ_L4CACHE, HWLOC_OBJ_L3CACHE,
                                 HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L1CACHE}) {
    const int count = hwloc_get_nbobjs_by_type(topology, level);
    if (count <= 0) continue;
    hwloc_obj_t first = hwloc_get_obj_by_type(topology, level, 0);
    char name[32] = {};
    if (hwloc_obj_type_snprintf(name, sizeof name, first, 0) < 0) std::strcpy(name, "cache");
    out << ", " << count << " x " << name;
    if (first->attr->cache.size > 0) out << " (" << size_text(first->attr->cache.size) << ")";
  }
  out << ", " << count_text(hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_CORE), "core", "cores")
      << ", " << count_text(hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_PU), "PU", "PUs") << '\n';

  out << "allowed PUs: " << list_text(allowed_pus()) << " ("
      << count_text(static_cast<int>(pu_count()), "PU", "PUs") << " on "
      << count_text(static_cast<int>(core_count()), "core", "cores") << ")";
  if (!handle_->restriction.empty()) out << ", " << handle_->restriction;
  out << '\n';

  out << "cores (in pinning order):\n";
  for (std::size_t i = 0; i < cores_.size(); ++i) {
    const Core& core = cores_[i];
    out << "  core " << i;
    if (core.os_index >= 0) out << " (P#" << core.os_index << ")";
    out << ": PUs " << list_text(core.pus) << "; cache group " << core.cache_group << " ("
        << handle_->cache_groups.at(core.cache_group) << "); NUMA node " << core.numa_node << " ("
        << handle_->numa_nodes.at(core.numa_node) << "); package " << core.package << " ("
        << handle_->packages.at(core.package) << ")\n";
  }

  const std::vector<int> plan = pinning_plan(core_count(), Pinning::cores);
  out << "pinning plan, one worker per core (Pinning::" << pinning_name(Pinning::cores) << "):\n";
  for (std::size_t worker = 0; worker < plan.size(); ++worker) {
    out << "  worker " << worker << " -> PU " << plan[worker] << '\n';
  }
  return out.str();
}

}  // namespace forage
