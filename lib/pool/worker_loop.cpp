// The worker loop of forage::Pool. Reads top-down:
//   run_worker -> next_task: own deque -> search (injection queue, victims) -> park
// Where the tasks come from: injection_queue.cpp (outside submits), steal.cpp (victims).
#include <algorithm>
#include <latch>

#include "pool/pool_core.hpp"
#include "sleep/backoff.hpp"

namespace forage::detail {

void PoolCore::run_worker(std::size_t index, std::latch& started) {
  WorkerSlot& me = *slots_[index];
  WorkerThreadScope scope(lifecycle_.worker_setup(index, me.counters, &owner_));
  started.count_down();  // after pinning: stats() show where every worker runs
  while (Task* task = next_task(me)) execute(me, task);
}

void PoolCore::execute(WorkerSlot& me, Task* task) noexcept {
  const std::int64_t trace_start = me.trace != nullptr ? me.trace->now() : 0;
  const bool cancel = lifecycle_.cancelling();  // a hint (see there)
  task->invoke(task, cancel ? TaskAction::cancel : TaskAction::run);
  // Recorded before the count below, so that a trace() taken after wait_idle() has it.
  if (me.trace != nullptr) [[unlikely]] {
    me.trace->record(TraceKind::run, trace_start, me.trace->now());
  }
  // release: the task's effects and the children it counted happen-before a reader that
  // acquires this count (IdleTracker::quiescent, idle_tracker.hpp).
  WorkerCounters::bump(cancel ? me.counters.cancelled : me.counters.executed,
                       std::memory_order_release);
}

// Help-while-wait (lib/wait_word.cpp): the caller is a task on one of our workers waiting for a
// future. One pass in the order the loop uses, never parking: the waiter has its own sleep.
bool PoolCore::run_one_task() noexcept {
  WorkerSlot& me = own_slot("run_one_task()");
  Task* task = nullptr;
  if (std::optional<Task*> own = me.deque.pop()) {
    task = *own;
  } else {
    bool saw_contention = false;
    task = search(me, saw_contention);
    if (task == nullptr) return false;
    wake_another_if_more_work(me);
  }
  execute(me, task);
  return true;
}

// Join's fast path: pop our own deque until the forked task comes back. A task above it was
// queued by the first half of the join (a spawn that nobody waited for) and is run on the
// way. An empty deque means a thief took the forked task: stealing takes the oldest first,
// so nothing older than it can still be below it.
bool PoolCore::take_back(Task* task) noexcept {
  WorkerSlot& me = own_slot("take_back()");
  while (std::optional<Task*> popped = me.deque.pop()) {
    if (*popped == task) {
      // release: as execute() does, once the caller has run it. Counting it first is safe: the
      // task that forked it is still running and keeps this worker's count below spawned.
      WorkerCounters::bump(me.counters.executed, std::memory_order_release);
      return true;
    }
    execute(me, *popped);
  }
  return false;
}

bool PoolCore::take_steal_request() noexcept {
  WorkerSlot& me = own_slot("take_steal_request()");
  // relaxed (both): a hint, see WorkerSlot::thieves_waiting.
  if (!me.thieves_waiting.load(std::memory_order_relaxed)) return false;
  me.thieves_waiting.store(false, std::memory_order_relaxed);
  return true;
}

// Returns the next task to run, or null when the pool is shut down and drained.
Task* PoolCore::next_task(WorkerSlot& me) {
  // 1. Own deque, newest first: the task our last one spawned, still in cache.
  if (std::optional<Task*> task = me.deque.pop()) return *task;

  for (;;) {
    // 2. Search: injection queue and victims, backing off between rounds.
    bool saw_contention = false;
    Backoff backoff;
    do {
      if (Task* task = search(me, saw_contention)) {
        wake_another_if_more_work(me);
        return task;
      }
    } while (backoff.wait());

    // 3. Out of work: tell wait_idle()/shutdown() waiters, then park (lib/sleep/README.md).
    lifecycle_.notify_idle_waiters();
    const auto key = parking_.prepare_wait();
    saw_contention = false;
    if (Task* task = search(me, saw_contention)) {
      parking_.cancel_wait();
      wake_another_if_more_work(me);
      return task;
    }
    if (saw_contention) {  // a steal lost a race: work may remain, search again
      parking_.cancel_wait();
      continue;
    }
    // 4. Exit once the pool is finished, else sleep until new work is announced.
    const std::int64_t park_start = me.trace != nullptr ? me.trace->now() : 0;
    if (!lifecycle_.park_unless_finished(parking_, key, WakeTargets::tag_of(me.index),
                                         me.counters)) {
      return nullptr;
    }
    if (me.trace != nullptr) [[unlikely]] {
      me.trace->record(TraceKind::park, park_start, me.trace->now());
    }
  }
}

// One pass over every place work can be: the injection queue, then victims nearest-first.
Task* PoolCore::search(WorkerSlot& me, bool& saw_contention) {
  if (Task* task = take_from_injection_queue(me)) return task;
  if (Task* stolen = steal_from_victims(me, saw_contention)) return stolen;
  // moodycamel's try_dequeue may miss an item an enqueue is still publishing; size_approx
  // sees it once the enqueue's tail store is visible.
  if (injection_.size_approx() != 0) saw_contention = true;
  return nullptr;
}

}  // namespace forage::detail
