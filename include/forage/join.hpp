/// @file
/// Fork-join: join(a, b) and TaskGroup.
///
/// join(a, b) runs `a` on the calling worker and offers `b` to idle workers; if nobody took `b`
/// by the time `a` is done, the caller runs it too. The task for `b` lives on the caller's
/// stack: a join allocates nothing. If `b` was taken, the caller runs other tasks while it
/// waits (help-while-wait), so joins nest to any depth without blocking a worker.
///
/// TaskGroup is the open-ended form: spawn any number of tasks, then wait() for all of them.
#pragma once

#include <atomic>
#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <variant>

#include "forage/detail/block_alloc.hpp"
#include "forage/detail/scheduler_id.hpp"
#include "forage/detail/shared_state.hpp"
#include "forage/detail/stop_node.hpp"
#include "forage/detail/task.hpp"
#include "forage/detail/wait_word.hpp"
#include "forage/executor.hpp"
#include "forage/export.hpp"

namespace forage {

namespace detail {

namespace FORAGE_API rt {

// Defined in lib/join.cpp.
//
// Is the calling thread a worker of the scheduler with this id?
bool on_scheduler(SchedulerId scheduler) noexcept;
// On a worker (of any pool): Scheduler::fork / take_back of that worker's pool (see
// lib/lifecycle/scheduler.hpp). fork returns false off the pool, where nothing was done.
bool fork_on_current_worker(Task* task) noexcept;
bool take_back_on_current_worker(Task* task) noexcept;
[[noreturn]] void throw_join_outside_pool();
[[noreturn]] void throw_entry_cancelled(const char* where);
std::exception_ptr group_task_cancelled_error();
[[noreturn]] void throw_group_stopped(std::uint32_t skipped);

}  // namespace rt

// The TaskGroup task this thread is handing to post() right now (see TaskGroup::spawn).
FORAGE_API inline thread_local const Task* tls_group_task_being_posted = nullptr;

// What a join half or an entered call hands back: std::monostate for void, a copy for a
// reference (the result outlives the call).
template <class T>
using ValueOrMonostate =
    std::conditional_t<std::is_void_v<T>, std::monostate, std::remove_cvref_t<T>>;

// fn(args...), with std::monostate standing in for a void result.
template <class F, class... Args>
ValueOrMonostate<std::invoke_result_t<F, Args...>> invoke_for_value(F&& fn, Args&&... args) {
  if constexpr (std::is_void_v<std::invoke_result_t<F, Args...>>) {
    std::invoke(std::forward<F>(fn), std::forward<Args>(args)...);
    return {};
  } else {
    return std::invoke(std::forward<F>(fn), std::forward<Args>(args)...);
  }
}

// The second half of a join, on the joiner's stack. `fn(stolen)` learns whether another
// worker took it, which adaptive splitting uses to split the stolen half further.
template <class F>
class ForkedTask final : public Task {
 public:
  using Result = ValueOrMonostate<std::invoke_result_t<F&, bool>>;

  explicit ForkedTask(F& fn) noexcept : Task{&ForkedTask::invoke_task}, fn_(fn) {}

  void run(bool stolen) noexcept {
    try {
      result_.emplace(invoke_for_value(fn_, stolen));
    } catch (...) {
      error_ = std::current_exception();
    }
  }

  // Only after the joiner took it back, or after wait_taken() returned.
  bool dropped() const noexcept { return dropped_; }
  void wait_taken() noexcept { finished_.wait(); }
  std::exception_ptr& error() noexcept { return error_; }
  Result take_result() { return std::move(*result_); }

 private:
  static void invoke_task(Task* self, TaskAction action) noexcept {
    auto* task = static_cast<ForkedTask*>(self);
    if (action == TaskAction::run) {
      task->run(true);
    } else {
      task->dropped_ = true;  // the pool is cancelling its queue: the joiner runs it instead
    }
    task->finished_.count_down();  // our last access: the joiner's frame may end now
  }

  F& fn_;
  std::optional<Result> result_;
  std::exception_ptr error_;
  bool dropped_ = false;
  CountLatch finished_{1};
};

// join() on a worker; `b` is called with whether it was stolen.
template <class A, class B>
auto join_on_worker(A&& a, B&& b) {
  using ResultA = ValueOrMonostate<std::invoke_result_t<A>>;
  ForkedTask<std::remove_reference_t<B>> forked(b);
  if (!rt::fork_on_current_worker(&forked)) rt::throw_join_outside_pool();

  std::optional<ResultA> result_a;
  std::exception_ptr error_a;
  try {
    result_a.emplace(invoke_for_value(std::forward<A>(a)));
  } catch (...) {
    error_a = std::current_exception();
  }
  // b is skipped when a threw and nobody has started it; otherwise it runs to the end.
  if (rt::take_back_on_current_worker(&forked)) {
    if (!error_a) forked.run(false);
  } else {
    forked.wait_taken();
    if (forked.dropped() && !error_a) forked.run(false);
  }
  if (error_a) std::rethrow_exception(error_a);
  if (forked.error()) std::rethrow_exception(forked.error());
  return std::pair<ResultA, typename decltype(forked)::Result>(std::move(*result_a),
                                                               forked.take_result());
}

// A call entering a pool from outside: a task on the caller's stack that runs `fn` on one of
// the pool's workers while the caller waits.
template <class F>
class EntryTask final : public Task {
 public:
  using Result = ValueOrMonostate<std::invoke_result_t<F&>>;

