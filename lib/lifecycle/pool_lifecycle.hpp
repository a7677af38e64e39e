// PoolLifecycle: what Pool and SingleQueuePool share from start to join, written once so that
// a fix to shutdown is made in one place. Each pool's core owns one.
//
//   start          one thread per worker; if one cannot start (ResourceError) or cannot set
//                  itself up (out of memory), stop those that did, join them, throw
//   admit          count a task from outside (IdleTracker), or cancel it and throw PoolClosed
//                  (ForkedPool in a fork() child)
//   wait_idle      block until quiescent; WouldDeadlock on the pool's own worker
//   shutdown       [cancel_pending, stop: raise the cancelling hint; stop: request the
//                  scheduler's stop root] -> close -> wake every worker
//                  -> join them; WouldDeadlock on the pool's own worker
//   abandon        the same without the join, for a pool destroyed on its own worker
//   destroy_handle what ~Pool and ~SingleQueuePool do
//   park tail      the end of an idle worker's search: exit once finished, else sleep
//
// Shutdown, step by step: close() is an acq_rel RMW on the admission word, so every spawn from
// outside is either admitted before it or refused after it (idle_tracker.hpp). Waking every
// worker makes the parked ones re-check; a worker exits only when the pool is finished
// (closed, and every admitted or spawned task has run or was cancelled), and on its way out
// wakes the other sleepers and the wait_idle() callers, so the last worker to see the final
// count releases everyone. The join then waits for the exits. Tasks spawned by draining tasks
// are still accepted (they are counted in their worker's `spawned`, not admitted), so a drain
// loses nothing.
//
// fork(): in a child, the pool's copy has no workers (scheduler.hpp). Every operation that
// would need them (admit, wait_idle, shutdown) throws ForkedPool before touching anything a
// parent's thread may have held; the handle's destructor forgets the threads instead of
// joining them, and the core stays allocated (the dead workers hold references to it).
//
// What differs between the pools is a parameter: the pool's name in error messages (PoolKind)
// and how to wake every parked worker (an event count's notify_all, or a mutex and condition
// variable for the locked baseline).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <latch>
#include <mutex>
#include <string>
#include <vector>

#include "forage/detail/assert.hpp"
#include "forage/detail/task.hpp"
#include "forage/options.hpp"
#include "forage/stats.hpp"
#include "lifecycle/idle_tracker.hpp"
#include "lifecycle/scheduler.hpp"
#include "lifecycle/worker_context.hpp"
#include "lifecycle/worker_thread.hpp"
#include "sleep/event_count.hpp"

namespace forage::detail {

// How a pool names itself in the lifecycle's error messages; each pool keeps its wording.
struct PoolKind {
  const char* type;              // "forage::Pool"
  const char* new_pool;          // after a refused spawn: "... or create <new_pool>"
  const char* wait_idle_advice;  // after a refused wait_idle: "...; <wait_idle_advice>"
};

class PoolLifecycle {
 public:
  // Wakes every parked worker so that it re-checks the closed flag and the counts. Called on
  // cold paths only (close, a refused admission).
  using WakeAllWorkers = std::function<void()>;
  // The body of worker `index`; it counts `started` down once it is ready to take work.
  using RunWorker = std::function<void(std::size_t index, std::latch& started)>;

  // `scheduler` is the core that owns this object; `options`, `topology` and `plan` (each
  // worker's OS PU, empty when unpinned; filled in before start()) live in that core.
  PoolLifecycle(Scheduler& scheduler, PoolKind kind, const PoolOptions& options,
                const Topology& topology, const std::vector<int>& plan,
                WakeAllWorkers wake_all_workers);
  PoolLifecycle(const PoolLifecycle&) = delete;
  PoolLifecycle& operator=(const PoolLifecycle&) = delete;

  // Before start(): registers the next worker's counters (quiescence, stats). Owner thread.
  void add_worker(WorkerCounters& counters) { counters_.push_back(&counters); }

  // Starts one thread per added worker and returns once each has counted `started` down.
  // Throws InvalidArgument for a bad stack size. If a thread cannot be started
  // (ResourceError), or a worker's set-up failed (WorkerThreadScope: out of memory), closes
  // the pool, joins the threads that did start and throws.
  void start(const RunWorker& run_worker);
  // What worker `index` does before taking work and undoes after (WorkerThreadScope): its
  // context, thread name, pin and on_worker_start. `pool` is for Pool::current(); null for a
  // SingleQueuePool.
  WorkerThreadScope::Setup worker_setup(std::size_t index, WorkerCounters& counters,
                                        std::atomic<Pool*>* pool) noexcept;

  // A task from outside the pool: counts it, or, once the pool is closed, cancels it and
  // throws PoolClosed (ForkedPool in a fork() child). Inline: it is on every submit from
  // outside.
  void admit(Task* task) {
    if (scheduler_.inherited() || !idle_.try_admit()) [[unlikely]]
      refuse(task);
  }
  // A batch from outside (spawn_all, submit_all): counted in one RMW, or, once the pool is
  // closed, every task cancelled and PoolClosed thrown.
  void admit_batch(Task* const* tasks, std::size_t count) {
    if (scheduler_.inherited() || !idle_.try_admit(count)) [[unlikely]]
      refuse_batch(tasks, count);
  }
  // Undoes admit() (or admit_batch of `count`) for tasks the queue could not take (the caller
  // cancels them), and wakes every worker: parked workers may be waiting for that count.
  void retract_admission(std::size_t count = 1);

