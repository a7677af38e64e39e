// Options and enums shared by Pool and SingleQueuePool.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <string>

#include "forage/topology.hpp"

namespace forage {

enum class Shutdown {
  drain,          // run every task already spawned, and what they spawn, then stop
  cancel_pending  // tasks not yet started are dropped and told so (TaskAction::cancel)
};

struct PoolOptions {
  // 0 = one worker per allowed core (taskset and cgroup cpusets are respected).
  std::size_t workers = 0;
  Pinning pinning = Pinning::cores;
  // Thread names are "forage-<name>-<i>", cut to the 15 characters Linux keeps.
  std::string name = "pool";
  // Runs on each worker thread before it takes work / after it stops.
  std::function<void(std::size_t worker)> on_worker_start{};
  std::function<void(std::size_t worker)> on_worker_stop{};
  // Receives exceptions escaping fire-and-forget tasks and a failed pin (once per pool).
  // Default: one line on stderr. Called on a worker thread; must not throw (if it does, the
  // exception is written to stderr and dropped).
  std::function<void(std::exception_ptr)> on_error{};
  // The machine to plan for; default: Topology::discover(). Tests pass a synthetic one.
  std::optional<Topology> topology{};
};

}  // namespace forage
