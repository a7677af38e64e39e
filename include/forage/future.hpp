/// @file
/// Future<T> and SharedFuture<T>: the result of Pool::submit, Promise::get_future, then(),
/// when_all() and when_any().
///
/// Future<T> has one reader, like std::future: get() moves the result out, and then(),
/// on_done() and share() take the future over (it is empty afterwards, and says why if used).
/// SharedFuture<T> (from share()) is copyable; every copy can get() the same result by const
/// reference, any number of times, and attach any number of then()/on_done() continuations.
///
/// Waiting (get, wait, wait_for, wait_until) on a worker thread runs other tasks until the
/// result is ready (help-while-wait); anywhere else it sleeps on a futex. Neither spins.
///
/// Destroying a future neither waits nor cancels: the task still runs (as in Python).
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <type_traits>
#include <utility>

#include "forage/detail/shared_state.hpp"
#include "forage/errors.hpp"
#include "forage/export.hpp"

namespace forage {

template <class T>
class Future;
template <class T>
class SharedFuture;

namespace detail {

// Why a future has no state; the error for using it says so.
enum class EmptyReason : std::uint8_t { no_state, moved_from, retrieved, shared, chained };

namespace FORAGE_API rt {
// Defined in lib/future.cpp.
[[noreturn]] void throw_empty_future(const char* operation, EmptyReason reason);
[[noreturn]] void throw_cancelled(const char* operation);
}  // namespace rt

// Wait-deadline arithmetic shared by Future and SharedFuture. A wait of zero or less (or a
// deadline already past) is a poll: time_point::min(). A wait too long for steady_clock
// saturates to time_point::max(), which means "no deadline". Nothing here can overflow:
// the comparison with the room left on steady_clock is done in long double.
template <class Rep, class Period>
std::chrono::steady_clock::time_point steady_deadline_after(
    const std::chrono::duration<Rep, Period>& timeout) {
  using Steady = std::chrono::steady_clock;
  if (timeout <= timeout.zero()) return Steady::time_point::min();
  const Steady::time_point now = Steady::now();
  const Steady::duration room = Steady::time_point::max() - now;
  using Exact = std::chrono::duration<long double, Steady::period>;
  if (Exact(timeout) >= Exact(room)) return Steady::time_point::max();
  return now + std::chrono::ceil<Steady::duration>(Exact(timeout));
}

template <class Clock, class Duration>
std::chrono::steady_clock::time_point steady_deadline(
    const std::chrono::time_point<Clock, Duration>& deadline) {
  const auto now = Clock::now();
  if (deadline <= now) return std::chrono::steady_clock::time_point::min();
  return steady_deadline_after(deadline - now);  // positive, and cannot overflow
}

template <class T>
struct FutureTraits {
  static constexpr bool is_future = false;
};
template <class T>
struct FutureTraits<Future<T>> {
  static constexpr bool is_future = true;
  using value_type = T;
};

struct FutureAccess;

}  // namespace detail

/// True for a `Future<U>` (any cv-ref), false otherwise: how then() recognises a function that
/// returns a future.
template <class T>
inline constexpr bool is_future_v = detail::FutureTraits<std::remove_cvref_t<T>>::is_future;

/// The result of a task that will complete: one reader, like std::future (see
/// forage/future.hpp).
///
/// Errors: every member but valid() and the special members throws EmptyFuture on a future
/// without a state. Thread-safety: one Future object is used by one thread at a time
/// (move it to hand it over, or share() it for several readers); the task that completes it may
/// run on any thread, and that hand-over is synchronised.
template <class T>
class Future {
 public:
  using value_type = T;  ///< The task's result type (void allowed).

  /// An empty future (valid() is false): a placeholder to move a real one into.
  Future() noexcept = default;
  /// Takes other's state; other becomes empty (using it throws EmptyFuture, saying why).
  Future(Future&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)),
        reason_(std::exchange(other.reason_, detail::EmptyReason::moved_from)) {}
  /// Drops this future's state (not waiting, not cancelling), then takes other's.
  Future& operator=(Future&& other) noexcept {
    if (this != &other) {
      reset(detail::EmptyReason::no_state);
      state_ = std::exchange(other.state_, nullptr);
      reason_ = std::exchange(other.reason_, detail::EmptyReason::moved_from);
    }
    return *this;
  }
  Future(const Future&) = delete;             ///< One reader: not copyable (see share()).
  Future& operator=(const Future&) = delete;  ///< One reader: not copyable (see share()).
  /// Neither waits nor cancels: the task still runs.
  ~Future() { reset(detail::EmptyReason::no_state); }

  /// Whether this future has a state (false once get(), share(), then() or on_done() took it).
  /// Never throws.
  bool valid() const noexcept { return state_ != nullptr; }

