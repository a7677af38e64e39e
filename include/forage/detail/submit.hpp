// submit(): a task and its future's shared state in one block of the block allocator
// (detail/block_alloc.hpp). Pool::submit and SingleQueuePool::submit both come here.
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>

#include "forage/detail/scheduler_id.hpp"
#include "forage/detail/shared_state.hpp"
#include "forage/detail/stop_node.hpp"
#include "forage/detail/task.hpp"
#include "forage/future.hpp"

namespace forage::detail {

// Does fn take a std::stop_token before its arguments (as std::jthread's callables do)? Then
// submit and spawn pass one. Checked first, as std::jthread does.
template <class Fn, class... Args>
inline constexpr bool kTakesStopToken = std::is_invocable_v<Fn, std::stop_token, Args...>;

// fn's result, called as submit calls it (with a token first when it takes one).
template <class Fn, class... Args>
using TaskResult = typename std::conditional_t<kTakesStopToken<Fn, Args...>,
                                               std::invoke_result<Fn, std::stop_token, Args...>,
                                               std::invoke_result<Fn, Args...>>::type;

// What submit accepts: fn(args...) or fn(token, args...), all as rvalues.
template <class Fn, class... Args>
concept SubmitInvocable =
    std::is_invocable_v<Fn, Args...> || std::is_invocable_v<Fn, std::stop_token, Args...>;

// The stop node lives in the block: a task that takes no token pays a flag and a pointer, no
// allocation (the node allocates its std::stop_source only when the token is asked for).
template <class Fn, class... Args>
class SubmitState final : public Task, public SharedState<TaskResult<Fn, Args...>> {
 public:
  // Like std::async: the stored callable and arguments are passed as rvalues (the task runs
  // once), so a move-only argument can be taken by value.
  using Result = TaskResult<Fn, Args...>;

  // Two references: the future's, and the task's (dropped after it runs or is cancelled).
  // `pool_root`: the pool's stop node (Shutdown::stop reaches the task through it).
  template <class F, class... A>
  SubmitState(SchedulerId scheduler, const StopNode* pool_root, F&& fn, A&&... args)
      : Task{&SubmitState::invoke_task},
        SharedState<Result>(2, scheduler),
        stop_(pool_root),
        work_(std::in_place, std::forward<F>(fn), std::forward<A>(args)...) {}

 private:
  struct Work {
    template <class F, class... A>
    explicit Work(F&& f, A&&... a) : fn(std::forward<F>(f)), args(std::forward<A>(a)...) {}
    Fn fn;
    std::tuple<Args...> args;
  };

  static void invoke_task(Task* self, TaskAction action) noexcept {
    auto* state = static_cast<SubmitState*>(self);
    if (action == TaskAction::run) {
      if (state->try_start()) state->run();
    } else {
      state->try_cancel();
    }
    state->release();
  }

  decltype(auto) call() {
    if constexpr (kTakesStopToken<Fn, Args...>) {
      return std::apply(
          [this](Args&&... args) -> Result {
            return std::invoke(std::move(work_->fn), stop_.token(), std::move(args)...);
          },
          std::move(work_->args));
    } else {
      return std::apply(std::move(work_->fn), std::move(work_->args));
    }
  }

  void run() noexcept {
    const StopScope scope(&stop_);  // this_task::stop_requested() reads the task's node
    try {
      if constexpr (std::is_void_v<Result>) {
        call();
        work_.reset();
        this->set_value();
      } else {
        this->set_value(call());
      }
    } catch (...) {
      this->set_error(std::current_exception());
    }
    work_.reset();
  }

  void drop_work() noexcept override { work_.reset(); }
  void stop_running() noexcept override { stop_.request(); }

  StopNode stop_;
  std::optional<Work> work_;
};

// The one block of a submit (its operator new is the block allocator's: StateBase is
// BlockAllocated), for submit_to and submit_all_to (bulk_submit.hpp).
template <class State, class... A>
State* make_submit_state(SchedulerId scheduler, const StopNode* pool_root, A&&... args) {
  return new State(scheduler, pool_root, std::forward<A>(args)...);
}

// `post` is the executor's post (it cancels the task on refusal, which makes the future
// cancelled, then throws).
template <class Executor, class F, class... Args>
auto submit_to(Executor& executor, const char* where, F&& fn, Args&&... args) {
  require_callable(fn, where);
  using State = SubmitState<std::decay_t<F>, std::decay_t<Args>...>;
  auto* state =
      make_submit_state<State>(SchedulerAccess::id(executor), SchedulerAccess::stop_root(executor),
                               std::forward<F>(fn), std::forward<Args>(args)...);
  auto future = FutureAccess::adopt<typename State::Result>(state);
  SchedulerAccess::post(executor, state);
  return future;
}

}  // namespace forage::detail
