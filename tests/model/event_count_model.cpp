// Relacy model check of the shipped EventCount (lib/sleep/event_count.hpp, protocol in
// lib/sleep/README.md): the same template, instantiated with RelacyAtomics and a futex emulated on
// an rl::mutex + rl::condition_variable (RelacyBlocking).
//
// A lost wake-up shows as a deadlock: the consumer sleeps in commit_wait while every other
// thread has finished, which Relacy reports (a spurious wake-up of the emulated futex only
// sends it back to sleep, since the epoch did not change). So "passes" means: in every
// explored execution, every waiter got out.
//
// Mutants: removing either seq_cst fence of the store-buffering pair (park_waiter_seq_cst in
// prepare_wait, park_producer_seq_cst in notify) must be caught as a deadlock.
#include <gtest/gtest.h>

#include "model/model_runner.hpp"
#include "model/relacy_atomics.hpp"
#include "sleep/event_count.hpp"
#include "test_support.hpp"

namespace forage::model {
namespace {

// The waiter's side of the protocol: test_support.hpp's, on the model's event count.
using test::wait_until;

template <class Atoms>
using ModelEventCount = detail::EventCount<Atoms, RelacyBlocking>;

// One producer publishes a flag (relaxed: the only ordering is the protocol's) and calls
// notify_one; one consumer waits for the flag.
template <class Atoms>
struct PublishThenNotifyOne : rl::test_suite<PublishThenNotifyOne<Atoms>, 2> {
  ModelEventCount<Atoms> event_count;
  RelacyAtomic<int> flag{0};
  bool consumer_saw_flag = false;  // written by the consumer only, read in after()

  void thread(unsigned index) {
    if (index == 0) {
      // relaxed: the seq_cst fence in notify orders it before the read of waiters_.
      flag.store(1, std::memory_order_relaxed);
      event_count.notify_one();
    } else {
      // relaxed: the fence in prepare_wait orders this read after the waiters_ increment.
      wait_until(event_count, [this] { return flag.load(std::memory_order_relaxed) == 1; });
      consumer_saw_flag = true;
    }
  }

  void after() {
    RL_ASSERT(consumer_saw_flag);
    RL_ASSERT(event_count.waiters_approx() == 0);
  }
};

// Two producers each publish one item and notify_one; two consumers each need one item. A
// notify may wake a consumer whose item another consumer has already taken: it must go back
// to sleep and still be woken by the next notify.
template <class Atoms>
struct TwoProducersTwoConsumers : rl::test_suite<TwoProducersTwoConsumers<Atoms>, 4> {
  ModelEventCount<Atoms> event_count;
  RelacyAtomic<int> items{0};
  int consumed[4] = {};  // each consumer writes its own entry

