// LockFreeQueue: the queue of SingleQueuePool with QueueKind::lock_free. A
// moodycamel::ConcurrentQueue with per-worker tokens; idle workers spin (Backoff, as Pool's
// do), then park on the same event count as Pool (lib/sleep/README.md). The interface is the
// one locked_queue.hpp describes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <new>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include "alloc/queue_traits.hpp"
#include "forage/detail/task.hpp"
#include "forage/single_queue_pool.hpp"
#include "lifecycle/pool_lifecycle.hpp"
#include "lifecycle/worker_context.hpp"
#include "sleep/backoff.hpp"
#include "sleep/event_count.hpp"
#include "sleep/wake_targets.hpp"

namespace forage::detail {

class LockFreeQueue {
  using Queue = moodycamel::ConcurrentQueue<Task*, alloc::QueueTraits>;

 public:
  static constexpr QueueKind kKind = QueueKind::lock_free;

  // One worker's tokens: moodycamel is fastest when each thread names its own sub-queue.
  // A producer token whose sub-queue could not be allocated is invalid, and moodycamel's
  // enqueue through it dereferences null: refuse it here, so the pool's constructor throws
  // std::bad_alloc instead of a worker crashing at its first spawn.
  struct WorkerTokens {
    explicit WorkerTokens(LockFreeQueue& queue) : consumer(queue.queue_), producer(queue.queue_) {
      if (!producer.valid()) throw std::bad_alloc();
    }
    moodycamel::ConsumerToken consumer;
    moodycamel::ProducerToken producer;  // spawns from this worker
  };

  // `plan`: the OS PU of each worker (empty when unpinned), for WakeTargets.
  LockFreeQueue(std::size_t workers, const std::vector<int>& plan)
      : wake_targets_(plan), workers_(workers) {}
  LockFreeQueue(const LockFreeQueue&) = delete;
  LockFreeQueue& operator=(const LockFreeQueue&) = delete;

  // Queues `task` and wakes one sleeper if any. False (nothing queued) when out of memory.
  bool push(Task* task, WorkerTokens* from) {
    const bool queued =
        from != nullptr ? queue_.enqueue(from->producer, task) : queue_.enqueue(task);
    if (!queued) return false;
    if (from != nullptr) {
      parking_.notify_one();
    } else {  // from outside: prefer a sleeper on our CPU, as Pool does (wake_targets.hpp)
      parking_.notify_one_preferring([this] { return wake_targets_.on_current_cpu(); });
    }
    return true;
  }

  // Queues `count` tasks in one bulk enqueue (all or nothing), then wakes up to one sleeper
  // per task with one notify. False (nothing queued) when out of memory.
  bool push_batch(Task* const* tasks, std::size_t count, WorkerTokens* from) {
    const bool queued = from != nullptr ? queue_.enqueue_bulk(from->producer, tasks, count)
                                        : queue_.enqueue_bulk(tasks, count);
    if (!queued) return false;
    const std::size_t wanted = std::min(count, workers_);
    if (from == nullptr && wanted == 1) {  // as push: prefer a sleeper on our CPU
      parking_.notify_one_preferring([this] { return wake_targets_.on_current_cpu(); });
    } else {
      parking_.notify_many(static_cast<int>(wanted));
    }
    return true;
  }

  // A task if one is visible, or null.
  Task* try_pop(WorkerTokens& me) {
    Task* task = nullptr;
    return queue_.try_dequeue(me.consumer, task) ? task : nullptr;
  }

  // Spins, then parks until a task comes; null once the pool is finished.
  Task* next(WorkerTokens& me, WorkerCounters& counters, std::size_t index,
             PoolLifecycle& lifecycle) {
    Task* task = nullptr;
    for (;;) {
      Backoff backoff;
      do {
        if (queue_.try_dequeue(me.consumer, task)) return took(task);
      } while (backoff.wait());

      lifecycle.notify_idle_waiters();
      const auto key = parking_.prepare_wait();
      if (queue_.try_dequeue(me.consumer, task)) {
        parking_.cancel_wait();
        return took(task);
      }
      if (queue_.size_approx() != 0) {  // an enqueue still publishing: retry
        parking_.cancel_wait();
        continue;
      }
      if (!lifecycle.park_unless_finished(parking_, key, WakeTargets::tag_of(index), counters)) {
        return nullptr;
      }
    }
  }

  void wake_all() { parking_.notify_all(); }

 private:
  // The spinning-worker rule, as in Pool: wake one more only if more work is visible.
  Task* took(Task* task) noexcept {
    if (workers_ > 1 && queue_.size_approx() != 0) parking_.notify_one();
    return task;
  }

  Queue queue_;
  EventCount<> parking_;  // idle workers sleep here
  WakeTargets wake_targets_;
  std::size_t workers_;
};

}  // namespace forage::detail
