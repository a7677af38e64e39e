// What a worker thread knows about itself, and the start-up steps every pool's workers share
// (name, pin, on_worker_start), so Pool and SingleQueuePool do them the same way.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "atomics/atomics.hpp"
#include "forage/options.hpp"
#include "forage/stats.hpp"

namespace forage {
class Pool;
}

namespace forage::detail {

class Scheduler;

// Per-worker counters. Each is written only by its worker (a load and a store, no
// read-modify-write: there is no other writer to race with) and read by stats() and by the
// quiescence check.
struct alignas(kCacheLine) WorkerCounters {
  // release on executed/cancelled: the task's effects and the children it spawned (spawned
  // below) happen-before a reader that acquires the new count (quiescence, idle_tracker.hpp).
  std::atomic<std::uint64_t> executed{0};
  std::atomic<std::uint64_t> cancelled{0};
  // relaxed: published by the queue or deque that carries the task and by the spawning
  // worker's later release of `executed` (idle_tracker.hpp).
  std::atomic<std::uint64_t> spawned{0};
  // relaxed: statistics only.
  std::atomic<std::uint64_t> stolen{0};
  std::atomic<std::uint64_t> steal_attempts{0};
  std::atomic<std::uint64_t> parks{0};
  std::atomic<std::uint64_t> searches{0};
  std::atomic<std::uint64_t> search_rounds{0};
  std::atomic<std::uint64_t> sweeps{0};
  std::atomic<std::uint64_t> sweep_steal_attempts{0};
  std::atomic<std::uint64_t> wakes{0};
  // relaxed: statistics only. What stats() adds to `executed` and `cancelled` so that they
  // count the items of spawn_all's batch groups rather than the group entries the worker
  // counted as tasks (task_slab.hpp, rt::count_batch_items); negative while an entry has been
  // counted and its items not yet, so a snapshot clamps the sums at 0.
  std::atomic<std::int64_t> batch_executed_adjust{0};
  std::atomic<std::int64_t> batch_cancelled_adjust{0};
  // Written by the worker before it signals that it started; read after that signal.
  std::optional<int> pinned_cpu;
  std::string pin_error;

  static void bump(std::atomic<std::uint64_t>& counter, std::memory_order order) noexcept {
    // Single writer: a plain increment. The order is the caller's (release or relaxed).
    counter.store(counter.load(std::memory_order_relaxed) + 1, order);
  }

  WorkerStats snapshot() const;
};

// Which scheduler a thread works for; set for the lifetime of a worker thread.
struct WorkerContext {
  Scheduler* scheduler = nullptr;      // the PoolCore / SingleQueueCore the thread belongs to
  std::atomic<Pool*>* pool = nullptr;  // for Pool::current(); null for SingleQueuePool
  std::size_t index = 0;
  const std::function<void(std::exception_ptr)>* on_error = nullptr;
  const std::string* pool_name = nullptr;
  WorkerCounters* counters = nullptr;  // this worker's (set by WorkerThreadScope)
};

WorkerContext* current_worker_context() noexcept;

// Calls the handler (or prints one line to stderr when there is none); an exception thrown
// by the handler itself is printed and dropped.
void deliver_error(const std::function<void(std::exception_ptr)>* handler,
                   const std::string& pool_name, std::exception_ptr error) noexcept;

// The first failure of a worker's set-up (an allocation failing while it names or pins
// itself): recorded by the worker before it counts `started` down, so the pool's constructor,
// which waits for that, reads it after and throws it (PoolLifecycle::start).
class WorkerStartFailure {
 public:
  void record(std::exception_ptr error) noexcept {
    // relaxed: only the exchange's atomicity matters (the first failure is kept); the latch
    // the worker counts down next publishes `error_` to the reader.
    if (!claimed_.exchange(true, std::memory_order_relaxed)) error_ = std::move(error);
  }
  // After every worker counted `started` down (the latch's wait orders their writes first).
  std::exception_ptr take() noexcept { return std::exchange(error_, nullptr); }

 private:
  std::atomic<bool> claimed_{false};
  std::exception_ptr error_;  // written once, by the worker that claimed it
};

// Everything a worker thread does before taking work, and undoes after. Never throws: a
// failure of the set-up itself is recorded in `start_failure` (the worker then runs with no
// on_worker_start/on_worker_stop, and the pool's constructor throws once every worker is up);
// an exception from on_worker_start goes to on_error; a failed pin is reported, not thrown.
class WorkerThreadScope {
 public:
  struct Setup {
    WorkerContext context;
    const PoolOptions* options;
    const Topology* topology;
    int pin_cpu = -1;  // -1: no pinning
    WorkerCounters* counters;
    std::atomic<bool>* pin_error_reported;  // one report per pool
    WorkerStartFailure* start_failure;
  };
  explicit WorkerThreadScope(const Setup& setup) noexcept;
  ~WorkerThreadScope();
  WorkerThreadScope(const WorkerThreadScope&) = delete;
  WorkerThreadScope& operator=(const WorkerThreadScope&) = delete;

 private:
  void name_and_pin(const Setup& setup);

  WorkerContext context_;
  const PoolOptions* options_;
  bool started_ = false;  // on_worker_start was called: on_worker_stop will be
};

// Builds PoolStats from the per-worker counters and the pool's count of wakes from outside.
PoolStats collect_stats(const std::vector<WorkerCounters*>& counters,
                        std::uint64_t wakes_from_outside = 0);

// Validates a requested worker count and resolves 0 to one per allowed core.
std::size_t resolve_worker_count(std::size_t requested, std::size_t maximum,
                                 const Topology& topology, const char* who);

}  // namespace forage::detail
