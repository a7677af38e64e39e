// then() and on_done(): the continuation nodes, each one block (of the block allocator,
// detail/block_alloc.hpp) with its callable.
// Included at the end of forage/future.hpp.
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "forage/detail/scheduler_id.hpp"
#include "forage/detail/shared_state.hpp"
#include "forage/detail/task.hpp"
#include "forage/export.hpp"
#include "forage/future.hpp"

namespace forage::detail {

namespace FORAGE_API rt {
// Defined in lib/future.cpp. Runs `task` on the scheduler with this id: on the caller's own
// queue when it is one of that scheduler's workers, else through the registry; inline for
// kNoScheduler. When the scheduler is gone or refuses the task (closed), the task is cancelled.
void schedule_on(SchedulerId scheduler, Task* task) noexcept;
}  // namespace rt

// What a then() continuation is called with and what its future holds.
template <class In, bool kConsume, class Fn>
struct ThenTraits {
  using Arg = std::conditional_t<kConsume, In&&, const In&>;
  static_assert(std::is_invocable_v<Fn&, Arg>,
                "forage then(): the continuation must be callable with the antecedent's value "
                "(T&& for a Future<T>, const T& for a SharedFuture<T>)");
  using Raw = std::invoke_result_t<Fn&, Arg>;
};
template <bool kConsume, class Fn>
struct ThenTraits<void, kConsume, Fn> {
  static_assert(std::is_invocable_v<Fn&>,
                "forage then(): the continuation of a future of void takes no arguments");
  using Raw = std::invoke_result_t<Fn&>;
};

template <class Raw>
struct Unwrapped {
  static constexpr bool unwrap = false;
  using type = Raw;
};
template <class U>
struct Unwrapped<Future<U>> {
  static constexpr bool unwrap = true;
  using type = U;
};

template <class In, bool kConsume, class Fn>
class ThenState final
    : public Task,
      public Continuation,
      public SharedState<typename Unwrapped<typename ThenTraits<In, kConsume, Fn>::Raw>::type> {
  using Raw = typename ThenTraits<In, kConsume, Fn>::Raw;
  static constexpr bool kUnwrap = Unwrapped<Raw>::unwrap;

 public:
  using Out = typename Unwrapped<Raw>::type;

  // Two references: the returned future's and the work's (held while this node sits on the
  // antecedent, in a queue, or on the future fn returned).
  template <class F>
  ThenState(SharedState<In>* antecedent, SchedulerId target, F&& fn)
      : Task{&ThenState::invoke_task},
        Continuation{&ThenState::antecedent_done},
        SharedState<Out>(2, target),
        antecedent_(antecedent),
        fn_(std::in_place, std::forward<F>(fn)) {}

  void attach() noexcept {
    if (!antecedent_->add_continuation(this)) antecedent_done(this);
  }

 private:
  static void antecedent_done(Continuation* self) noexcept {
    auto* state = static_cast<ThenState*>(self);
    rt::schedule_on(state->scheduler(), static_cast<Task*>(state));
  }

  static void invoke_task(Task* self, TaskAction action) noexcept {
    auto* state = static_cast<ThenState*>(self);
    if (action == TaskAction::run) {
      if (state->try_start()) {
        state->run();
        return;
      }
    } else {
      state->try_cancel();
    }
    // Not started: the callable belongs to whoever won try_cancel, which destroyed it in
    // drop_work (a reader's cancel() may be doing so on its own thread right now, so it is not
    // touched here). The antecedent and the work's reference are this task's to let go.
    state->drop_antecedent();
    state->release();
  }

  void run() noexcept {
    switch (antecedent_->status()) {
      case Status::value:
        call();
        return;
      case Status::error:
        this->set_error(antecedent_->error());
        break;
      default:
        this->set_cancelled();
    }
    finish_work();
  }

  Raw call_fn() {
    if constexpr (std::is_void_v<In>) {
      return std::invoke(*fn_);
    } else if constexpr (kConsume) {
      return std::invoke(*fn_, std::move(antecedent_->value()));
    } else {
      return std::invoke(*fn_, std::as_const(antecedent_->value()));
    }
  }

  void call() noexcept {
    try {
      if constexpr (kUnwrap) {
        Future<Out> inner = call_fn();
        inner_ = FutureAccess::take(inner,
                                    "forage::Future::then (the future the continuation "
                                    "returned)",
                                    EmptyReason::chained);
        fn_.reset();
        drop_antecedent();
        this->Continuation::fire = &ThenState::inner_done;
        this->Continuation::next = nullptr;
        if (!inner_->add_continuation(this)) inner_done(this);
        return;  // inner_done finishes the work
      } else if constexpr (std::is_void_v<Out>) {
        call_fn();
        this->set_value();
      } else {
        this->set_value(call_fn());
      }
    } catch (...) {
      this->set_error(std::current_exception());
    }
    finish_work();
  }

  static void inner_done(Continuation* self) noexcept {
    auto* state = static_cast<ThenState*>(self);
    SharedState<Out>* inner = std::exchange(state->inner_, nullptr);
    switch (inner->status()) {
      case Status::value:
        if constexpr (std::is_void_v<Out>) {
          state->set_value();
        } else {
          try {
            state->set_value(std::move(inner->value()));
          } catch (...) {
            state->set_error(std::current_exception());
          }
        }
        break;
      case Status::error:
        state->set_error(inner->error());
        break;
      default:
        state->set_cancelled();
    }
    inner->release();
    state->finish_work();
  }

  void drop_work() noexcept override { fn_.reset(); }

  void drop_antecedent() noexcept {
    if (antecedent_ != nullptr) std::exchange(antecedent_, nullptr)->release();
  }

  void finish_work() noexcept {
    fn_.reset();
    drop_antecedent();
    this->release();
  }

  SharedState<In>* antecedent_;
  SharedState<Out>* inner_ = nullptr;  // the future fn returned, while it runs
  std::optional<Fn> fn_;
};

// Builds the continuation; takes over the reference `antecedent` carries.
template <bool kConsume, class In, class F>
auto make_then(SharedState<In>* antecedent, SchedulerId target, F&& fn) {
  using State = ThenState<In, kConsume, std::decay_t<F>>;
  StateRef<SharedState<In>> guard{antecedent};  // released if the allocation throws
  auto* state = new State(antecedent, target, std::forward<F>(fn));
  guard.state = nullptr;
  Future<typename State::Out> result = FutureAccess::adopt<typename State::Out>(state);
  state->attach();
  return result;
}

// on_done: the callback and the reference it is handed, in one node.
template <class Handle, class State, class Callback>
struct OnDoneNode final : Continuation, BlockAllocated {
  OnDoneNode(State* done_state, Callback&& fn)
      : Continuation{&OnDoneNode::fire_node}, state(done_state), callback(std::move(fn)) {}
  OnDoneNode(State* done_state, const Callback& fn)
      : Continuation{&OnDoneNode::fire_node}, state(done_state), callback(fn) {}

