#include "lifecycle/pool_lifecycle.hpp"

#include <exception>
#include <system_error>
#include <utility>

#include "forage/errors.hpp"

namespace forage::detail {

PoolLifecycle::PoolLifecycle(Scheduler& scheduler, PoolKind kind, const PoolOptions& options,
                             const Topology& topology, const std::vector<int>& plan,
                             WakeAllWorkers wake_all_workers)
    : scheduler_(scheduler),
      kind_(kind),
      options_(options),
      topology_(topology),
      plan_(plan),
      wake_all_workers_(std::move(wake_all_workers)) {}

void PoolLifecycle::start(const RunWorker& run_worker) {
  std::lock_guard lock(mutex_);
  const std::size_t workers = counters_.size();
  std::latch started(static_cast<std::ptrdiff_t>(workers));
  const std::size_t stack_bytes = resolve_stack_size(options_.stack_size, kind_.type);
  threads_.reserve(workers);
  std::exception_ptr failure;
  try {
    for (std::size_t i = 0; i < workers; ++i) {
      threads_.emplace_back([run_worker, i, &started] { run_worker(i, started); }, stack_bytes);
    }
  } catch (const std::system_error& error) {  // pthread_create refused (WorkerThread)
    failure = thread_start_error(error.code(), kind_.type, options_.name, threads_.size(), workers,
                                 stack_bytes);
  } catch (...) {  // out of memory for the thread's body
    failure = std::current_exception();
  }
  if (failure) started.count_down(static_cast<std::ptrdiff_t>(workers - threads_.size()));
  // Every started worker set itself up (or recorded why it could not: the latch orders that
  // before this wait's return).
  started.wait();
  if (!failure) failure = start_failure_.take();
  if (failure) {
    // Stop the workers that did start (they exit once the closed pool is finished), then
    // report.
    close_and_wake_all();
    for (WorkerThread& thread : threads_) thread.join();
    joined_ = true;
    std::rethrow_exception(failure);
  }
}

WorkerThreadScope::Setup PoolLifecycle::worker_setup(std::size_t index, WorkerCounters& counters,
                                                     std::atomic<Pool*>* pool) noexcept {
  return {.context = {.scheduler = &scheduler_,
                      .pool = pool,
                      .index = index,
                      .on_error = &options_.on_error,
                      .pool_name = &options_.name},
          .options = &options_,
          .topology = &topology_,
          .pin_cpu = plan_.empty() ? -1 : plan_[index],
          .counters = &counters,
          .pin_error_reported = &pin_error_reported_,
          .start_failure = &start_failure_};
}

void PoolLifecycle::refuse(Task* task) {
  task->invoke(task, TaskAction::cancel);
  throw_closed();
}

void PoolLifecycle::refuse_batch(Task* const* tasks, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) tasks[i]->invoke(tasks[i], TaskAction::cancel);
  throw_closed();
}

void PoolLifecycle::throw_closed() {
  refuse_if_inherited("spawn/submit");
  throw PoolClosed(std::string(kind_.type) + " '" + options_.name +
                   "': spawn after shutdown(); spawn before calling shutdown(), or create " +
                   kind_.new_pool);
}

void PoolLifecycle::retract_admission(std::size_t count) {
  idle_.retract(count);
  // Workers parked while the admitted task was counted may be waiting for it to finish a
  // drain; the count just dropped, so let them re-check.
  wake_all_workers_();
}

void PoolLifecycle::refuse_if_inherited(const char* operation) const {
  if (!scheduler_.inherited()) [[likely]]
    return;
  throw ForkedPool(std::string(kind_.type) + " '" + options_.name + "': " + operation +
                   " in a child process: the pool was created before fork() and belongs to the "
                   "parent process (its workers were not copied into the child); create " +
                   kind_.new_pool + " in the child");
}

void PoolLifecycle::abandon_inherited() noexcept {
  // Not under mutex_: a thread of the parent may have held it at the fork. Nothing else in
  // the child reaches these threads (every operation refuses first).
  for (WorkerThread& thread : threads_) thread.forget();
  joined_ = true;
}

void PoolLifecycle::wait_idle() {
  refuse_if_inherited("wait_idle()");
  if (on_own_worker()) {
    throw WouldDeadlock(std::string(kind_.type) + " '" + options_.name +
                        "': wait_idle() on one of its own workers would wait for the task "
                        "that is calling it; " +
                        kind_.wait_idle_advice);
  }
  idle_.wait_quiescent(counters_);
}

void PoolLifecycle::shutdown(Shutdown mode) {
  refuse_if_inherited("shutdown()");
  if (on_own_worker()) {
    throw WouldDeadlock(std::string(kind_.type) + " '" + options_.name +
                        "': shutdown() on one of its own workers would join itself; call it "
                        "from the thread that owns the pool");
  }
  std::lock_guard lock(mutex_);
  if (joined_) return;
  // relaxed: ordered before the close below, which workers acquire; cancelling() reads it as
  // a hint (see there).
  if (mode != Shutdown::drain) cancelling_.store(true, std::memory_order_relaxed);
  // Shutdown::stop: every running task, group and algorithm hangs under this node; they see it
  // at their next check, and the stop tokens handed out fire (std::stop_source). After the
  // cancelling hint: a task that returns because it saw the request (an acquire of the node's
  // flag, whose seq_cst exchange is a release after the relaxed store above) leaves a worker
  // that then sees the hint and cancels the queued tasks instead of running them.
  if (mode == Shutdown::stop) scheduler_.stop_root().request();
  close_and_wake_all();  // sleepers re-check: cancel what is queued, or exit when finished
  for (WorkerThread& thread : threads_) thread.join();
  joined_ = true;
}

void PoolLifecycle::abandon_from_worker() noexcept {
  std::lock_guard lock(mutex_);
  if (joined_) return;
  close_and_wake_all();
  // Each worker holds a reference to the core; the last one to exit frees it.
  for (WorkerThread& thread : threads_) thread.detach();
  joined_ = true;
}

void PoolLifecycle::destroy_handle(const std::function<void()>& forget_handle) {
  if (scheduler_.inherited()) {
    if (forget_handle) forget_handle();
    abandon_inherited();
    return;
  }
  if (on_own_worker()) {
    if (forget_handle) forget_handle();  // the handle is gone once we throw
    abandon_from_worker();
    throw WouldDeadlock(std::string(kind_.type) + " '" + options_.name +
                        "' destroyed on one of its own workers: it cannot join itself, so it "
                        "was closed and drains in the background; destroy a pool from the "
                        "thread that created it");
  }
  // Draining tasks may still reach the handle (Pool::current()->spawn()): it stays valid
  // until the workers are joined.
  shutdown(Shutdown::drain);
  if (forget_handle) forget_handle();
}

bool PoolLifecycle::park_unless_finished(EventCount<>& parking, EventCount<>::Key key,
                                         std::uint32_t tag, WorkerCounters& counters) noexcept {
  if (finished()) {
    parking.cancel_wait();
    // Other sleepers must see it too, and so must the wait_idle() callers.
    parking.notify_all();
    idle_.notify_idle_waiters();
    return false;
  }
  WorkerCounters::bump(counters.parks, std::memory_order_relaxed);  // statistics
  parking.commit_wait(key, tag);
  return true;
}

void PoolLifecycle::close_and_wake_all() {
  idle_.close();
  wake_all_workers_();
}

}  // namespace forage::detail