  // Blocks until every task spawned so far has finished. Throws WouldDeadlock on one of this
  // pool's own workers (it would wait for itself).
  void wait_idle();
  // Idempotent; concurrent callers all return after the join. Throws WouldDeadlock on one of
  // this pool's own workers (it would join itself).
  void shutdown(Shutdown mode);
  // For a handle destroyed on one of its own workers: close, let the workers drain and exit
  // on their own (each holds a reference to the core; the last one frees it).
  void abandon_from_worker() noexcept;
  // The handle's destructor (~Pool, ~SingleQueuePool): shutdown(drain), or, on one of the
  // pool's own workers, abandon_from_worker() and throw WouldDeadlock. `forget_handle` (may be
  // empty) runs once the handle must no longer be reached from the workers: after the drain,
  // whose tasks may still use it, or before abandoning.
  void destroy_handle(const std::function<void()>& forget_handle);

  // The end of an idle worker's search, after parking.prepare_wait() and a re-check that
  // found no work and lost no race. Finished (closed and quiescent): cancels the wait, wakes
  // the other sleepers and the wait_idle() callers so they see it too, and returns false, so
  // the worker exits. Otherwise sleeps (counted in `parks`) until a notify that came after
  // prepare_wait, and returns true: search again. Worker thread only.
  bool park_unless_finished(EventCount<>& parking, EventCount<>::Key key, std::uint32_t tag,
                            WorkerCounters& counters) noexcept;

  bool closed() const noexcept { return idle_.closed(); }
  // Closed, and every task admitted or spawned has run or was cancelled: workers may exit.
  bool finished() const noexcept { return idle_.closed() && idle_.quiescent(counters_); }
  // Read by workers before each task: cancel it instead of running it.
  bool cancelling() const noexcept {
    // relaxed: a hint; a task that starts just after shutdown(cancel_pending) began is one the
    // caller could not have told apart from one that started just before.
    return cancelling_.load(std::memory_order_relaxed);
  }
  // A worker that ran out of work tells the wait_idle() callers to re-check.
  void notify_idle_waiters() noexcept { idle_.notify_idle_waiters(); }

  bool on_own_worker() const noexcept {
    const WorkerContext* context = current_worker_context();
    return context != nullptr && context->scheduler == &scheduler_;
  }
  // The contract of the owner-only operations (run_one_task, fork, take_back, ...): the caller
  // is one of this pool's workers, whose queue and counters the operation uses.
  void assert_on_own_worker([[maybe_unused]] const char* operation) const noexcept {
    FORAGE_ASSERT(on_own_worker(),
                  std::string(kind_.type) + " '" + options_.name + "': " + operation +
                      " runs only on a worker of this pool (it uses that worker's queue); "
                      "call it from a task running on this pool");
  }

  const std::vector<WorkerCounters*>& counters() const noexcept { return counters_; }
  PoolStats stats() const {
    // relaxed: statistics.
    return collect_stats(counters_, outside_wakes_.load(std::memory_order_relaxed));
  }
  // A spawn from outside woke a sleeper (PoolStats::wakes_from_outside). Only on the wake path,
  // which makes a syscall anyway, so the shared RMW costs nothing that matters.
  void count_outside_wake() noexcept {
    // relaxed: statistics.
    outside_wakes_.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  // The refusal after close, or in a fork() child: cancels the task, throws PoolClosed or
  // ForkedPool.
  [[noreturn]] void refuse(Task* task);
  // In a fork() child: throws ForkedPool naming `operation`.
  void refuse_if_inherited(const char* operation) const;
  // The handle's destructor in a fork() child: forget the parent's threads, join nothing.
  void abandon_inherited() noexcept;
  [[noreturn]] void refuse_batch(Task* const* tasks, std::size_t count);
  // PoolClosed (ForkedPool in a fork() child).
  [[noreturn]] void throw_closed();
  void close_and_wake_all();

  Scheduler& scheduler_;
  const PoolKind kind_;
  const PoolOptions& options_;
  const Topology& topology_;
  const std::vector<int>& plan_;
  const WakeAllWorkers wake_all_workers_;

  std::vector<WorkerCounters*> counters_;  // one per worker; fixed before start()
  IdleTracker idle_;
  // Written (relaxed) by shutdown(cancel_pending) before the close; read by workers before
  // each task (cancelling()).
  std::atomic<bool> cancelling_{false};
  // Set by the first worker that could not pin itself (one report per pool; exchanged in
  // WorkerThreadScope).
  std::atomic<bool> pin_error_reported_{false};
  std::atomic<std::uint64_t> outside_wakes_{0};  // count_outside_wake()
  // A worker's set-up failed (WorkerThreadScope); start() throws it.
  WorkerStartFailure start_failure_;

  std::mutex mutex_;                   // serializes start / shutdown / abandon
  std::vector<WorkerThread> threads_;  // guarded by mutex_
  bool joined_ = false;                // guarded by mutex_: joined or detached
};

}  // namespace forage::detail
