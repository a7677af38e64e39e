// The name a future's shared state keeps of the pool that completes it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "forage/detail/task.hpp"

namespace forage::detail {

// Ids are never reused, so a stale id finds nothing rather than another pool.
using SchedulerId = std::uint64_t;
inline constexpr SchedulerId kNoScheduler = 0;

// What the futures layer, join and the algorithms reach inside a Pool or SingleQueuePool (they
// befriend this): the pool's id, its stop node, and post(), which schedules a task node the caller
// built. post takes ownership: the node's invoke is called exactly once, with TaskAction::run, or
// with TaskAction::cancel when Shutdown::cancel_pending drops it or the closed pool refuses it
// (then PoolClosed is thrown after the cancel call).
class StopNode;

struct SchedulerAccess {
  // The pool's stop node, the root of every node of its tasks (Shutdown::stop requests it).
  template <class Executor>
  static const StopNode* stop_root(const Executor& executor) noexcept {
    return executor.stop_root_;
  }
  template <class Executor>
  static SchedulerId id(const Executor& executor) noexcept {
    return executor.scheduler_id_;
  }
  template <class Executor>
  static void post(Executor& executor, Task* task) {
    executor.post(task);
  }
  // post for `count` tasks at once (spawn_all, submit_all): one admission, one enqueue, one
  // wake-up decision. All or nothing: either every task is queued, or every one is cancelled
  // (invoke with TaskAction::cancel) before the call throws (PoolClosed, std::bad_alloc).
  template <class Executor>
  static void post_batch(Executor& executor, Task* const* tasks, std::size_t count) {
    executor.post_batch(tasks, count);
  }
};

}  // namespace forage::detail
