// The injection queue of forage::Pool: tasks submitted from threads that are not its workers.
// A worker takes a share at a time onto its own deque (see take_from_injection_queue).
#include <algorithm>
#include <array>

#include "pool/pool_core.hpp"

namespace forage::detail {

namespace {

// At most this many cpu_relax a worker draining the injection queue waits for a share to
// build up (take_from_injection_queue): about a microsecond.
constexpr int kShareWaitRelax = 32;

}  // namespace

// Takes a share of the injection queue: the first task to run now, the rest onto our own
// deque, where other workers can steal them. One bulk dequeue costs about what one single
// dequeue does, so the queue's consumers contend far less under a stream of submits.
Task* PoolCore::take_from_injection_queue(WorkerSlot& me, bool& pushed_share) {
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
  if (taken > 1) pushed_share = true;
  return batch[0];
}

}  // namespace forage::detail
