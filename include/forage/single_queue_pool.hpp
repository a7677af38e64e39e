// SingleQueuePool: the baseline every benchmark compares against. One shared FIFO that every
// spawn and every worker goes through, which is how Python's ThreadPoolExecutor and
// multiprocessing.Pool work. Same surface as Pool (spawn / submit / wait_idle / shutdown /
// stats), so the algorithms and tests run unchanged on both.
//
//   QueueKind::locked     one std::mutex + std::condition_variable guarding a std::deque;
//                         a spawn signals the condition variable only if a worker sleeps.
//   QueueKind::lock_free  moodycamel::ConcurrentQueue; idle workers spin briefly, then park on
//                         the same event count as Pool (lib/sleep/README.md).
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

enum class QueueKind { locked, lock_free };

namespace detail {
class SingleQueueCore;
}  // namespace detail

class FORAGE_API SingleQueuePool {
 public:
  static constexpr std::size_t kMaxWorkers = 256;
  // For the algorithms (forage/executor.hpp): one FIFO: the algorithms submit chunks to it, as
  // Python does.
  static constexpr bool work_stealing = false;

  // `workers` = 0 means one per allowed core. options.workers is ignored (`workers` wins);
  // pinning, name, callbacks and topology apply as for Pool.
  explicit SingleQueuePool(std::size_t workers, QueueKind kind = QueueKind::locked,
                           PoolOptions options = {});
  ~SingleQueuePool() noexcept(false);

  SingleQueuePool(const SingleQueuePool&) = delete;
  SingleQueuePool& operator=(const SingleQueuePool&) = delete;
  SingleQueuePool(SingleQueuePool&&) = delete;
  SingleQueuePool& operator=(SingleQueuePool&&) = delete;

  template <class F>
    requires(std::invocable<std::decay_t<F>&> || std::invocable<std::decay_t<F>&, std::stop_token>)
  void spawn(F&& fn) {
    post(detail::make_spawned_task("forage::SingleQueuePool::spawn", stop_root_,
                                   std::forward<F>(fn)));
  }

  // Runs fn(args...) on the pool and returns its Future (R may be void or move-only). `fn`
  // and `args` are copied or moved in, then passed as rvalues (as std::async does); together with
  // the future's state they are one heap block. Throws InvalidArgument for an empty callable,
  // PoolClosed after shutdown() (from outside; a draining task may still submit). Cancelled by
  // Shutdown::cancel_pending.
  template <class F, class... Args>
    requires detail::SubmitInvocable<std::decay_t<F>, std::decay_t<Args>...>
        Future<detail::TaskResult<std::decay_t<F>, std::decay_t<Args>...>> submit(F&& fn,
                                                                                  Args&&... args) {
      return detail::submit_to(*this, "forage::SingleQueuePool::submit", std::forward<F>(fn),
                               std::forward<Args>(args)...);
    }

  // As Pool::spawn_all: one task per item, queued as one batch (one admission, one bulk
  // enqueue into the shared queue, one wake-up decision; a sized input as groups of items),
  // all or nothing.
  template <std::ranges::input_range R, class F>
    requires detail::BulkInvocable<std::remove_reference_t<R>, F>
  void spawn_all(R&& inputs, F&& fn) {
    detail::spawn_all_to(*this, "forage::SingleQueuePool::spawn_all", inputs, std::forward<F>(fn));
  }

  // As Pool::submit_all: submit(fn, item) per item in one batch, the futures in input order.
  template <std::ranges::input_range R, class F>
    requires detail::BulkInvocable<std::remove_reference_t<R>, F>
        std::vector<Future<detail::BulkResult<std::remove_reference_t<R>, F>>> submit_all(
            R&& inputs, F&& fn) {
      return detail::submit_all_to(*this, "forage::SingleQueuePool::submit_all", inputs,
                                   std::forward<F>(fn));
    }

  void wait_idle();
  void shutdown(Shutdown mode = Shutdown::drain);

  bool closed() const noexcept;
  std::size_t worker_count() const noexcept;
  QueueKind kind() const noexcept;
  const std::string& name() const noexcept;
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