  explicit EntryTask(F& fn) noexcept : Task{&EntryTask::invoke_task}, fn_(fn) {}

  Result wait_result(const char* where) {
    finished_.wait();
    if (cancelled_) rt::throw_entry_cancelled(where);
    if (error_) std::rethrow_exception(error_);
    return std::move(*result_);
  }

 private:
  static void invoke_task(Task* self, TaskAction action) noexcept {
    auto* task = static_cast<EntryTask*>(self);
    if (action == TaskAction::run) {
      try {
        task->result_.emplace(invoke_for_value(task->fn_));
      } catch (...) {
        task->error_ = std::current_exception();
      }
    } else {
      task->cancelled_ = true;
    }
    task->finished_.count_down();  // our last access: the caller's frame may end now
  }

  F& fn_;
  std::optional<Result> result_;
  std::exception_ptr error_;
  bool cancelled_ = false;
  CountLatch finished_{1};
};

// Runs fn() on one of `executor`'s workers: right here if the caller is one, else as a task
// the caller waits for (sleeping off the pool, helping its own pool on another pool's worker).
// Throws PoolClosed if the pool refuses it, Cancelled if shutdown(cancel_pending) dropped it.
template <Executor E, class F>
ValueOrMonostate<std::invoke_result_t<F&>> run_inside(E& executor, F&& fn, const char* where) {
  if (rt::on_scheduler(SchedulerAccess::id(executor))) return invoke_for_value(fn);
  EntryTask<std::remove_reference_t<F>> entry(fn);
  SchedulerAccess::post(executor,
                        &entry);  // a refusal cancels the entry (finishing it) before it throws
  return entry.wait_result(where);
}

}  // namespace detail

/// Runs a() and b(), possibly in parallel, and returns {a's result, b's result}, with
/// std::monostate for void. On a worker of any pool it forks there; elsewhere it throws
/// InvalidArgument (name a pool with join(pool, a, b)). If a or b throws, the first exception
/// is rethrown once both have finished or been skipped: a's if both threw; b is skipped when a
/// threw before anyone started b. Thread-safe: any number of joins run at once; a and b must
/// not race on what they share.
template <class A, class B>
  requires(std::invocable<A>&& std::invocable<B>)
auto join(A&& a, B&& b) {
  auto b_ignoring_stolen = [&b](bool) -> decltype(auto) { return std::invoke(b); };
  return detail::join_on_worker(std::forward<A>(a), b_ignoring_stolen);
}

/// join(a, b) on `executor`: on one of its workers directly, else it enters the pool (the
/// caller waits for the join as a task of the pool). Throws PoolClosed after shutdown(),
/// Cancelled if shutdown(cancel_pending) dropped the entering task; thread-safe as join(a, b).
template <Executor E, class A, class B>
  requires(std::invocable<A>&& std::invocable<B>)
auto join(E& executor, A&& a, B&& b) {
  auto both = [&] { return forage::join(std::forward<A>(a), std::forward<B>(b)); };
  return detail::run_inside(executor, both, "forage::join");
}

/// A set of tasks to wait for together.
///
/// @code
///   forage::TaskGroup group(pool);
///   for (auto& part : parts) group.spawn([&part] { process(part); });
///   group.wait();  // helps run them; rethrows the first exception
/// @endcode
///
/// Every spawned task runs (a failure does not stop the others). wait() rethrows the first
/// exception and drops the rest after their tasks ran; a task the pool cancelled
/// (Shutdown::cancel_pending) makes wait() throw Cancelled if no task threw. The group can be
/// reused after wait(). The destructor waits too (a task never outlives the frame it may
/// refer to); an exception it could not rethrow goes to the pool's PoolOptions::on_error.
/// spawn() may be called from the group's tasks; wait() from one thread at a time.
///
/// Cancellation (oneTBB's task_group::cancel and nested contexts): cancel() requests stop for
/// every task of the group. Tasks not started are skipped; running ones see the request (the
/// std::stop_token a task taking one first receives, this_task::stop_requested(), and the
/// algorithms they run stop between blocks). wait() then throws Cancelled unless a task threw.
/// The group stays cancelled: later spawns are skipped too. A group takes an outside token
/// (TaskGroup(pool, token)), and a group made inside a task inherits that task's cancellation:
/// inside a task of group P, it is cancelled when P is (so such a group must not outlive the
/// task that made it). Shutdown::stop cancels every group of the pool.
class FORAGE_API TaskGroup {
 public:
  /// A group whose tasks run on `executor`, cancelled also when `stop` fires (and, made inside
  /// a task, when that task's group is). Never throws.
  template <Executor E>
  explicit TaskGroup(E& executor, const std::stop_token& stop = {})
      : executor_(&executor),
        post_([](void* target, detail::Task* task) {
          detail::SchedulerAccess::post(*static_cast<E*>(target), task);
        }),
        scheduler_(detail::SchedulerAccess::id(executor)),
        stop_(detail::enclosing_stop(detail::SchedulerAccess::stop_root(executor))),
        on_outside_stop_(stop, detail::RequestStop{&stop_}) {}

