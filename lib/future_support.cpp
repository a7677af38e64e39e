// The compiled half of the futures layer: waiting (help-while-wait on a worker, a futex
// elsewhere), scheduling continuations on the right pool, and the error messages.
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "backoff.hpp"
#include "forage/detail/continuations.hpp"
#include "forage/errors.hpp"
#include "forage/future.hpp"
#include "forage/promise.hpp"
#include "futex.hpp"
#include "scheduler.hpp"
#include "worker_context.hpp"

namespace forage::detail {

namespace {

using Clock = std::chrono::steady_clock;

// A helping worker that finds no task sleeps on the future for at most this long before it
// looks for work again, starting short and doubling: a task submitted while it sleeps waits
// at most kLongestNap for it (other idle workers are woken for it at once).
constexpr auto kFirstNap = std::chrono::microseconds(50);
constexpr auto kLongestNap = std::chrono::milliseconds(1);

bool is_done(std::uint32_t word) noexcept {
  return static_cast<Status>(word & StateBase::kStatusMask) >= Status::value;
}

// Sleeps on the state's word until it is done or the deadline passes. No spinning: the
// completer wakes us when it sees the sleeper bit.
bool sleep_until_done(const StateBase& state, Clock::time_point deadline, bool has_deadline) {
  std::atomic<std::uint32_t>& word = state.word();
  // acquire: a done status makes the result visible to the caller.
  std::uint32_t seen = word.load(std::memory_order_acquire);
  for (;;) {
    if (is_done(seen)) return true;
    if (has_deadline && Clock::now() >= deadline) return false;
    if ((seen & StateBase::kHasSleepers) == 0) {
      // acquire (both): on failure `seen` is re-examined above, and may be a done status.
      // The bit needs no stronger order: the completer's exchange and this CAS are ordered on
      // the word itself, so either it sees the bit and wakes us, or we see it done.
      if (!word.compare_exchange_weak(seen, seen | StateBase::kHasSleepers,
                                      std::memory_order_acquire, std::memory_order_acquire)) {
        continue;
      }
      seen |= StateBase::kHasSleepers;
    }
    // The kernel sleeps only while the word still equals `seen`: a completion in between
    // changed it, so no wake-up is lost.
    if (has_deadline) {
      futex_wait_until(word, seen, deadline);
    } else {
      futex_wait(word, seen);
    }
    seen = word.load(std::memory_order_acquire);  // acquire: as above
  }
}

// Help-while-wait: run the pool's other tasks until the state is done. When there are none,
// spin briefly, then nap on the future (see kLongestNap) and search again.
bool help_until_done(const StateBase& state, Scheduler& scheduler, Clock::time_point deadline,
                     bool has_deadline) {
  Backoff backoff;
  auto nap = std::chrono::duration_cast<Clock::duration>(kFirstNap);
  for (;;) {
    if (state.done()) return true;
    if (has_deadline && Clock::now() >= deadline) return false;
    if (scheduler.run_one_task()) {
      backoff = Backoff();
      nap = std::chrono::duration_cast<Clock::duration>(kFirstNap);
      continue;
    }
    if (backoff.wait()) continue;
    const Clock::time_point wake_at =
        has_deadline ? std::min(deadline, Clock::now() + nap) : Clock::now() + nap;
    if (sleep_until_done(state, wake_at, true)) return true;
    nap = std::min<Clock::duration>(nap * 2, kLongestNap);
  }
}

}  // namespace

bool wait_until_done(const StateBase& state, Clock::time_point deadline, bool has_deadline) {
  if (state.done()) return true;
  if (has_deadline && deadline == Clock::time_point::min()) return false;  // a poll
  if (deadline == Clock::time_point::max()) has_deadline = false;          // saturated: forever
  if (WorkerContext* context = current_worker_context()) {
    return help_until_done(state, *context->scheduler, deadline, has_deadline);
  }
  return sleep_until_done(state, deadline, has_deadline);
}

void wake_waiters(std::atomic<std::uint32_t>& word) noexcept { futex_wake(word, -1); }

void schedule_on(SchedulerId scheduler, Task* task) noexcept {
  if (scheduler == kNoScheduler) {
    task->invoke(task, TaskAction::run);
    return;
  }
  Scheduler* target = nullptr;
  std::shared_ptr<Scheduler> keep_alive;
  const WorkerContext* context = current_worker_context();
  if (context != nullptr && context->scheduler->id() == scheduler) {
    target = context->scheduler;  // alive: we are running on it
  } else {
    try {
      keep_alive = find_scheduler(scheduler);
    } catch (...) {  // the registry's mutex failed: treat the pool as unreachable
    }
    target = keep_alive.get();
  }
  if (target == nullptr) {  // the pool is gone: nothing will ever run it
    task->invoke(task, TaskAction::cancel);
    return;
  }
  try {
    target->post(task);
  } catch (...) {  // closed or out of memory: post() cancelled the task before throwing
  }
}

void report_callback_error(SchedulerId scheduler, std::exception_ptr error) noexcept {
  std::shared_ptr<Scheduler> owner;
  try {
    owner = find_scheduler(scheduler);
  } catch (...) {
  }
  if (owner != nullptr) {
    owner->report_error(error);
  } else {
    report_task_error(error);  // the calling worker's pool, else stderr
  }
}

[[noreturn]] void throw_empty_future(const char* operation, EmptyReason reason) {
  const std::string where(operation);
  switch (reason) {
    case EmptyReason::retrieved:
      throw AlreadyRetrieved(where +
                             ": get() already took this future's result; a Future is read once. "
                             "Call share() before the first get() for a SharedFuture that many "
                             "readers can get()");
    case EmptyReason::moved_from:
      throw EmptyFuture(where + ": this object was moved from; use the one it was moved into");
    case EmptyReason::shared:
      throw EmptyFuture(where + ": share() moved this future into a SharedFuture; use that");
    case EmptyReason::chained:
      throw EmptyFuture(where +
                        ": then(), on_done(), when_all() or when_any() took this future; read "
                        "the result there, or share() it first to read it in several places");
    case EmptyReason::no_state:
      break;
  }
  throw EmptyFuture(where +
                    ": this future has no state (default-constructed); get one from "
                    "submit(), Promise::get_future(), then(), when_all() or when_any()");
}

[[noreturn]] void throw_cancelled(const char* operation) {
  throw Cancelled(std::string(operation) +
                  ": the task was cancelled before it started (Future::cancel(), "
                  "Shutdown::cancel_pending, or its pool was closed when it was due to run); "
                  "check cancelled() before get() if that is expected");
}

[[noreturn]] void throw_promise_error(const char* operation, bool future_retrieved_twice) {
  if (future_retrieved_twice) {
    throw AlreadyRetrieved(std::string(operation) +
                           ": the future was already taken; a Promise has one Future. Call "
                           "share() on it for several readers");
  }
  throw PromiseAlreadySatisfied(std::string(operation) +
                                ": this Promise already has a result; set it once");
}

std::exception_ptr broken_promise_error() {
  return std::make_exception_ptr(
      BrokenPromise("forage::Promise destroyed without a value or an exception; call "
                    "set_value() or set_exception() on every path before it goes away"));
}

}  // namespace forage::detail
