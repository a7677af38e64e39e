// Relacy model check of Pool's bounded searching (lib/sleep/README.md, "Bounded searching"):
// the shipped EventCount (its searching count, pending mark and park ticket), driven by a
// transcription of the worker loop of lib/pool/worker_loop.cpp over a model injection queue.
//
// The worker loop here keeps the protocol's steps and drops what does not bear on it: a
// search is one round over the queue; the last one out's sweep is one more look at it; "the
// pool is finished" is a count of tasks run, after which the finishing worker wakes everyone
// (as PoolLifecycle::park_unless_finished does). Searching is limited to one worker, the
// tightest bound, so refusals happen (Pool uses max(2, workers / 2)).
//
// A stranded task shows as a deadlock: workers asleep in commit_wait, the producer done, and
// the task still queued (or a task blocked waiting for it). Ghost counters check the bound.
//
// Mutants: without the last-one-out sweep a worker that searched, missed the task, and was
// the last searcher sleeps on it; without the producer's mark (FenceSite::search_pending_mark)
// a searcher that finds one task and runs it leaves the other to a worker that sleeps; without
// the waiter's fence the event count's own lost wake-up comes back.
#include <gtest/gtest.h>

#include "model/model_runner.hpp"
#include "model/relacy_atomics.hpp"
#include "sleep/event_count.hpp"
#include "test_support.hpp"

namespace forage::model {
namespace {

template <class Atoms>
using ModelEventCount = detail::EventCount<Atoms, RelacyBlocking>;

constexpr std::uint32_t kSearchLimit = 1;

enum class Variant { shipped, no_last_searcher_sweep };

// The parts every scenario shares: a FIFO injection queue of numbered tasks, the protocol's
// worker loop, and the ghost count of searchers.
template <class Atoms, Variant kVariant>
struct SearchingPool {
  ModelEventCount<Atoms> parking;
  RelacyAtomic<int> published{0};  // tasks 0..published-1 were queued
  RelacyAtomic<int> taken{0};      // tasks 0..taken-1 were dequeued
  RelacyAtomic<int> finished{0};   // tasks run to the end
  int searching_now = 0;           // ghost: workers between begin and end of a search
  int most_searching = 0;

  void publish() {
    // relaxed: the producer's fence in notify_unless_searching orders it before the load.
    published.fetch_add(1, std::memory_order_relaxed);
    parking.notify_unless_searching();
  }

  // A task number, or -1 if the queue looked empty.
  int try_take() {
    // relaxed: a task carries no data; its publication is ordered by the protocol's fences.
    int next = taken.load(std::memory_order_relaxed);
    while (next < published.load(std::memory_order_relaxed)) {
      // relaxed: the CAS only decides which worker gets the task.
      if (taken.compare_exchange_weak(next, next + 1, std::memory_order_relaxed,
                                      std::memory_order_relaxed)) {
        return next;
      }
    }
    return -1;
  }

  void begin_ghost() {
    ++searching_now;
    if (searching_now > most_searching) most_searching = searching_now;
    RL_ASSERT(searching_now <= static_cast<int>(kSearchLimit));
  }

  // The worker loop (worker_loop.cpp, next_task and finish_search); `run(task)` runs a task.
  // Returns once `total` tasks have finished.
  template <class Run>
  void work(int total, Run run) {
    for (;;) {
      // relaxed: the finishing worker's notify_all and our fence order it (finished()).
      if (finished.load(std::memory_order_relaxed) == total) return;
      const bool searching = parking.try_begin_search(kSearchLimit);
      if (searching) {
        begin_ghost();
        const int task = try_take();
        if (task >= 0) {
          --searching_now;
          parking.end_search();
          run(task);
          continue;
        }
        --searching_now;
      }
      const auto ticket = parking.prepare_wait_after_search(searching);
      if (ticket.last && kVariant != Variant::no_last_searcher_sweep) {
        const int task = try_take();
        if (task >= 0) {
          parking.cancel_wait();
          if (ticket.pending) parking.restore_mark();
          run(task);
          continue;
        }
      }
      // relaxed: read after the fence in prepare_wait_after_search (the lifecycle's check).
      if (finished.load(std::memory_order_relaxed) == total) {
        parking.cancel_wait();
        return;
      }
      parking.commit_wait(ticket.key);
    }
  }