  /// Waits for the tasks still running (see the class comment); an exception wait() would
  /// have rethrown goes to the pool's PoolOptions::on_error.
  ~TaskGroup();

  TaskGroup(const TaskGroup&) = delete;             ///< Tasks refer to their group: not copyable.
  TaskGroup& operator=(const TaskGroup&) = delete;  ///< Tasks refer to their group: not copyable.

  /// Runs fn() on the group's pool, or, if it takes one first, fn(token): a std::stop_token
  /// that fires when the group is cancelled. Callable from any thread and from the group's
  /// tasks. Throws InvalidArgument for an empty callable, PoolClosed when the pool refuses the
  /// task.
  template <class F>
    requires(std::invocable<std::decay_t<F>&> || std::invocable<std::decay_t<F>&, std::stop_token>)
  void spawn(F&& fn) {
    detail::require_callable(fn, "forage::TaskGroup::spawn");
    auto* task = new GroupTask<std::decay_t<F>>(*this, std::forward<F>(fn));
    pending_.add();
    // A pool that refuses the task cancels it inside post() and then throws: the caller gets
    // that exception, so the task's cancel must not also count as a cancellation for wait().
    detail::tls_group_task_being_posted = task;
    struct Clear {
      ~Clear() { detail::tls_group_task_being_posted = nullptr; }
    } clear;
    post_(executor_, task);
  }

  /// Waits for every task spawned so far (running other tasks meanwhile on a worker), then
  /// rethrows the first exception one of them threw; else throws Cancelled if the group was
  /// cancelled (no task runs after that report: every task has run or was skipped). From one
  /// thread at a time.
  void wait();

  /// Requests stop of every task of the group (see the class comment). Thread-safe, from any
  /// thread or task; never blocks (except to run std::stop_callbacks of the tokens handed out).
  void cancel() noexcept { stop_.request(); }
  /// Whether the group was cancelled: by cancel(), its outside token, the enclosing task's
  /// group, or Shutdown::stop. Thread-safe; never throws.
  bool cancel_requested() const noexcept { return stop_.requested(); }

 private:
  template <class F>
  struct GroupTask final : detail::Task, detail::BlockAllocated {
    GroupTask(TaskGroup& owner, F&& callable)
        : Task{&GroupTask::invoke_task}, group(owner), fn(std::move(callable)) {}
    GroupTask(TaskGroup& owner, const F& callable)
        : Task{&GroupTask::invoke_task}, group(owner), fn(callable) {}

    static void invoke_task(Task* self, detail::TaskAction action) noexcept {
      auto* task = static_cast<GroupTask*>(self);
      TaskGroup& group = task->group;
      if (action == detail::TaskAction::run) {
        // acquire (requested): a task skipped here is one cancel() was made before.
        if (group.stop_.requested()) {
          // relaxed: published by the count_down below.
          group.skipped_.fetch_add(1, std::memory_order_relaxed);
        } else {
          const detail::StopScope scope(&group.stop_);
          try {
            if constexpr (std::invocable<F&, std::stop_token>) {
              std::invoke(task->fn, group.stop_.token());
            } else {
              std::invoke(task->fn);
            }
          } catch (...) {
            group.record_error(std::current_exception());
          }
        }
      } else if (detail::tls_group_task_being_posted != self) {  // dropped, not refused
        // relaxed: published by the count_down below.
        group.cancelled_.fetch_add(1, std::memory_order_relaxed);
      }
      delete task;
      group.pending_.count_down();  // our last access: wait() may return and end the group
    }

    TaskGroup& group;
    F fn;
  };

  void record_error(std::exception_ptr error) noexcept;

  void* executor_;
  void (*post_)(void*, detail::Task*);
  detail::SchedulerId scheduler_;
  detail::CountLatch pending_;
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;  // written by the task that set failed_
  std::atomic<std::uint32_t> cancelled_{0};
  // Tasks skipped because the group was cancelled; counted like cancelled_.
  std::atomic<std::uint32_t> skipped_{0};
  detail::StopNode stop_;  // under the enclosing task's node, or the pool's
  std::stop_callback<detail::RequestStop> on_outside_stop_;
};

}  // namespace forage
