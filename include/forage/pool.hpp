/// @file
/// Pool: the work-stealing scheduler.
///
/// One worker thread per allowed core (by default), each with its own Chase–Lev deque. A task
/// spawned on a worker goes to that worker's deque (LIFO for the owner, stolen FIFO by idle
/// workers); a task spawned from any other thread goes to the injection queue. Idle workers
/// search (own deque, injection queue, victims nearest-first), then park on an event count.
#pragma once

#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "forage/detail/bulk_submit.hpp"
#include "forage/detail/scheduler_id.hpp"
#include "forage/detail/stop_node.hpp"
#include "forage/detail/submit.hpp"
#include "forage/detail/task.hpp"
#include "forage/errors.hpp"
#include "forage/export.hpp"
#include "forage/future.hpp"
#include "forage/options.hpp"
#include "forage/stats.hpp"
#include "forage/trace.hpp"

namespace forage {

namespace detail {
class PoolCore;
}  // namespace detail

/// The work-stealing scheduler (see forage/pool.hpp).
///
/// Thread-safety: every member may be called from any thread at once, including the pool's
/// own workers (from tasks), except the destructor, which must be the last call. Errors: each
/// member names what it throws; a pool inherited through fork() throws ForkedPool from every
/// call that would need its workers.
class FORAGE_API Pool {
 public:
  /// Workers above this are refused with InvalidArgument: a bigger pool on one machine is a
  /// configuration mistake (oversubscription is allowed, 256 threads per pool is the limit).
  static constexpr std::size_t kMaxWorkers = 256;
  /// For the algorithms (forage/executor.hpp): splits work recursively with join; idle workers
  /// steal.
  static constexpr bool work_stealing = true;

  /// Starts the workers. Throws InvalidArgument (workers > kMaxWorkers, a bad option),
  /// TopologyError, ResourceError (a worker thread could not start).
  explicit Pool(PoolOptions options = {});
  /// Drains (Shutdown::drain) unless already shut down. Called on one of this pool's own
  /// workers it cannot wait for itself: it closes the pool, lets the workers drain and exit
  /// on their own, and throws WouldDeadlock (so noexcept(false); through a noexcept deleter
  /// such as std::unique_ptr's that becomes std::terminate with the message). As for any
  /// object, destroying it while another thread is still inside one of its calls is a race.
  ~Pool() noexcept(false);

  Pool(const Pool&) = delete;             ///< A pool owns threads: not copyable.
  Pool& operator=(const Pool&) = delete;  ///< A pool owns threads: not copyable.
  Pool(Pool&&) = delete;                  ///< Tasks refer to their pool: not movable.
  Pool& operator=(Pool&&) = delete;       ///< Tasks refer to their pool: not movable.

  /// Fire and forget. On one of this pool's workers the task goes to that worker's deque;
  /// from any other thread, to the injection queue. An exception escaping `fn` goes to
  /// PoolOptions::on_error; the worker lives on.
  /// Throws InvalidArgument for an empty callable, PoolClosed after shutdown() (from outside;
  /// tasks a draining task spawns are still accepted, so a drain loses nothing).
  /// A callable that takes a std::stop_token (as std::jthread's) gets one, which fires at
  /// Shutdown::stop (forage/stop.hpp).
  template <class F>
    requires(std::invocable<std::decay_t<F>&> || std::invocable<std::decay_t<F>&, std::stop_token>)
  void spawn(F&& fn) {
    post(detail::make_spawned_task("forage::Pool::spawn", stop_root_, std::forward<F>(fn)));
  }

  /// Runs fn(args...) on the pool and returns its Future (R may be void or move-only). `fn`
  /// and `args` are copied or moved in, then passed as rvalues (as std::async does); together with
  /// the future's state they are one heap block. Throws InvalidArgument for an empty callable,
  /// PoolClosed after shutdown() (from outside; a draining task may still submit). Cancelled by
  /// Shutdown::cancel_pending. If fn takes a std::stop_token first (checked first, as
  /// std::jthread does), it is called as fn(token, args...): the token fires on the future's
  /// request_stop() and at Shutdown::stop. A task that takes none can ask
  /// this_task::stop_requested(); it pays no allocation for being stoppable.
  template <class F, class... Args>
    requires detail::SubmitInvocable<std::decay_t<F>, std::decay_t<Args>...>
        Future<detail::TaskResult<std::decay_t<F>, std::decay_t<Args>...>> submit(F&& fn,
                                                                                  Args&&... args) {
      return detail::submit_to(*this, "forage::Pool::submit", std::forward<F>(fn),
                               std::forward<Args>(args)...);
    }

