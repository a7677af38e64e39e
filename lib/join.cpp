// The compiled half of fork-join: reaching the calling worker's scheduler, and TaskGroup.
#include "forage/join.hpp"

#include <string>

#include "forage/errors.hpp"
#include "lifecycle/scheduler.hpp"
#include "lifecycle/worker_context.hpp"

namespace forage {

namespace detail::rt {

bool on_scheduler(SchedulerId scheduler) noexcept {
  const WorkerContext* context = current_worker_context();
  return context != nullptr && context->scheduler->id() == scheduler;
}

bool fork_on_current_worker(Task* task) noexcept {
  const WorkerContext* context = current_worker_context();
  if (context == nullptr) return false;
  context->scheduler->fork(task);
  return true;
}

bool take_back_on_current_worker(Task* task) noexcept {
  return current_worker_context()->scheduler->take_back(task);
}

[[noreturn]] void throw_join_outside_pool() {
  throw InvalidArgument(
      "forage::join(a, b) called outside any pool's worker, so there is no pool to run b on; "
      "call forage::join(pool, a, b) to run the join on a pool");
}

[[noreturn]] void throw_entry_cancelled(const char* where) {
  throw Cancelled(std::string(where) +
                  ": the pool was shut down with Shutdown::cancel_pending before this call "
                  "started on it; shut down after the call returns, or use Shutdown::drain");
}

std::exception_ptr group_task_cancelled_error() {
  return std::make_exception_ptr(
      Cancelled("forage::TaskGroup::wait: a task of the group was cancelled by "
                "Shutdown::cancel_pending before it started; shut the pool down after wait() "
                "returns, or use Shutdown::drain"));
}

[[noreturn]] void throw_group_stopped(std::uint32_t skipped) {
  throw Cancelled(
      "forage::TaskGroup::wait: the group was cancelled (TaskGroup::cancel(), its "
      "stop token, the group of the task that made it, or Shutdown::stop); " +
      std::to_string(skipped) + " of its tasks were skipped before they started");
}

}  // namespace detail::rt

void TaskGroup::record_error(std::exception_ptr error) noexcept {
  // acq_rel: exactly one task wins; its write of error_ is published to wait() by the
  // count_down that follows (release) and wait()'s acquire of the zero count.
  if (!failed_.exchange(true, std::memory_order_acq_rel)) error_ = std::move(error);
}

void TaskGroup::wait() {
  pending_.wait();  // acquire: every task's effects and error writes are visible now
  // relaxed (all): ordered by the acquire above; only this waiting thread resets them.
  const std::uint32_t cancelled = cancelled_.exchange(0, std::memory_order_relaxed);
  const std::uint32_t skipped = skipped_.exchange(0, std::memory_order_relaxed);
  if (failed_.load(std::memory_order_relaxed)) {
    std::exception_ptr error = std::move(error_);
    error_ = nullptr;
    failed_.store(false, std::memory_order_relaxed);
    std::rethrow_exception(error);
  }
  if (stop_.requested()) detail::rt::throw_group_stopped(skipped);
  if (cancelled != 0) std::rethrow_exception(detail::rt::group_task_cancelled_error());
}

TaskGroup::~TaskGroup() {
  pending_.wait();
  // relaxed: ordered by the acquire in wait().
  if (failed_.load(std::memory_order_relaxed)) {
    detail::rt::report_callback_error(scheduler_, std::move(error_));
  }
}

}  // namespace forage
