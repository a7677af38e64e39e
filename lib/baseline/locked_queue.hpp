// LockedQueue: the queue of SingleQueuePool with QueueKind::locked, as Python's queue.Queue
// does it: one std::mutex and std::condition_variable guarding a std::deque. Every spawn and
// every take holds the mutex; a spawn signals the condition variable only if a worker sleeps.
//
// The interface every SingleQueuePool queue has (lock_free_queue.hpp is the other):
//   WorkerTokens                 what a worker keeps for the queue (nothing here)
//   push(task, from)             any thread; from = the calling worker's tokens, or null
//   push_batch(tasks, count, from)  the same for a batch, all or nothing, one wake decision
//   try_pop(tokens)              a worker; never sleeps (help-while-wait)
//   next(tokens, counters, index, lifecycle)
//                                a worker; sleeps while empty, null once the pool is finished
//   wake_all()                   every sleeper re-checks (shutdown, a retracted count)
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <new>
#include <vector>

#include "forage/detail/alloc_fault.hpp"
#include "forage/detail/task.hpp"
#include "forage/single_queue_pool.hpp"
#include "lifecycle/pool_lifecycle.hpp"
#include "lifecycle/worker_context.hpp"

namespace forage::detail {

class LockedQueue {
 public:
  static constexpr QueueKind kKind = QueueKind::locked;

  // A worker needs nothing of its own: the mutex is the whole protocol.
  struct WorkerTokens {
    explicit WorkerTokens(LockedQueue& /*queue*/) noexcept {}
  };

  // The same arguments as LockFreeQueue, which needs them; unused here.
  LockedQueue(std::size_t /*workers*/, const std::vector<int>& /*plan*/) {}
  LockedQueue(const LockedQueue&) = delete;
  LockedQueue& operator=(const LockedQueue&) = delete;

  // Queues `task` at the back. False (nothing queued) when out of memory; the caller then
  // rolls its count back.
  bool push(Task* task, WorkerTokens* /*from*/) {
    bool wake = false;
    try {
      std::lock_guard lock(mutex_);
      allocation_fault_point();  // a test's injected failure (detail/alloc_fault.hpp)
      queue_.push_back(task);
      wake = sleepers_ > 0;
    } catch (const std::bad_alloc&) {
      return false;
    }
    // Python's queue signals on every put; signalling only when a worker waits saves the
    // futex call while everyone is busy.
    if (wake) ready_.notify_one();
    return true;
  }

  // Queues `count` tasks at the back under one lock, then wakes as many sleepers as there
  // are tasks (at most every sleeper). False (nothing queued) when out of memory.
  bool push_batch(Task* const* tasks, std::size_t count, WorkerTokens* /*from*/) {
    std::size_t sleepers = 0;
    try {
      std::lock_guard lock(mutex_);
      allocation_fault_point();  // a test's injected failure (detail/alloc_fault.hpp)
      // Strong guarantee: inserting at an end of a std::deque either adds every element or,
      // when an allocation throws, none (copying a pointer cannot throw).
      queue_.insert(queue_.end(), tasks, tasks + count);
      sleepers = sleepers_;
    } catch (const std::bad_alloc&) {
      return false;
    }
    if (count >= sleepers) {
      if (sleepers > 0) ready_.notify_all();
    } else {
      for (std::size_t i = 0; i < count; ++i) ready_.notify_one();
    }
    return true;
  }

  // The front task, or null when the queue is empty.
  Task* try_pop(WorkerTokens& /*me*/) {
    std::lock_guard lock(mutex_);
    return pop_locked();
  }

  // The front task, sleeping on the condition variable while there is none; null once the
  // pool is finished.
  Task* next(WorkerTokens& /*me*/, WorkerCounters& counters, std::size_t /*index*/,
             PoolLifecycle& lifecycle) {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (Task* task = pop_locked()) return task;
      if (lifecycle.finished()) {
        ready_.notify_all();  // the others exit too
        lock.unlock();
        lifecycle.notify_idle_waiters();
        return nullptr;
      }
      lifecycle.notify_idle_waiters();
      ++sleepers_;
      WorkerCounters::bump(counters.parks, std::memory_order_relaxed);  // statistics
      ready_.wait(lock);
      --sleepers_;
    }
  }

  void wake_all() {
    // Taking the mutex orders what changed before any worker's next check under it.
    { std::lock_guard lock(mutex_); }
    ready_.notify_all();
  }

 private:
  Task* pop_locked() {
    if (queue_.empty()) return nullptr;
    Task* task = queue_.front();
    queue_.pop_front();
    return task;
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Task*> queue_;   // guarded by mutex_
  std::size_t sleepers_ = 0;  // guarded by mutex_
};

}  // namespace forage::detail