  static void fire_node(Continuation* self) noexcept {
    auto* node = static_cast<OnDoneNode*>(self);
    const SchedulerId scheduler = node->state->scheduler();
    try {
      if constexpr (std::is_same_v<Handle, SharedFuture<typename Handle::value_type>>) {
        const Handle handle = FutureAccess::adopt_shared(node->state);
        std::invoke(node->callback, handle);
      } else {
        Handle handle = FutureAccess::adopt(node->state);
        std::invoke(node->callback, handle);
      }
    } catch (...) {
      rt::report_callback_error(scheduler, std::current_exception());
    }
    delete node;
  }

  State* state;  // the reference the handle adopts
  Callback callback;
};

template <class Handle, class State, class F>
void attach_on_done(State* state, F&& callback) {
  StateRef<State> guard{state};
  auto* node = new OnDoneNode<Handle, State, std::decay_t<F>>(state, std::forward<F>(callback));
  guard.state = nullptr;
  if (!state->add_continuation(node)) OnDoneNode<Handle, State, std::decay_t<F>>::fire_node(node);
}

}  // namespace forage::detail

namespace forage {

template <class T>
template <class F>
void Future<T>::on_done(F&& callback) {
  static_assert(std::is_invocable_v<std::decay_t<F>&, Future<T>&>,
                "forage::Future<T>::on_done: the callback must be callable with Future<T>&");
  require("forage::Future::on_done");
  detail::require_callable(callback, "forage::Future::on_done");
  detail::attach_on_done<Future<T>>(take("forage::Future::on_done", detail::EmptyReason::chained),
                                    std::forward<F>(callback));
}

template <class T>
template <class F>
auto Future<T>::then(F&& fn) {
  require("forage::Future::then");
  detail::require_callable(fn, "forage::Future::then");
  const detail::SchedulerId target = state_->scheduler();
  return detail::make_then<true>(take("forage::Future::then", detail::EmptyReason::chained), target,
                                 std::forward<F>(fn));
}

template <class T>
template <class Executor, class F>
auto Future<T>::then(Executor& executor, F&& fn) {
  require("forage::Future::then");
  detail::require_callable(fn, "forage::Future::then");
  return detail::make_then<true>(take("forage::Future::then", detail::EmptyReason::chained),
                                 detail::SchedulerAccess::id(executor), std::forward<F>(fn));
}

template <class T>
template <class F>
void SharedFuture<T>::on_done(F&& callback) const {
  static_assert(std::is_invocable_v<std::decay_t<F>&, const SharedFuture<T>&>,
                "forage::SharedFuture<T>::on_done: the callback must be callable with "
                "const SharedFuture<T>&");
  require("forage::SharedFuture::on_done");
  detail::require_callable(callback, "forage::SharedFuture::on_done");
  state_->add_ref();
  detail::attach_on_done<SharedFuture<T>>(state_, std::forward<F>(callback));
}

template <class T>
template <class F>
auto SharedFuture<T>::then(F&& fn) const {
  require("forage::SharedFuture::then");
  detail::require_callable(fn, "forage::SharedFuture::then");
  state_->add_ref();
  return detail::make_then<false>(state_, state_->scheduler(), std::forward<F>(fn));
}

template <class T>
template <class Executor, class F>
auto SharedFuture<T>::then(Executor& executor, F&& fn) const {
  require("forage::SharedFuture::then");
  detail::require_callable(fn, "forage::SharedFuture::then");
  state_->add_ref();
  return detail::make_then<false>(state_, detail::SchedulerAccess::id(executor),
                                  std::forward<F>(fn));
}

}  // namespace forage
