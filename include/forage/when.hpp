/// @file
/// when_all and when_any: futures of futures, without a thread blocked on them. Each input gets
/// a continuation link; the last link to fire (when_all) or the first (when_any) completes the
/// result. The inputs are taken over (they are empty afterwards) and keep running; cancelling
/// the combined future does not cancel them.
///
/// Thread-safety: the inputs are taken from the calling thread (as with any Future, nothing
/// else may use them meanwhile); they may complete on any threads at once.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <exception>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "forage/detail/shared_state.hpp"
#include "forage/errors.hpp"
#include "forage/future.hpp"

namespace forage {

namespace detail {

// void has no value to collect: when_all of Future<void>s is a Future<void>, a void slot in
// the variadic form is std::monostate, when_any of Future<void>s yields just the index.
template <class T>
using AllOf = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;
template <class T>
using AnyOf = std::conditional_t<std::is_void_v<T>, std::size_t, std::pair<std::size_t, T>>;
template <class T>
using Slot = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class Owner>
struct InputLink : Continuation {
  Owner* owner = nullptr;
  std::size_t index = 0;
};

// Throws EmptyFuture (or AlreadyRetrieved), saying why, for an input without a state: ready()
// on an empty future raises exactly that error.
template <class Input>
void require_input(const Input& input) {
  if (!input.valid()) (void)input.ready();
}
template <class Input>
void require_inputs(const std::vector<Input>& inputs) {
  for (const Input& input : inputs) require_input(input);
}

// Completes `result` with what made input `state` fail: its exception or its cancellation.
template <class Result, class Input>
void fail_like(Result& result, Input& state) noexcept {
  if (state.status() == Status::error) {
    result.set_error(state.error());
  } else {
    result.set_cancelled();
  }
}

template <class T>
class WhenAllState final : public SharedState<AllOf<T>> {
 public:
  // Two references: the result future's, and the links' (dropped by the last one to fire).
  explicit WhenAllState(std::vector<Future<T>>&& inputs)
      : SharedState<AllOf<T>>(2, kNoScheduler),
        inputs_(std::move(inputs)),
        links_(inputs_.size()),
        remaining_(inputs_.size()) {}

  void attach() noexcept {
    if (inputs_.empty()) collect();
    for (std::size_t i = 0; i < inputs_.size(); ++i) {
      links_[i].fire = &WhenAllState::input_done;
      links_[i].owner = this;
      if (!FutureAccess::state(inputs_[i])->add_continuation(&links_[i])) input_done(&links_[i]);
    }
  }

 private:
  static void input_done(Continuation* link) noexcept {
    WhenAllState* self = static_cast<InputLink<WhenAllState>*>(link)->owner;
    // acq_rel: the last decrement sees every other input's completion (each input's result
    // is also published by its own status, which collect() reads with acquire).
    if (self->remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) self->collect();
  }

  void collect() noexcept {
    if (this->try_start()) {  // else cancelled by its reader: nothing to deliver
      const auto failed = std::find_if(inputs_.begin(), inputs_.end(), [](const Future<T>& f) {
        return FutureAccess::state(f)->status() != Status::value;
      });
      if (failed != inputs_.end()) {
        fail_like(*this, *FutureAccess::state(*failed));
      } else if constexpr (std::is_void_v<T>) {
        this->set_value();
      } else {
        try {
          std::vector<T> values;
          values.reserve(inputs_.size());
          for (Future<T>& input : inputs_) {
            values.push_back(std::move(FutureAccess::state(input)->value()));
          }
          this->set_value(std::move(values));
        } catch (...) {
          this->set_error(std::current_exception());
        }
      }
    }
    this->release();
  }

  std::vector<Future<T>> inputs_;
  std::vector<InputLink<WhenAllState>> links_;
  std::atomic<std::size_t> remaining_;
};

template <class T>
class WhenAnyState final : public SharedState<AnyOf<T>> {
 public:
  explicit WhenAnyState(std::vector<Future<T>>&& inputs)
      : SharedState<AnyOf<T>>(2, kNoScheduler),
        inputs_(std::move(inputs)),
        links_(inputs_.size()),
        remaining_(inputs_.size()) {}

  void attach() noexcept {
    for (std::size_t i = 0; i < inputs_.size(); ++i) {
      links_[i].fire = &WhenAnyState::input_done;
      links_[i].owner = this;
      links_[i].index = i;
      if (!FutureAccess::state(inputs_[i])->add_continuation(&links_[i])) input_done(&links_[i]);
    }
  }

 private:
  static void input_done(Continuation* raw) noexcept {
    auto* link = static_cast<InputLink<WhenAnyState>*>(raw);
    WhenAnyState* self = link->owner;
    if (self->try_start()) self->deliver(link->index);  // the first input done wins
    // acq_rel: the last link to fire frees the state after every other link is done with it.
    if (self->remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) self->release();
  }

