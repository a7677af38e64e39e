// The compiled half of the futures layer (future.hpp, promise.hpp and the shared state and
// continuations they use): scheduling continuations on the right pool, and the error
// messages. Waiting is lib/wait_word.cpp's.
#include "forage/future.hpp"

#include <chrono>
#include <memory>
#include <string>

#include "forage/detail/continuations.hpp"
#include "forage/errors.hpp"
#include "forage/promise.hpp"
#include "lifecycle/scheduler.hpp"
#include "lifecycle/worker_context.hpp"
#include "sleep/futex.hpp"

namespace forage::detail {

namespace rt {

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

}  // namespace rt

}  // namespace forage::detail