  /// Waits, then returns the value or rethrows the task's exception; takes the result, so the
  /// future is empty afterwards. Throws Cancelled, EmptyFuture, AlreadyRetrieved.
  T get() {
    require("forage::Future::get");
    state_->wait_until(detail::kNoDeadline);
    detail::StateRef<detail::SharedState<T>> owned{std::exchange(state_, nullptr)};
    reason_ = detail::EmptyReason::retrieved;
    switch (owned.state->status()) {
      case detail::Status::value:
        if constexpr (std::is_void_v<T>) {
          return;
        } else {
          return std::move(owned.state->value());
        }
      case detail::Status::error:
        std::rethrow_exception(owned.state->error());
      default:
        detail::rt::throw_cancelled("forage::Future::get");
    }
  }

  /// Blocks until the future is done (a value, an exception or cancelled). Throws EmptyFuture.
  void wait() const {
    require("forage::Future::wait");
    state_->wait_until(detail::kNoDeadline);
  }
  /// Returns whether the future is done; a zero or negative timeout only polls. Throws
  /// EmptyFuture.
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) const {
    require("forage::Future::wait_for");
    return state_->wait_until(detail::steady_deadline_after(timeout));
  }
  /// As wait_for(), up to a time point of any clock (one already past only polls).
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& deadline) const {
    require("forage::Future::wait_until");
    return state_->wait_until(detail::steady_deadline(deadline));
  }

  /// Done: get() will not block (a value, an exception, or cancelled). Throws EmptyFuture.
  bool ready() const {
    require("forage::Future::ready");
    return state_->done();
  }
  /// Whether the future was cancelled (get() would throw Cancelled). Throws EmptyFuture.
  bool cancelled() const {
    require("forage::Future::cancelled");
    return state_->status() == detail::Status::cancelled;
  }
  /// Cancels the task if it has not started; returns whether it did (Python's Future.cancel).
  /// Waiters wake and get() throws Cancelled; continuations see the cancellation. Throws
  /// EmptyFuture.
  bool cancel() {
    require("forage::Future::cancel");
    return state_->try_cancel();
  }
  /// Cooperative cancellation: a task that has not started is cancelled (as cancel()); a
  /// running one is asked to stop: its std::stop_token fires (submit passes one to a callable
  /// that takes it first) and this_task::stop_requested() turns true. map_async's future stops
  /// its map between blocks (get() then throws Cancelled with the count of items that ran).
  /// A finished task ignores it. Futures of a Promise, then() or when_all/any are cancelled
  /// only if not yet done. Never blocks. Throws EmptyFuture.
  void request_stop() {
    require("forage::Future::request_stop");
    state_->request_stop();
  }

  /// `callback(Future<T>&)` runs once when the future is done (at once, on this thread, if it
  /// already is), on the thread that completes it. It receives the future and may get() it.
  /// An exception it throws goes to the pool's PoolOptions::on_error. Takes this future.
  /// Throws EmptyFuture, InvalidArgument for an empty callback.
  template <class F>
  void on_done(F&& callback);

  /// Continuation: fn(T) (fn() for void) runs on the pool that completes this future, or on
  /// `executor` in the second form, once it has a value; its result is the new future's. An
  /// exception or cancellation here passes to the new future without calling fn. If fn returns
  /// a `Future<U>`, the result is a `Future<U>` that completes with it. Futures from a Promise,
  /// when_all or when_any have no pool: the first form runs fn where they complete. Takes this
  /// future. Throws EmptyFuture, InvalidArgument for an empty fn; the new future gets
  /// Cancelled when the pool that should run fn is closed or gone by then.
  template <class F>
  auto then(F&& fn);
  /// As then(fn), with fn run on `executor` (a Pool or a SingleQueuePool); if that pool is
  /// closed or gone when this future completes, the new future is cancelled instead.
  template <class Executor, class F>
  auto then(Executor& executor, F&& fn);

  /// A copyable future for several readers. Takes this future. Throws EmptyFuture.
  SharedFuture<T> share();

 private:
  friend struct detail::FutureAccess;
  explicit Future(detail::SharedState<T>* adopted) noexcept : state_(adopted) {}

  void require(const char* operation) const {
    if (state_ == nullptr) detail::rt::throw_empty_future(operation, reason_);
  }
  detail::SharedState<T>* take(const char* operation, detail::EmptyReason why) {
    require(operation);
    reason_ = why;
    return std::exchange(state_, nullptr);
  }
  void reset(detail::EmptyReason why) noexcept {
    if (state_ != nullptr) std::exchange(state_, nullptr)->release();
    reason_ = why;
  }

  detail::SharedState<T>* state_ = nullptr;
  detail::EmptyReason reason_ = detail::EmptyReason::no_state;
};

/// A future with several readers (Future::share()): copyable, each copy can get() the same
/// result by const reference any number of times.
///
/// Errors: every member but valid() and the special members throws EmptyFuture on a future
/// without a state. Thread-safety: as std::shared_future: the const members may be called on
/// one object from several threads at once; copying, assigning or destroying an object needs
/// that no other thread uses that object (give each thread its own copy).
template <class T>
class SharedFuture {
 public:
  using value_type = T;  ///< The task's result type (void allowed).
  /// What get() returns: the value by const reference (nothing for void).
  using get_type =
      std::conditional_t<std::is_void_v<T>, void, std::add_lvalue_reference_t<const T>>;

