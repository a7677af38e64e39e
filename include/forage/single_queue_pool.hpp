/// @file
/// SingleQueuePool: the baseline every benchmark compares against. One shared FIFO that every
/// spawn and every worker goes through, which is how Python's ThreadPoolExecutor and
/// multiprocessing.Pool work. Same surface as Pool (spawn / submit / wait_idle / shutdown /
/// stats), so the algorithms and tests run unchanged on both.
///
/// @code
///   QueueKind::locked     one std::mutex + std::condition_variable guarding a std::deque;
///                         a spawn signals the condition variable only if a worker sleeps.
///   QueueKind::lock_free  moodycamel::ConcurrentQueue; idle workers spin briefly, then park on
///                         the same event count as Pool (lib/sleep/README.md).
/// @endcode
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

namespace forage {

/// The shared queue a SingleQueuePool uses (see forage/single_queue_pool.hpp).
enum class QueueKind {
  locked,    ///< a std::deque under a std::mutex, with a std::condition_variable
  lock_free  ///< moodycamel::ConcurrentQueue, workers parking on an event count
};

namespace detail {
class SingleQueueCore;
}  // namespace detail

/// The one-queue baseline pool (see forage/single_queue_pool.hpp), with Pool's surface.
///
/// Thread-safety: as Pool: every member may be called from any thread at once, including the
/// pool's own workers, except the destructor, which must be the last call. Errors: as Pool's
/// members of the same name (ForkedPool in a child process too).
class FORAGE_API SingleQueuePool {
 public:
  /// Workers above this are refused with InvalidArgument, as for Pool::kMaxWorkers.
  static constexpr std::size_t kMaxWorkers = 256;
  /// For the algorithms (forage/executor.hpp): one FIFO: the algorithms submit chunks to it, as
  /// Python does.
  static constexpr bool work_stealing = false;

  /// `workers` = 0 means one per allowed core. options.workers is ignored (`workers` wins);
  /// pinning, name, callbacks and topology apply as for Pool. Throws as Pool's constructor does,
  /// and InvalidArgument when options.trace is set (only Pool traces).
  explicit SingleQueuePool(std::size_t workers, QueueKind kind = QueueKind::locked,
                           PoolOptions options = {});
  /// As Pool's destructor: drains unless shut down; throws WouldDeadlock on its own worker.
  ~SingleQueuePool() noexcept(false);

  SingleQueuePool(const SingleQueuePool&) = delete;             ///< Owns threads: not copyable.
  SingleQueuePool& operator=(const SingleQueuePool&) = delete;  ///< Owns threads: not copyable.
  SingleQueuePool(SingleQueuePool&&) = delete;                  ///< Tasks refer to it: not movable.
  SingleQueuePool& operator=(SingleQueuePool&&) = delete;       ///< Tasks refer to it: not movable.

  /// As Pool::spawn: fire and forget, into the shared queue. Throws InvalidArgument for an
  /// empty callable, PoolClosed after shutdown() (from outside).
  template <class F>
    requires(std::invocable<std::decay_t<F>&> || std::invocable<std::decay_t<F>&, std::stop_token>)
  void spawn(F&& fn) {
    post(detail::make_spawned_task("forage::SingleQueuePool::spawn", stop_root_,
                                   std::forward<F>(fn)));
  }

  /// Runs fn(args...) on the pool and returns its Future (R may be void or move-only). `fn`
  /// and `args` are copied or moved in, then passed as rvalues (as std::async does); together with
  /// the future's state they are one heap block. Throws InvalidArgument for an empty callable,
  /// PoolClosed after shutdown() (from outside; a draining task may still submit). Cancelled by
  /// Shutdown::cancel_pending.
  template <class F, class... Args>
    requires detail::SubmitInvocable<std::decay_t<F>, std::decay_t<Args>...>
        Future<detail::TaskResult<std::decay_t<F>, std::decay_t<Args>...>> submit(F&& fn,
                                                                                  Args&&... args) {
      return detail::submit_to(*this, "forage::SingleQueuePool::submit", std::forward<F>(fn),
                               std::forward<Args>(args)...);
    }

  /// As Pool::spawn_all: one task per item, queued as one batch (one admission, one bulk
  /// enqueue into the shared queue, one wake-up decision; a sized input as groups of items),
  /// all or nothing.
  template <std::ranges::input_range R, class F>
    requires detail::BulkInvocable<std::remove_reference_t<R>, F>
  void spawn_all(R&& inputs, F&& fn) {
    detail::spawn_all_to(*this, "forage::SingleQueuePool::spawn_all", inputs, std::forward<F>(fn));
  }

  /// As Pool::submit_all: submit(fn, item) per item in one batch, the futures in input order.
  template <std::ranges::input_range R, class F>
    requires detail::BulkInvocable<std::remove_reference_t<R>, F>
        std::vector<Future<detail::BulkResult<std::remove_reference_t<R>, F>>> submit_all(
            R&& inputs, F&& fn) {
      return detail::submit_all_to(*this, "forage::SingleQueuePool::submit_all", inputs,
                                   std::forward<F>(fn));
    }

  /// As Pool::wait_idle: blocks until everything spawned before has run; throws WouldDeadlock
  /// on one of this pool's workers.
  void wait_idle();
  /// As Pool::shutdown: stops accepting, drains or cancels, joins; idempotent; throws
  /// WouldDeadlock on one of this pool's workers.
  void shutdown(Shutdown mode = Shutdown::drain);

  /// Whether shutdown() has begun: spawns from outside now throw PoolClosed.
  bool closed() const noexcept;
  /// How many worker threads the pool runs.
  std::size_t worker_count() const noexcept;
  /// The queue it was built with.
  QueueKind kind() const noexcept;
  /// PoolOptions::name.
  const std::string& name() const noexcept;
  /// A snapshot of every worker's counters (the search and wake counters stay 0). May throw
  /// std::bad_alloc.
  PoolStats stats() const;

 private:
  friend struct detail::SchedulerAccess;

  // As Pool::post and Pool::post_batch (detail::SchedulerAccess says the contract).
  void post(detail::Task* task);
  void post_batch(detail::Task* const* tasks, std::size_t count);

  std::shared_ptr<detail::SingleQueueCore> core_;
  detail::SchedulerId scheduler_id_;  // for futures: names core_ without owning it
  // The core's stop node (detail::SchedulerAccess::stop_root); lives as long as core_.
  const detail::StopNode* stop_root_;
};

}  // namespace forage
