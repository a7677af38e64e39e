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
// the waiter's fence the event count's own lost wake-up comes back; without the notify for a
// share put on the searcher's own deque, the task there waits for a worker nobody wakes.
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

// Pool's injection-queue share (injection_queue.cpp): a searcher that finds both tasks queued
// takes them at once, runs task 0 and puts task 1 on its own deque (a one-slot model of it,
// stolen with a CAS); the other worker can only get task 1 by stealing it. The protocol's
// steps are those of next_task and finish_search with the share's notify (several), and the
// limit is Pool's own for two workers (2), so both may search at once.
template <class Atoms, bool kNotifyShare = true>
struct ShareOnOwnDeque : rl::test_suite<ShareOnOwnDeque<Atoms, kNotifyShare>, 3> {
  static constexpr std::uint32_t kLimit = 2;
  static constexpr int kNone = -1;
  ModelEventCount<Atoms> parking;
  RelacyAtomic<int> published{0};
  RelacyAtomic<int> taken{0};
  RelacyAtomic<int> finished{0};
  RelacyAtomic<int> slot0{kNone};  // worker 0's deque (one slot is enough for two tasks)
  RelacyAtomic<int> slot1{kNone};
  ModelEventCount<Atoms> second_ran_event;
  RelacyAtomic<int> second_ran{0};

  RelacyAtomic<int>& deque_slot(unsigned worker) { return worker == 0 ? slot0 : slot1; }

  // A share of the queue: every task published and not taken (at most two), the first to run
  // and the second onto our slot. -1 if the queue looked empty.
  int take_share(unsigned me, bool& pushed_share) {
    // relaxed (all): a task carries no data; the protocol's fences order its publication.
    int next = taken.load(std::memory_order_relaxed);
    for (;;) {
      const int queued = published.load(std::memory_order_relaxed) - next;
      if (queued <= 0) return kNone;
      const int share = queued >= 2 ? 2 : 1;
      if (taken.compare_exchange_weak(next, next + share, std::memory_order_relaxed,
                                      std::memory_order_relaxed)) {
        if (share == 2) {
          // relaxed: published by the notify's fence, or by the RMWs that follow (release).
          deque_slot(me).store(next + 1, std::memory_order_relaxed);
          pushed_share = true;
        }
        return next;
      }
    }
  }

  int steal_from(unsigned victim) {
    // relaxed: ordered by the protocol's fences and RMWs, as the queue's loads are.
    int task = deque_slot(victim).load(std::memory_order_relaxed);
    if (task == kNone) return kNone;
    // relaxed: the CAS only decides who gets the task.
    if (deque_slot(victim).compare_exchange_strong(task, kNone, std::memory_order_relaxed,
                                                   std::memory_order_relaxed)) {
      return task;
    }
    return kNone;
  }

  // A search round, and the last one out's sweep: the queue, then the other worker's deque.
  int look(unsigned me, bool& pushed_share) {
    const int task = take_share(me, pushed_share);
    return task != kNone ? task : steal_from(1 - me);
  }

  void run(unsigned me, int task) {
    if (task == 0) {
      test::wait_until(second_ran_event,
                       [this] { return second_ran.load(std::memory_order_relaxed) == 1; });
    } else {
      // relaxed: notify_all's fence orders it before the read of the waiters.
      second_ran.store(1, std::memory_order_relaxed);
      second_ran_event.notify_all();
    }
    // relaxed: notify_all's fence orders it before the read of the waiters.
    if (finished.fetch_add(1, std::memory_order_relaxed) + 1 == 2) parking.notify_all();
    // The own deque first, as next_task does (the owner's pop is a CAS here too).
    const int own = steal_from(me);
    if (own != kNone) run(me, own);
  }

  void work(unsigned me) {
    for (;;) {
      // relaxed: the finishing worker's notify_all and our fence order it.
      if (finished.load(std::memory_order_relaxed) == 2) return;
      const bool searching = parking.try_begin_search(kLimit);
      if (searching) {
        bool pushed_share = false;
        const int task = look(me, pushed_share);
        if (task != kNone) {
          parking.end_search();
          if (pushed_share && kNotifyShare) parking.notify_unless_searching(true);
          run(me, task);
          continue;
        }
      }
      const auto ticket = parking.prepare_wait_after_search(searching);
      if (ticket.last) {
        bool pushed_share = false;
        const int task = look(me, pushed_share);
        if (task != kNone) {
          parking.cancel_wait();
          if (ticket.pending) parking.restore_mark();
          if (pushed_share && kNotifyShare) parking.notify_unless_searching(true);
          run(me, task);
          continue;
        }
      }
      // relaxed: read after the fence in prepare_wait_after_search.
      if (finished.load(std::memory_order_relaxed) == 2) {
        parking.cancel_wait();
        return;
      }
      parking.commit_wait(ticket.key);
    }
  }

  void thread(unsigned index) {
    if (index == 0) {
      for (int i = 0; i < 2; ++i) {
        // relaxed: the producer's fence in notify_unless_searching orders it before the load.
        published.fetch_add(1, std::memory_order_relaxed);
        parking.notify_unless_searching();
      }
    } else {
      work(index - 1);
    }
  }

  void after() {
    RL_ASSERT(finished.load(std::memory_order_relaxed) == 2);
    RL_ASSERT(parking.waiters_approx() == 0);
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

// A share puts task 1 on the deque of the worker that runs task 0 (which waits for it): the
// other worker must be woken, or be searching, and find it there.
TEST(SearchProtocolModel, ShareOnOwnDequeRunsBothRandomScheduler) {
  expect_passes<ShareOnOwnDeque<Shipped>>(random_scheduler(kRandomIterations));
}

// One preemption: 155k schedules, seconds. Two preemptions also pass (15.7M schedules, about
// 200 s on the 2-core development VM): too long for every run of the suite.
TEST(SearchProtocolModel, ShareOnOwnDequeRunsBothAllSchedulesWithOnePreemption) {
  expect_passes<ShareOnOwnDeque<Shipped>>(context_bound_scheduler(1));
}

// Without the share's notify (finish_search, the sweep): the searcher that took both tasks was
// the only one out and no mark was set, so nobody wakes the sleeper that could steal task 1.
TEST(SearchProtocolModel, MutantWithoutShareNotifyIsCaught) {
  expect_deadlock<ShareOnOwnDeque<Shipped, false>>(random_scheduler(kMutantIterations));
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
