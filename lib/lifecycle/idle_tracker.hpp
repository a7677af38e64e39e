// IdleTracker: admission of tasks from outside, the closed flag, and quiescence — "every
// task spawned so far, and what those spawned, has finished" — without a shared counter that
// every task would have to touch.
//
// Counting: a task from outside is counted in `external_` when admitted; a task spawned on a
// worker is counted in that worker's `spawned`; a finished task is counted in the `executed`
// or `cancelled` of the worker that finished it. The pool is quiescent when
//   sum(executed + cancelled)  ==  external + sum(spawned).
//
// Why reading the counters one by one is enough: the reader loads every finished-count first
// (acquire), then every spawned-count. Each finished task's spawn count increment
// happens-before its finish count increment (spawn -> queue publication -> dequeue -> run ->
// release store of the finish count), so every task counted as finished is also counted as
// spawned in the later reads. Equal sums therefore mean every task counted as spawned has
// finished. And every task spawned before the wait began is counted: an outside spawn is
// sequenced before the waiter's reads (or happens-before through the caller), and a child is
// counted in `spawned` before its parent's finish count is published.
//
// Blocking: waiters (wait_idle, shutdown) use an EventCount; a worker calls
// notify_idle_waiters() each time it runs out of work, which costs a fence and one load when
// nobody waits. Store-buffering between "finish count stored; fence; read waiters" and
// "waiter announced; fence; read counts" means the last finishing worker either wakes the
// waiter or the waiter sees the final counts (lib/sleep/README.md has the same argument).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "forage/detail/assert.hpp"
#include "lifecycle/worker_context.hpp"
#include "sleep/event_count.hpp"

namespace forage::detail {

class IdleTracker {
 public:
  // Counts `tasks` tasks from outside (a single submit, or a whole batch in one RMW) unless
  // the pool is closed. Any thread.
  bool try_admit(std::uint64_t tasks = 1) noexcept {
    const std::uint64_t added = tasks << kCountShift;
    // acquire (this load and a failed CAS): a refusal synchronises with close()'s release, so
    // the refused caller sees what the closer did before closing; Shutdown::stop requested
    // the pool's stop first, and a parallel algorithm refused halfway through posting its
    // chunks must see that request to end with Cancelled rather than PoolClosed.
    std::uint64_t state = external_.load(std::memory_order_acquire);
    do {
      if ((state & kClosedBit) != 0) return false;
      // acquire on success too only because g++ rejects a failure order stronger than the
      // success order (-Winvalid-memory-model); the count itself needs no order: it is
      // published to workers by the queue's own release/acquire (the enqueue that follows),
      // and to the quiescence reader through the worker's release of its finish count.
      // Closing is an RMW on the same word, so admit and close are totally ordered: a task
      // either is admitted before the close or sees the closed bit.
    } while (!external_.compare_exchange_weak(state, state + added, std::memory_order_acquire,
                                              std::memory_order_acquire));
    FORAGE_ASSERT((added >> kCountShift) == tasks && state + added > state,
                  "IdleTracker::try_admit overflowed the admitted count: " + decode(state) + " + " +
                      std::to_string(tasks));
    return true;
  }

  // Undoes try_admit(tasks) when the tasks could not be queued (allocation failure). The
  // caller must also wake its parked workers: a drain may be waiting for this count.
  void retract(std::uint64_t tasks = 1) noexcept {
    // relaxed: as in try_admit.
    const std::uint64_t before =
        external_.fetch_sub(tasks << kCountShift, std::memory_order_relaxed);
    FORAGE_ASSERT((before >> kCountShift) >= tasks,
                  "IdleTracker::retract without a matching try_admit (the count would wrap): " +
                      decode(before) + " - " + std::to_string(tasks));
    notify_idle_waiters();
  }

  // Returns true if this call closed the pool. Any thread.
  bool close() noexcept {
    // acq_rel: totally ordered with try_admit (same word); release makes the close visible
    // to workers that acquire it in closed(). Only the flag changes: the count's invariant
    // (never wraps, checked in try_admit and retract) cannot break here.
    return (external_.fetch_or(kClosedBit, std::memory_order_acq_rel) & kClosedBit) == 0;
  }

  bool closed() const noexcept {
    // acquire: pairs with the release in close().
    return (external_.load(std::memory_order_acquire) & kClosedBit) != 0;
  }

  // True when everything spawned so far has finished (see the header comment).
  bool quiescent(const std::vector<WorkerCounters*>& workers) const noexcept {
    std::uint64_t finished = 0;
    for (const WorkerCounters* counters : workers) {
      // acquire: pairs with the worker's release of its finish counts; everything the
      // finished tasks did, including counting their children, is visible below.
      finished += counters->executed.load(std::memory_order_acquire);
      finished += counters->cancelled.load(std::memory_order_acquire);
    }
    // relaxed: read after the acquires above; coherence gives at least the values that
    // happened-before them.
    std::uint64_t spawned = external_.load(std::memory_order_relaxed) >> kCountShift;
    for (const WorkerCounters* counters : workers) {
      spawned += counters->spawned.load(std::memory_order_relaxed);
    }
    return finished == spawned;
  }

  // Blocks until quiescent. Not on a worker of this pool (the caller checks).
  void wait_quiescent(const std::vector<WorkerCounters*>& workers) noexcept {
    for (;;) {
      const auto key = idle_event_.prepare_wait();
      if (quiescent(workers)) {
        idle_event_.cancel_wait();
        return;
      }
      idle_event_.commit_wait(key);
    }
  }

  // Called by a worker that ran out of work (its finish counts are already stored).
  void notify_idle_waiters() noexcept { idle_event_.notify_all(); }

  // The packed `external_` word as text, for assertion messages and tests:
  // "admitted=5 closed", "admitted=0 open".
  static std::string decode(std::uint64_t word) {
    return "admitted=" + std::to_string(word >> kCountShift) +
           ((word & kClosedBit) != 0 ? " closed" : " open");
  }

  // The layout of `external_`: the closed flag in bit 0, the admitted count above it.
  static constexpr std::uint64_t kClosedBit = 1;
  static constexpr unsigned kCountShift = 1;
  static constexpr std::uint64_t kOne = std::uint64_t{1} << kCountShift;  // one admitted task

 private:
  // (count of tasks admitted from outside) << 1 | closed. Written by outside spawners
  // (try_admit) and close(); read by workers (closed) and quiescence readers.
  alignas(kCacheLine) std::atomic<std::uint64_t> external_{0};
  EventCount<> idle_event_;
};

}  // namespace forage::detail