  // What the last task's worker does when the pool is finished: everyone leaves.
  void finish_one(int total) {
    // relaxed: notify_all's fence orders it before the read of the waiters.
    if (finished.fetch_add(1, std::memory_order_relaxed) + 1 == total) parking.notify_all();
  }
};

// One producer publishes one task into a pool of `kWorkers` idle workers: it is run, and
// every worker gets out.
template <class Atoms, Variant kVariant, int kWorkers>
struct OneTaskIntoIdlePool
    : rl::test_suite<OneTaskIntoIdlePool<Atoms, kVariant, kWorkers>, kWorkers + 1> {
  SearchingPool<Atoms, kVariant> pool;
  int runs = 0;

  void thread(unsigned index) {
    if (index == 0) {
      pool.publish();
    } else {
      pool.work(1, [this](int) {
        ++runs;
        pool.finish_one(1);
      });
    }
  }

  void after() {
    RL_ASSERT(runs == 1);
    RL_ASSERT(pool.parking.waiters_approx() == 0);
    RL_ASSERT(pool.parking.searchers_approx() == 0);
  }
};

// Two tasks from one producer; task 0 cannot finish before task 1 has run (it blocks on it,
// as the rendezvous stress test's tasks do). With two workers both must run at once: if
// task 1 sits queued while the other worker sleeps, nothing wakes anyone.
template <class Atoms, Variant kVariant>
struct TaskWaitingForTheNext : rl::test_suite<TaskWaitingForTheNext<Atoms, kVariant>, 3> {
  SearchingPool<Atoms, kVariant> pool;
  ModelEventCount<Atoms> second_ran_event;
  RelacyAtomic<int> second_ran{0};

  void thread(unsigned index) {
    if (index == 0) {
      pool.publish();
      pool.publish();
    } else {
      pool.work(2, [this](int task) {
        if (task == 0) {
          test::wait_until(second_ran_event,
                           [this] { return second_ran.load(std::memory_order_relaxed) == 1; });
        } else {
          // relaxed: notify_all's fence orders it before the read of the waiters.
          second_ran.store(1, std::memory_order_relaxed);
          second_ran_event.notify_all();
        }
        pool.finish_one(2);
      });
    }
  }

  void after() {
    RL_ASSERT(pool.finished.load(std::memory_order_relaxed) == 2);
    RL_ASSERT(pool.parking.waiters_approx() == 0);
  }
};

using Shipped = RelacyAtomics<>;
using NoPendingMark = RelacyAtomics<detail::FenceSite::search_pending_mark>;
using NoWaiterFence = RelacyAtomics<detail::FenceSite::park_waiter_seq_cst>;

constexpr rl::iteration_t kRandomIterations = 1'000'000;
constexpr rl::iteration_t kMutantIterations = 1'000'000;

template <class Test>
void expect_deadlock(const rl::test_params& params) {
  expect_mutant_caught<Test>(params, rl::test_result_deadlock);
}

TEST(SearchProtocolModel, OneTaskTwoWorkersIsAlwaysRunRandomScheduler) {
  expect_passes<OneTaskIntoIdlePool<Shipped, Variant::shipped, 2>>(
      random_scheduler(kRandomIterations));
}

TEST(SearchProtocolModel, OneTaskTwoWorkersIsAlwaysRunAllSchedulesWithTwoPreemptions) {
  expect_passes<OneTaskIntoIdlePool<Shipped, Variant::shipped, 2>>(context_bound_scheduler(2));
}

TEST(SearchProtocolModel, OneTaskThreeWorkersIsAlwaysRunRandomScheduler) {
  expect_passes<OneTaskIntoIdlePool<Shipped, Variant::shipped, 3>>(
      random_scheduler(kRandomIterations));
}

TEST(SearchProtocolModel, TaskWaitingForTheNextAlwaysRunsBothRandomScheduler) {
  expect_passes<TaskWaitingForTheNext<Shipped, Variant::shipped>>(
      random_scheduler(kRandomIterations));
}

TEST(SearchProtocolModel, TaskWaitingForTheNextAlwaysRunsBothAllSchedulesWithTwoPreemptions) {
  expect_passes<TaskWaitingForTheNext<Shipped, Variant::shipped>>(context_bound_scheduler(2));
}

// The last searcher out misses the task in its round, parks without the sweep, and sleeps;
// the producer saw it searching and only left the mark.
TEST(SearchProtocolModel, MutantWithoutLastSearcherSweepIsCaught) {
  expect_deadlock<OneTaskIntoIdlePool<Shipped, Variant::no_last_searcher_sweep, 2>>(
      random_scheduler(kMutantIterations));
}

// A searcher takes task 0 and blocks; the producer saw it searching when it queued task 1 and,
// without the mark, nobody wakes the other worker.
TEST(SearchProtocolModel, MutantWithoutPendingMarkIsCaught) {
  expect_deadlock<TaskWaitingForTheNext<NoPendingMark, Variant::shipped>>(
      random_scheduler(kMutantIterations));
}

// The event count's own fence is still needed under the new protocol.
TEST(SearchProtocolModel, MutantWithoutWaiterFenceIsCaught) {
  expect_deadlock<OneTaskIntoIdlePool<NoWaiterFence, Variant::shipped, 2>>(
      random_scheduler(kMutantIterations));
}

}  // namespace
}  // namespace forage::model
