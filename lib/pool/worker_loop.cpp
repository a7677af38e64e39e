// The worker loop of forage::Pool. Reads top-down:
//   run_worker -> next_task: own deque -> search (if admitted: rounds over the injection
//   queue and a few victims) -> park (the last searcher out sweeps every queue first)
// The rule and its proof: lib/sleep/README.md, "Bounded searching". Where the tasks come
// from: injection_queue.cpp (outside submits), steal.cpp (victims).
#include <algorithm>
#include <latch>

#include "pool/pool_core.hpp"
#include "sleep/backoff.hpp"

namespace forage::detail {

namespace {
// A share of the injection queue put on our deque: at least one task besides the one we run.
constexpr std::size_t kSeveral = 2;
}  // namespace

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
    // One round, not a sweep: the waiter is not a searcher and never parks here, and the
    // protocol already has someone responsible for every published task.
    bool pushed_share = false;
    WorkerCounters::bump(me.counters.search_rounds, std::memory_order_relaxed);  // statistics
    task = search_round(me, pushed_share);
    if (task == nullptr) return false;
    if (pushed_share) notify_published(&me, kSeveral);
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
    // 2. Search, if fewer than search_limit_ workers already do (rule 1): rounds over the
    //    injection queue and a few victims, backing off between them.
    const bool searching = parking_.try_begin_search(search_limit_);
    if (searching) {
      WorkerCounters::bump(me.counters.searches, std::memory_order_relaxed);  // statistics
      Backoff backoff;
      do {
        WorkerCounters::bump(me.counters.search_rounds, std::memory_order_relaxed);
        bool pushed_share = false;
        if (Task* task = search_round(me, pushed_share)) {
          return finish_search(me, task, pushed_share);
        }
      } while (backoff.wait());
    }

    // 3. Out of work: tell wait_idle()/shutdown() waiters, then park (rule 3). The last
    //    searcher out sweeps every queue after the fence; anyone else leaves that to it.
    lifecycle_.notify_idle_waiters();
    const EventCount<>::ParkTicket ticket = parking_.prepare_wait_after_search(searching);
    if (ticket.last) {
      WorkerCounters::bump(me.counters.sweeps, std::memory_order_relaxed);  // statistics
      bool pushed_share = false;
      bool saw_contention = false;
      Task* task = sweep(me, pushed_share, saw_contention);
      if (task != nullptr || saw_contention) {
        parking_.cancel_wait();
        // We took the mark and did not look everywhere after all: put it back (rule 4).
        if (ticket.pending || saw_contention) count_wake(me, parking_.restore_mark());
        if (pushed_share) notify_published(&me, kSeveral);
        if (task != nullptr) return task;
        continue;  // a steal lost a race: work may remain, search again
      }
    }
    // 4. Exit once the pool is finished, else sleep until new work is announced.
    const std::int64_t park_start = me.trace != nullptr ? me.trace->now() : 0;
    if (!lifecycle_.park_unless_finished(parking_, ticket.key, WakeTargets::tag_of(me.index),
                                         me.counters)) {
      return nullptr;
    }
    if (me.trace != nullptr) [[unlikely]] {
      me.trace->record(TraceKind::park, park_start, me.trace->now());
    }
  }
}

// Rule 4: stop searching; the last searcher wakes one more if the mark is set and someone
// sleeps. A share of the injection queue on our deque is a publication: notify for it. O(1):
// the counts decide, no deque is read.
Task* PoolCore::finish_search(WorkerSlot& me, Task* task, bool pushed_share) noexcept {
  count_wake(me, parking_.end_search());
  if (pushed_share) notify_published(&me, kSeveral);
  return task;
}

}  // namespace forage::detail