  /// An empty shared future (valid() is false).
  SharedFuture() noexcept = default;
  /// Another reader of the same result.
  SharedFuture(const SharedFuture& other) noexcept : state_(other.state_), reason_(other.reason_) {
    if (state_ != nullptr) state_->add_ref();
  }
  /// Takes other's state; other becomes empty.
  SharedFuture(SharedFuture&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)),
        reason_(std::exchange(other.reason_, detail::EmptyReason::moved_from)) {}
  /// Reads other's result from now on (copy or move assignment).
  SharedFuture& operator=(SharedFuture other) noexcept {
    std::swap(state_, other.state_);
    std::swap(reason_, other.reason_);
    return *this;
  }
  /// Neither waits nor cancels; the last reader frees the result.
  ~SharedFuture() {
    if (state_ != nullptr) state_->release();
  }

  /// Whether this object has a state (false if default-constructed or moved from).
  bool valid() const noexcept { return state_ != nullptr; }

  /// Waits, then returns the value by const reference or rethrows the task's exception; every
  /// call by every copy sees the same result. Throws Cancelled, EmptyFuture.
  get_type get() const {
    require("forage::SharedFuture::get");
    state_->wait_until(detail::kNoDeadline);
    switch (state_->status()) {
      case detail::Status::value:
        if constexpr (std::is_void_v<T>) {
          return;
        } else {
          return state_->value();
        }
      case detail::Status::error:
        std::rethrow_exception(state_->error());
      default:
        detail::rt::throw_cancelled("forage::SharedFuture::get");
    }
  }

  /// As Future::wait(). Throws EmptyFuture.
  void wait() const {
    require("forage::SharedFuture::wait");
    state_->wait_until(detail::kNoDeadline);
  }
  /// As Future::wait_for(). Throws EmptyFuture.
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) const {
    require("forage::SharedFuture::wait_for");
    return state_->wait_until(detail::steady_deadline_after(timeout));
  }
  /// As Future::wait_until(). Throws EmptyFuture.
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& deadline) const {
    require("forage::SharedFuture::wait_until");
    return state_->wait_until(detail::steady_deadline(deadline));
  }
  /// As Future::ready(). Throws EmptyFuture.
  bool ready() const {
    require("forage::SharedFuture::ready");
    return state_->done();
  }
  /// As Future::cancelled(). Throws EmptyFuture.
  bool cancelled() const {
    require("forage::SharedFuture::cancelled");
    return state_->status() == detail::Status::cancelled;
  }
  /// As Future::cancel(), for every copy. Throws EmptyFuture.
  bool cancel() const {
    require("forage::SharedFuture::cancel");
    return state_->try_cancel();
  }
  /// As Future::request_stop. Throws EmptyFuture.
  void request_stop() const {
    require("forage::SharedFuture::request_stop");
    state_->request_stop();
  }

  /// As Future's, without taking this future: callback(const SharedFuture<T>&).
  template <class F>
  void on_done(F&& callback) const;
  /// As Future's, without taking this future: fn(const T&).
  template <class F>
  auto then(F&& fn) const;
  /// As Future's, without taking this future: fn(const T&) on `executor`.
  template <class Executor, class F>
  auto then(Executor& executor, F&& fn) const;

 private:
  friend struct detail::FutureAccess;
  friend class Future<T>;
  explicit SharedFuture(detail::SharedState<T>* adopted) noexcept : state_(adopted) {}

  void require(const char* operation) const {
    if (state_ == nullptr) detail::rt::throw_empty_future(operation, reason_);
  }

  detail::SharedState<T>* state_ = nullptr;
  detail::EmptyReason reason_ = detail::EmptyReason::no_state;
};

template <class T>
SharedFuture<T> Future<T>::share() {
  return SharedFuture<T>(take("forage::Future::share", detail::EmptyReason::shared));
}

namespace detail {

// The futures layer's own access to the state inside a future.
struct FutureAccess {
  template <class T>
  static Future<T> adopt(SharedState<T>* state) noexcept {
    return Future<T>(state);
  }
  template <class T>
  static SharedFuture<T> adopt_shared(SharedState<T>* state) noexcept {
    return SharedFuture<T>(state);
  }
  // Takes the state (and its reference) out of `future`, which becomes empty for `why`.
  template <class T>
  static SharedState<T>* take(Future<T>& future, const char* operation, EmptyReason why) {
    return future.take(operation, why);
  }
  template <class T>
  static SharedState<T>* state(const Future<T>& future) noexcept {
    return future.state_;
  }
  template <class T>
  static SharedState<T>* state(const SharedFuture<T>& future) noexcept {
    return future.state_;
  }
  template <class T>
  static void require(const SharedFuture<T>& future, const char* operation) {
    future.require(operation);
  }
};

}  // namespace detail
}  // namespace forage

#include "forage/detail/continuations.hpp"  // then() and on_done()