  bool try_take() {
    // relaxed: the item carries no data; its publication is ordered by the protocol's fences.
    int available = items.load(std::memory_order_relaxed);
    while (available > 0) {
      // relaxed: as above; the CAS only decides which consumer gets the item.
      if (items.compare_exchange_weak(available, available - 1, std::memory_order_relaxed,
                                      std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  void thread(unsigned index) {
    if (index < 2) {
      // relaxed: ordered before the read of waiters_ by the fence in notify.
      items.fetch_add(1, std::memory_order_relaxed);
      event_count.notify_one();
    } else {
      wait_until(event_count, [this] { return try_take(); });
      consumed[index] = 1;
    }
  }

  void after() {
    RL_ASSERT(consumed[2] == 1 && consumed[3] == 1);
    RL_ASSERT(items.load(std::memory_order_relaxed) == 0);
    RL_ASSERT(event_count.waiters_approx() == 0);
  }
};

// Shutdown: one thread sets `closed` and calls notify_all; two waiters must both leave.
template <class Atoms>
struct CloseThenNotifyAll : rl::test_suite<CloseThenNotifyAll<Atoms>, 3> {
  ModelEventCount<Atoms> event_count;
  RelacyAtomic<int> closed{0};
  int left[3] = {};  // each waiter writes its own entry

  void thread(unsigned index) {
    if (index == 0) {
      // relaxed: ordered before the read of waiters_ by the fence in notify.
      closed.store(1, std::memory_order_relaxed);
      event_count.notify_all();
    } else {
      // relaxed: ordered after the waiters_ increment by the fence in prepare_wait.
      wait_until(event_count, [this] { return closed.load(std::memory_order_relaxed) == 1; });
      left[index] = 1;
    }
  }

  void after() {
    RL_ASSERT(left[1] == 1 && left[2] == 1);
    RL_ASSERT(event_count.waiters_approx() == 0);
  }
};

using Shipped = RelacyAtomics<>;
using NoWaiterFence = RelacyAtomics<detail::FenceSite::park_waiter_seq_cst>;
using NoProducerFence = RelacyAtomics<detail::FenceSite::park_producer_seq_cst>;

// Budgets, measured on a 2-core machine: 10^6 random iterations take 1-2 s per scenario. The
// context-bound searches are exhaustive (Relacy ignores iteration_count for that scheduler)
// and take under 3 s each: 2.6 * 10^4, 1.1 * 10^6 and 1.1 * 10^6 executions for the bounds
// below; one more preemption costs 10-30x (TwoProducersTwoConsumers with 3: 80 s).
constexpr rl::iteration_t kRandomIterations = 1'000'000;
constexpr rl::iteration_t kMutantIterations = 1'000'000;

// A lost wake-up leaves the consumer asleep with nobody left to wake it.
template <class Test>
void expect_deadlock(const rl::test_params& params) {
  expect_mutant_caught<Test>(params, rl::test_result_deadlock);
}

TEST(EventCountModel, PublishThenNotifyOneNeverLosesTheWakeUpRandomScheduler) {
  expect_passes<PublishThenNotifyOne<Shipped>>(random_scheduler(kRandomIterations));
}

TEST(EventCountModel, PublishThenNotifyOneNeverLosesTheWakeUpAllSchedulesWithEightPreemptions) {
  expect_passes<PublishThenNotifyOne<Shipped>>(context_bound_scheduler(8));
}

TEST(EventCountModel, TwoProducersTwoConsumersEachConsumerGetsAnItemRandomScheduler) {
  expect_passes<TwoProducersTwoConsumers<Shipped>>(random_scheduler(kRandomIterations));
}

TEST(EventCountModel,
     TwoProducersTwoConsumersEachConsumerGetsAnItemAllSchedulesWithTwoPreemptions) {
  expect_passes<TwoProducersTwoConsumers<Shipped>>(context_bound_scheduler(2));
}

TEST(EventCountModel, CloseThenNotifyAllWakesEveryWaiterRandomScheduler) {
  expect_passes<CloseThenNotifyAll<Shipped>>(random_scheduler(kRandomIterations));
}

TEST(EventCountModel, CloseThenNotifyAllWakesEveryWaiterAllSchedulesWithFourPreemptions) {
  expect_passes<CloseThenNotifyAll<Shipped>>(context_bound_scheduler(4));
}

// Without the waiter's fence, its re-check may read the flag stale (not yet set) while the
// producer, after its own fence, still reads waiters_ == 0 and skips the wake.
TEST(EventCountModel, MutantWithoutWaiterFenceIsCaughtByRandomScheduler) {
  expect_deadlock<PublishThenNotifyOne<NoWaiterFence>>(random_scheduler(kMutantIterations));
}

TEST(EventCountModel, MutantWithoutWaiterFenceIsCaughtByContextBoundScheduler) {
  expect_deadlock<PublishThenNotifyOne<NoWaiterFence>>(context_bound_scheduler(1));
}

// Without the producer's fence, the mirror image: the producer's read of waiters_ is stale.
TEST(EventCountModel, MutantWithoutProducerFenceIsCaughtByRandomScheduler) {
  expect_deadlock<PublishThenNotifyOne<NoProducerFence>>(random_scheduler(kMutantIterations));
}

TEST(EventCountModel, MutantWithoutProducerFenceIsCaughtByContextBoundScheduler) {
  expect_deadlock<PublishThenNotifyOne<NoProducerFence>>(context_bound_scheduler(1));
}

// The other scenarios catch both mutants too: the check does not hinge on one script.
TEST(EventCountModel, MutantsAreCaughtInTheOtherScenariosToo) {
  expect_deadlock<TwoProducersTwoConsumers<NoWaiterFence>>(random_scheduler(kMutantIterations));
  expect_deadlock<TwoProducersTwoConsumers<NoProducerFence>>(random_scheduler(kMutantIterations));
  expect_deadlock<CloseThenNotifyAll<NoWaiterFence>>(random_scheduler(kMutantIterations));
  expect_deadlock<CloseThenNotifyAll<NoProducerFence>>(random_scheduler(kMutantIterations));
}

}  // namespace
}  // namespace forage::model