  /// One task per item of `inputs`, fire and forget: spawn() for each item in one call, with
  /// one admission, one enqueue and one wake-up decision for the whole batch (from outside,
  /// into the injection queue; on one of this pool's workers, onto that worker's deque). A
  /// sized input is queued as groups of up to 64 consecutive items, each claimed item by item
  /// by at most two workers at once (detail/task_slab.hpp), so a long item delays no other.
  /// `inputs` is any input range, read once; each task holds its own copy of `fn` and an item
  /// constructed from what iterating yields (a copy; pass move iterators to move the items),
  /// and calls fn(item) with both as rvalues, as submit() does. An exception escaping fn goes
  /// to PoolOptions::on_error, as for spawn().
  /// All or nothing: throws InvalidArgument for an empty callable and PoolClosed after
  /// shutdown() (from outside) with nothing queued; if copying an item or fn throws, or memory
  /// runs out, the tasks built so far are freed without running and the exception propagates.
  /// Empty input queues nothing and never throws PoolClosed. Shutdown::cancel_pending drops
  /// the queued ones like single spawns; wait_idle() waits for the whole batch.
  template <std::ranges::input_range R, class F>
    requires detail::BulkInvocable<std::remove_reference_t<R>, F>
  void spawn_all(R&& inputs, F&& fn) {
    detail::spawn_all_to(*this, "forage::Pool::spawn_all", inputs, std::forward<F>(fn));
  }

  /// submit(fn, item) for each item of `inputs`, in one batch as spawn_all() makes it: the
  /// futures in input order, like Python's [executor.submit(fn, x) for x in xs]. R =
  /// fn(item)'s result (void and move-only allowed); fn's exception goes into its future. The
  /// same argument rules and all-or-nothing errors as spawn_all() (after PoolClosed or an
  /// exception while building, no future exists); empty input returns an empty vector.
  /// Cancelled by Shutdown::cancel_pending like submit().
  template <std::ranges::input_range R, class F>
    requires detail::BulkInvocable<std::remove_reference_t<R>, F>
        std::vector<Future<detail::BulkResult<std::remove_reference_t<R>, F>>> submit_all(
            R&& inputs, F&& fn) {
      return detail::submit_all_to(*this, "forage::Pool::submit_all", inputs, std::forward<F>(fn));
    }

  /// Blocks until every task spawned before the call, and everything those tasks spawned,
  /// has run (or was cancelled). Throws WouldDeadlock on one of this pool's workers.
  void wait_idle();

  /// Stops accepting tasks from outside, then drains or cancels what is queued, then joins
  /// the workers. Idempotent; concurrent callers all return after the workers are joined.
  /// Throws WouldDeadlock on one of this pool's workers.
  void shutdown(Shutdown mode = Shutdown::drain);

  /// Whether shutdown() has begun: spawns from outside now throw PoolClosed.
  bool closed() const noexcept;
  /// How many worker threads the pool runs.
  std::size_t worker_count() const noexcept;
  /// PoolOptions::name.
  const std::string& name() const noexcept;
  /// The OS PU each worker is bound to (empty for Pinning::none).
  const std::vector<int>& pinning_plan() const noexcept;
  /// A snapshot of every worker's counters, read while the pool runs. May throw
  /// std::bad_alloc.
  PoolStats stats() const;
  /// The events recorded so far (PoolOptions::trace), from any thread, while the pool runs;
  /// forage::write_chrome_trace writes them for Perfetto. Throws InvalidArgument if the pool
  /// was built without PoolOptions::trace.
  Trace trace() const;

  /// On a worker thread of some Pool: that pool; else null.
  static Pool* current() noexcept;
  /// On a worker thread of some Pool: the worker's index in that pool; else nullopt.
  static std::optional<std::size_t> current_worker() noexcept;

 private:
  friend struct detail::SchedulerAccess;

  // Schedules a task node the library built (detail::SchedulerAccess::post says the contract).
  void post(detail::Task* task);
  // Schedules `count` of them at once (detail::SchedulerAccess::post_batch).
  void post_batch(detail::Task* const* tasks, std::size_t count);

  std::shared_ptr<detail::PoolCore> core_;
  detail::SchedulerId scheduler_id_;  // for futures: names core_ without owning it
  // The core's stop node (detail::SchedulerAccess::stop_root); lives as long as core_.
  const detail::StopNode* stop_root_;
};

}  // namespace forage