  void deliver(std::size_t index) noexcept {
    SharedState<T>& input = *FutureAccess::state(inputs_[index]);
    if (input.status() != Status::value) {
      fail_like(*this, input);
    } else if constexpr (std::is_void_v<T>) {
      this->set_value(index);
    } else {
      try {
        this->set_value(index, std::move(input.value()));
      } catch (...) {
        this->set_error(std::current_exception());
      }
    }
  }

  std::vector<Future<T>> inputs_;
  std::vector<InputLink<WhenAnyState>> links_;
  std::atomic<std::size_t> remaining_;
};

template <class... Ts>
class WhenAllTupleState final : public SharedState<std::tuple<Slot<Ts>...>> {
  static constexpr std::size_t kCount = sizeof...(Ts);

 public:
  explicit WhenAllTupleState(std::tuple<Future<Ts>...>&& inputs)
      : SharedState<std::tuple<Slot<Ts>...>>(2, kNoScheduler),
        inputs_(std::move(inputs)),
        remaining_(kCount) {}

  void attach() noexcept {
    if constexpr (kCount == 0) {
      collect();
    } else {
      attach_each(std::index_sequence_for<Ts...>{});
    }
  }

 private:
  template <std::size_t... I>
  void attach_each(std::index_sequence<I...>) noexcept {
    (attach_one(links_[I], *FutureAccess::state(std::get<I>(inputs_))), ...);
  }
  template <class State>
  void attach_one(InputLink<WhenAllTupleState>& link, State& input) noexcept {
    link.fire = &WhenAllTupleState::input_done;
    link.owner = this;
    if (!input.add_continuation(&link)) input_done(&link);
  }

  static void input_done(Continuation* link) noexcept {
    WhenAllTupleState* self = static_cast<InputLink<WhenAllTupleState>*>(link)->owner;
    // acq_rel: as in WhenAllState.
    if (self->remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) self->collect();
  }

  template <std::size_t I>
  Slot<std::tuple_element_t<I, std::tuple<Ts...>>> take() {
    auto& input = *FutureAccess::state(std::get<I>(inputs_));
    if constexpr (std::is_void_v<std::tuple_element_t<I, std::tuple<Ts...>>>) {
      return {};
    } else {
      return std::move(input.value());
    }
  }

  template <std::size_t... I>
  void deliver(std::index_sequence<I...>) {
    this->set_value(take<I>()...);
  }

  template <std::size_t... I>
  bool fail_first(std::index_sequence<I...>) noexcept {
    // Left to right: the first input (by position) that did not produce a value decides.
    return (fail_if_failed(*FutureAccess::state(std::get<I>(inputs_))) || ...);
  }
  template <class State>
  bool fail_if_failed(State& input) noexcept {
    if (input.status() == Status::value) return false;
    fail_like(*this, input);
    return true;
  }

  void collect() noexcept {
    if (this->try_start()) {
      if (!fail_first(std::index_sequence_for<Ts...>{})) {
        try {
          deliver(std::index_sequence_for<Ts...>{});
        } catch (...) {
          this->set_error(std::current_exception());
        }
      }
    }
    this->release();
  }

  std::tuple<Future<Ts>...> inputs_;
  std::array<InputLink<WhenAllTupleState>, kCount> links_{};
  std::atomic<std::size_t> remaining_;
};

}  // namespace detail

/// Completes when every input has: with their values in input order, or, if some input did not
/// produce a value, with the exception (or the cancellation) of the first such input by
/// position. An empty vector gives a ready future. Throws EmptyFuture for an empty input.
template <class T>
Future<detail::AllOf<T>> when_all(std::vector<Future<T>> inputs) {
  detail::require_inputs(inputs);
  auto* state = new detail::WhenAllState<T>(std::move(inputs));
  Future<detail::AllOf<T>> result = detail::FutureAccess::adopt<detail::AllOf<T>>(state);
  state->attach();
  return result;
}

/// The variadic form: Future<std::tuple<...>>, std::monostate standing in for void. Throws
/// EmptyFuture for an empty input.
template <class... Ts>
Future<std::tuple<detail::Slot<Ts>...>> when_all(Future<Ts>... inputs) {
  (detail::require_input(inputs), ...);
  using Result = std::tuple<detail::Slot<Ts>...>;
  auto* state = new detail::WhenAllTupleState<Ts...>(std::make_tuple(std::move(inputs)...));
  Future<Result> result = detail::FutureAccess::adopt<Result>(state);
  state->attach();
  return result;
}

/// Completes with the first input to be done: {index, value}, or its exception / cancellation.
/// The others run on; their results are dropped. Throws InvalidArgument for no inputs (it could
/// never complete) and EmptyFuture for an empty input.
template <class T>
Future<detail::AnyOf<T>> when_any(std::vector<Future<T>> inputs) {
  if (inputs.empty()) {
    throw InvalidArgument(
        "forage::when_any: no futures given, so it could never complete; pass at least one");
  }
  detail::require_inputs(inputs);
  auto* state = new detail::WhenAnyState<T>(std::move(inputs));
  Future<detail::AnyOf<T>> result = detail::FutureAccess::adopt<detail::AnyOf<T>>(state);
  state->attach();
  return result;
}

}  // namespace forage
