// The worker loop of forage::Pool. Reads top-down:
//   run_worker -> next_task: own deque -> search (injection queue, victims) -> park
#include <algorithm>
#include <array>
#include <latch>

#include "backoff.hpp"
#include "pool_core.hpp"

namespace forage::detail {

namespace {

// A thief that lost the race on a victim retries it this many times before moving on.
constexpr int kStealRetries = 4;
// At most this many cpu_relax a worker draining the injection queue waits for a share to
// build up (take_from_injection_queue): about a microsecond.
constexpr int kShareWaitRelax = 32;

std::uint64_t next_random(std::uint64_t& state) noexcept {
  // xorshift64: victim choice needs spread, not quality.
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

}  // namespace

void PoolCore::run_worker(std::size_t index, std::latch& started) {
  WorkerSlot& me = *slots_[index];
  WorkerThreadScope scope({.context = {.scheduler = this,
                                       .pool = &owner_,
                                       .index = index,
                                       .on_error = &options_.on_error,
                                       .pool_name = &options_.name},
                           .options = &options_,
                           .topology = &topology_,
                           .pin_cpu = plan_.empty() ? -1 : plan_[index],
                           .counters = &me.counters,
                           .pin_error_reported = &pin_error_reported_});
  started.count_down();  // after pinning: stats() show where every worker runs
  while (Task* task = next_task(me)) execute(me, task);
}

void PoolCore::execute(WorkerSlot& me, Task* task) noexcept {
  const std::int64_t trace_start = me.trace != nullptr ? me.trace->now() : 0;
  // relaxed: a hint; a task that starts just after shutdown(cancel_pending) began is one the
  // caller could not have told apart from one that started just before.
  const bool cancel = cancelling_.load(std::memory_order_relaxed);
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

// Help-while-wait (detail/wait.hpp): the caller is a task on one of our workers waiting for a
// future. One pass in the order the loop uses, never parking: the waiter has its own sleep.
bool PoolCore::run_one_task() noexcept {
  WorkerSlot& me = *slots_[current_worker_context()->index];
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
  WorkerSlot& me = *slots_[current_worker_context()->index];
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
  WorkerSlot& me = *slots_[current_worker_context()->index];
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

    // 3. Out of work: tell wait_idle()/shutdown() waiters, then park (lib/parking.md).
    idle_.notify_idle_waiters();
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
    if (finished()) {
      parking_.cancel_wait();
      // Other sleepers must see it too, and so must a shutdown() waiting for quiescence.
      parking_.notify_all();
      idle_.notify_idle_waiters();
      return nullptr;
    }
    WorkerCounters::bump(me.counters.parks, std::memory_order_relaxed);  // statistics
    if (me.trace != nullptr) [[unlikely]] {
      const std::int64_t start = me.trace->now();
      parking_.commit_wait(key, WakeTargets::tag_of(me.index));
      me.trace->record(TraceKind::park, start, me.trace->now());
      continue;
    }
    parking_.commit_wait(key, WakeTargets::tag_of(me.index));
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

// Takes a share of the injection queue: the first task to run now, the rest onto our own
// deque, where other workers can steal them. One bulk dequeue costs about what one single
// dequeue does, so the queue's consumers contend far less under a stream of submits.
Task* PoolCore::take_from_injection_queue(WorkerSlot& me) {
  std::array<Task*, kInjectionBatch> batch{};
  std::size_t queued = injection_.size_approx();
  // A worker that took from the queue last time and finds only a few tasks now is keeping
  // pace with a producer: taking them one at a time moves the queue's cache lines between
  // the two on every task, which slows the producer down more than the worker speeds up
  // (1M submits from outside at 2 workers: 4 -> 8.5 M/s). So it gives a share a moment to
  // build up. A single task into an idle pool is not delayed: `draining_injection` is false
  // after a search that found the queue empty.
  if (me.draining_injection && queued != 0 && queued < kInjectionBatch) {
    for (int i = 1; i <= kShareWaitRelax && queued < kInjectionBatch; ++i) {
      cpu_relax();
      if (i % 8 == 0) queued = injection_.size_approx();
    }
  }
  const std::size_t share = queued / slots_.size() + 1;
  const std::size_t taken = injection_.try_dequeue_bulk(me.injection_token, batch.begin(),
                                                        std::min(share, kInjectionBatch));
  me.draining_injection = taken != 0;
  if (taken == 0) return nullptr;
  // Our deque is empty whenever we search (pop just failed), and its capacity is at least
  // kInjectionBatch, so these pushes never grow it and cannot fail.
  for (std::size_t i = taken - 1; i > 0; --i) me.deque.push(batch[i]);
  return batch[0];
}

Task* PoolCore::steal_from_victims(WorkerSlot& me, bool& saw_contention) {
  const std::int64_t search_start = me.trace != nullptr ? me.trace->now() : 0;
  for (const std::vector<std::size_t>& tier : me.victim_tiers) {
    const std::size_t start = next_random(me.random_state) % tier.size();
    for (std::size_t k = 0; k < tier.size(); ++k) {
      WorkerSlot& victim = *slots_[tier[(start + k) % tier.size()]];
      for (int attempt = 0; attempt < kStealRetries; ++attempt) {
        // relaxed: statistics.
        WorkerCounters::bump(me.counters.steal_attempts, std::memory_order_relaxed);
        const Stolen<Task*> result = victim.deque.steal();
        if (result.status == StealStatus::success) {
          WorkerCounters::bump(me.counters.stolen, std::memory_order_relaxed);  // statistics
          if (me.trace != nullptr) [[unlikely]] {
            me.trace->record(TraceKind::steal, search_start, me.trace->now(),
                             static_cast<std::uint32_t>(victim.index));
          }
          return result.value;
        }
        if (result.status == StealStatus::empty) {
          // relaxed (both): a hint for the victim's running chunk; a lost or late hint costs
          // balance, never correctness. Read first so an idle search does not keep taking
          // the victim's cache line.
          if (!victim.thieves_waiting.load(std::memory_order_relaxed)) {
            victim.thieves_waiting.store(true, std::memory_order_relaxed);
          }
          break;
        }
        saw_contention = true;  // lost a race: retry this victim
      }
    }
  }
  return nullptr;
}

// The spinning-worker rule (lib/parking.md): a worker that leaves the search with a task wakes
// one more only if visibly more work is waiting, so wakes neither cascade nor get lost.
// Our own deque counts: a share taken from the injection queue was just pushed onto it, and
// a worker that checked it a moment earlier may be parking.
void PoolCore::wake_another_if_more_work(WorkerSlot& me) noexcept {
  if (slots_.size() == 1) return;
  bool more = injection_.size_approx() != 0;
  for (std::size_t i = 0; !more && i < slots_.size(); ++i) {
    more = !slots_[i]->deque.empty_approx();
  }
  if (more) notify_one_from(me);
}

}  // namespace forage::detail
