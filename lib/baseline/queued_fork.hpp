// join() on a pool with one shared FIFO (SingleQueuePool).
//
// A FIFO cannot give a queued task back, and a joiner that waits for its second half to come
// out of the queue runs everything queued before it on its own stack: stack use then grows
// with the number of joins, not their depth (fib(27) overflowed 64 MiB). So the queue gets a
// small heap proxy instead of the joiner's stack node, and whoever claims the proxy first
// runs the second half: the joiner inline (the proxy, dequeued later, just frees itself), or
// a worker that dequeued it (the joiner then waits for a task that is already running).
#pragma once

#include <atomic>
#include <vector>

#include "forage/detail/task.hpp"

namespace forage::detail {

class QueuedFork final : public Task {
 public:
  explicit QueuedFork(Task* forked) noexcept : Task{&QueuedFork::invoke_task}, forked_(forked) {}

  // The joiner, after the first half ran: true if it claimed the second half (run it inline).
  // Drops the joiner's reference either way.
  bool claim_for_joiner() noexcept {
    const bool won = claim();
    release();
    return won;
  }

 private:
  static void invoke_task(Task* self, TaskAction action) noexcept {
    auto* fork = static_cast<QueuedFork*>(self);
    // Only a winner touches the joiner's node: a loser's joiner may have returned already.
    if (fork->claim()) fork->forked_->invoke(fork->forked_, action);
    fork->release();
  }

  bool claim() noexcept {
    // acq_rel: one side wins. The winner's later writes to the forked node are published to
    // the joiner by the node's own latch, not by this flag.
    return !claimed_.exchange(true, std::memory_order_acq_rel);
  }

  void release() noexcept {
    // acq_rel: the last owner to let go sees the other's accesses finished before it frees.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  Task* forked_;
  std::atomic<bool> claimed_{false};
  std::atomic<int> refs_{2};  // the queue's and the joiner's
};

// One worker's outstanding forks, innermost last: joins on a thread nest like its frames, so
// take_back() always concerns the newest one.
using QueuedForkStack = std::vector<QueuedFork*>;

}  // namespace forage::detail
