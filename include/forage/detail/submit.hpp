// submit(): a task and its future's shared state in one block of the block allocator
// (detail/block_alloc.hpp). Pool::submit and SingleQueuePool::submit both come here.
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "forage/detail/scheduler_id.hpp"
#include "forage/detail/shared_state.hpp"
#include "forage/detail/task.hpp"
#include "forage/future.hpp"

namespace forage::detail {

template <class Fn, class... Args>
class SubmitState final : public Task, public SharedState<std::invoke_result_t<Fn, Args...>> {
 public:
  // Like std::async: the stored callable and arguments are passed as rvalues (the task runs
  // once), so a move-only argument can be taken by value.
  using Result = std::invoke_result_t<Fn, Args...>;

  // Two references: the future's, and the task's (dropped after it runs or is cancelled).
  template <class F, class... A>
  SubmitState(SchedulerId scheduler, F&& fn, A&&... args)
      : Task{&SubmitState::invoke_task},
        SharedState<Result>(2, scheduler),
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

  void run() noexcept {
    try {
      if constexpr (std::is_void_v<Result>) {
        std::apply(std::move(work_->fn), std::move(work_->args));
        work_.reset();
        this->set_value();
      } else {
        this->set_value(std::apply(std::move(work_->fn), std::move(work_->args)));
      }
    } catch (...) {
      this->set_error(std::current_exception());
    }
    work_.reset();
  }

  void drop_work() noexcept override { work_.reset(); }

  std::optional<Work> work_;
};

// The one block of a submit (its operator new is the block allocator's: StateBase is
// BlockAllocated), for submit_to and submit_all_to (bulk_submit.hpp).
template <class State, class... A>
State* make_submit_state(SchedulerId scheduler, A&&... args) {
  return new State(scheduler, std::forward<A>(args)...);
}

// `post` is the executor's post (it cancels the task on refusal, which makes the future
// cancelled, then throws).
template <class Executor, class F, class... Args>
auto submit_to(Executor& executor, const char* where, F&& fn, Args&&... args) {
  require_callable(fn, where);
  using State = SubmitState<std::decay_t<F>, std::decay_t<Args>...>;
  auto* state = make_submit_state<State>(SchedulerAccess::id(executor), std::forward<F>(fn),
                                         std::forward<Args>(args)...);
  auto future = FutureAccess::adopt<typename State::Result>(state);
  SchedulerAccess::post(executor, state);
  return future;
}

}  // namespace forage::detail
