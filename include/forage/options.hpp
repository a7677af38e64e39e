/// @file
/// Options and enums shared by Pool and SingleQueuePool.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <string>

#include "forage/topology.hpp"

namespace forage {

/// How a pool's shutdown() (and its destructor: drain) treats the work it still has.
enum class Shutdown {
  drain,           ///< run every task already spawned, and what they spawn, then stop
  cancel_pending,  ///< tasks not yet started are dropped and told so (TaskAction::cancel)
  stop             ///< cancel_pending, and request stop of every running task, then join (Python's
        ///< terminate() for threads): their stop tokens fire, this_task::stop_requested() turns
        ///< true, algorithms stop between blocks, task groups skip what has not started
};

/// What a Pool or SingleQueuePool is built with. A plain value, read once by the pool's
/// constructor (which throws InvalidArgument for a bad field); the callables it holds are then
/// called on the pool's worker threads.
struct PoolOptions {
  /// A worker that waits for a future runs other tasks on top of its own frame
  /// (help-while-wait), so chains of tasks that wait for each other nest deep. The stack is
  /// reserved address space; only the pages a worker touches use memory.
  static constexpr std::size_t kDefaultStackSize = std::size_t{64} << 20;
  /// The smallest stack_size accepted (64 KiB).
  static constexpr std::size_t kMinStackSize = std::size_t{64} << 10;
  /// Trace events each worker keeps when `trace` is on (24 bytes each: 6 MiB per worker).
  static constexpr std::size_t kDefaultTraceBufferEvents = std::size_t{1} << 18;

  /// 0 = one worker per allowed core (taskset and cgroup cpusets are respected).
  std::size_t workers = 0;
  /// How workers are bound to the machine's PUs (Topology::pinning_plan).
  Pinning pinning = Pinning::cores;
  /// Thread names are "forage-<name>-<i>", cut to the 15 characters Linux keeps.
  std::string name = "pool";
  /// Runs on each worker thread before it takes work.
  std::function<void(std::size_t worker)> on_worker_start{};
  /// Runs on each worker thread after it stops taking work.
  std::function<void(std::size_t worker)> on_worker_stop{};
  /// Receives exceptions escaping fire-and-forget tasks and a failed pin (once per pool).
  /// Default: one line on stderr. Called on a worker thread; must not throw (if it does, the
  /// exception is written to stderr and dropped).
  std::function<void(std::exception_ptr)> on_error{};
  /// Bytes of stack per worker thread; 0 = kDefaultStackSize. Below kMinStackSize throws
  /// InvalidArgument.
  std::size_t stack_size = 0;
  /// The machine to plan for; default: Topology::discover(). Tests pass a synthetic one.
  std::optional<Topology> topology{};
  /// Pool only: record what each worker does (task runs, steals, parks, wakes) for
  /// Pool::trace() (forage/trace.hpp). Off, recording costs one untaken branch per event site.
  /// SingleQueuePool throws InvalidArgument when it is set.
  bool trace = false;
  /// Events each worker keeps while tracing; later ones are dropped and counted. 0 =
  /// kDefaultTraceBufferEvents.
  std::size_t trace_buffer_events = 0;
};

}  // namespace forage
