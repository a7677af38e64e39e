/// @file
/// Promise<T>: a future whose result is produced outside any pool (an I/O callback, another
/// library's thread). Its future has no pool, so then() continuations without an executor run
/// on the thread that calls set_value / set_exception.
#pragma once

#include <exception>
#include <type_traits>
#include <utility>

#include "forage/detail/shared_state.hpp"
#include "forage/errors.hpp"
#include "forage/export.hpp"
#include "forage/future.hpp"

namespace forage {

namespace detail {
namespace FORAGE_API rt {
// Defined in lib/future.cpp.
[[noreturn]] void throw_promise_error(const char* operation, bool future_retrieved_twice);
std::exception_ptr broken_promise_error();
}  // namespace rt
}  // namespace detail

/// The producer's end of a Future<T> whose result comes from outside any pool.
///
/// Errors: on a moved-from promise every member but the special members throws EmptyFuture.
/// Thread-safety: one Promise object is used by one thread at a time (the producer); its future
/// may be read and waited for on any other thread, and the hand-over is synchronised.
template <class T>
class Promise {
 public:
  /// A promise with a fresh state (allocates it: may throw std::bad_alloc).
  Promise() : state_(new detail::SharedState<T>(1, detail::kNoScheduler)) {}
  /// Takes other's state; other is left without one.
  Promise(Promise&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)),
        future_taken_(std::exchange(other.future_taken_, false)) {}
  /// Abandons this promise's state (as the destructor does), then takes other's.
  Promise& operator=(Promise&& other) noexcept {
    if (this != &other) {
      abandon();
      state_ = std::exchange(other.state_, nullptr);
      future_taken_ = std::exchange(other.future_taken_, false);
    }
    return *this;
  }
  Promise(const Promise&) = delete;             ///< One producer: not copyable.
  Promise& operator=(const Promise&) = delete;  ///< One producer: not copyable.
  /// Without a result set, the future completes with BrokenPromise.
  ~Promise() { abandon(); }

  /// The future this promise completes. Once; a second call throws AlreadyRetrieved.
  Future<T> get_future() {
    require("forage::Promise::get_future");
    if (future_taken_) detail::rt::throw_promise_error("forage::Promise::get_future", true);
    future_taken_ = true;
    state_->add_ref();
    return detail::FutureAccess::adopt(state_);
  }

  /// Completes the future. A second result throws PromiseAlreadySatisfied. If the future was
  /// cancelled meanwhile, the value is dropped and nothing is thrown: the reader asked for it
  /// not to matter, and the producer could not have known. If constructing the value throws,
  /// the future gets that exception and it is rethrown here.
  template <class... Args>
  void set_value(Args&&... args) {
    require("forage::Promise::set_value");
    if (!claim("forage::Promise::set_value")) return;
    if constexpr (std::is_void_v<T>) {
      static_assert(sizeof...(Args) == 0, "Promise<void>::set_value takes no arguments");
      state_->set_value();
    } else {
      try {
        state_->set_value(std::forward<Args>(args)...);
      } catch (...) {
        state_->set_error(std::current_exception());  // the reader sees why
        throw;
      }
    }
  }
  /// Completes the future with `error`, which its get() rethrows. Throws InvalidArgument for a
  /// null `error`, and PromiseAlreadySatisfied as set_value() does.
  void set_exception(std::exception_ptr error) {
    require("forage::Promise::set_exception");
    if (error == nullptr) {
      throw InvalidArgument(
          "forage::Promise::set_exception: the exception_ptr is null; pass "
          "std::current_exception() inside a catch block, or std::make_exception_ptr(e)");
    }
    if (!claim("forage::Promise::set_exception")) return;
    state_->set_error(std::move(error));
  }

  /// Whether the reader cancelled the future (a producer may stop early).
  bool cancelled() const {
    require("forage::Promise::cancelled");
    return state_->status() == detail::Status::cancelled;
  }

 private:
  void require(const char* operation) const {
    if (state_ == nullptr) {
      detail::rt::throw_empty_future(operation, detail::EmptyReason::moved_from);
    }
  }
  bool claim(const char* operation) {
    if (state_->try_start()) return true;
    if (state_->status() == detail::Status::cancelled) return false;
    detail::rt::throw_promise_error(operation, false);
  }
  void abandon() noexcept {
    if (state_ == nullptr) return;
    if (state_->try_start()) state_->set_error(detail::rt::broken_promise_error());
    std::exchange(state_, nullptr)->release();
  }

  detail::SharedState<T>* state_;
  bool future_taken_ = false;
};

}  // namespace forage
