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
};

WorkerContext* current_worker_context() noexcept;

// Calls the handler (or prints one line to stderr when there is none); an exception thrown
// by the handler itself is printed and dropped.
void deliver_error(const std::function<void(std::exception_ptr)>* handler,
                   const std::string& pool_name, std::exception_ptr error) noexcept;

// Everything a worker thread does before taking work, and undoes after.
class WorkerThreadScope {
 public:
  struct Setup {
    WorkerContext context;
    const PoolOptions* options;
    const Topology* topology;
    int pin_cpu = -1;  // -1: no pinning
    WorkerCounters* counters;
    std::atomic<bool>* pin_error_reported;  // one report per pool
  };
  explicit WorkerThreadScope(const Setup& setup);
  ~WorkerThreadScope();
  WorkerThreadScope(const WorkerThreadScope&) = delete;
  WorkerThreadScope& operator=(const WorkerThreadScope&) = delete;

 private:
  WorkerContext context_;
  const PoolOptions* options_;
};

// Builds PoolStats from the per-worker counters and the pool's count of wakes from outside.
PoolStats collect_stats(const std::vector<WorkerCounters*>& counters,
                        std::uint64_t wakes_from_outside = 0);

// Validates a requested worker count and resolves 0 to one per allowed core.
std::size_t resolve_worker_count(std::size_t requested, std::size_t maximum,
                                 const Topology& topology, const char* who);

}  // namespace forage::detail
