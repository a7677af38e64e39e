// Long concurrent runs of the futures layer: ten million submit/get pairs from outside
// threads and from tasks on the workers, cancel() racing the pool starting the task, and
// on_done()/then() registration racing completion. Sizes shrink under sanitizers
// (test_support.hpp); a watchdog turns a hang into a failure; threads count into atomics and
// only the main thread asserts.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iostream>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace forage {
namespace {

using namespace std::chrono_literals;

template <class System>
class FutureStress : public ::testing::Test {};

using test::Systems;
TYPED_TEST_SUITE(FutureStress, Systems);

// What the task for `id` returns.
using test::value_of;

// Ids [0, total) are tasks, one submit/get pair each, in three levels: an outside thread
// submits and gets an outer task per range of kRange ids; the outer task (on a worker) submits
// and gets the inner tasks for the rest of its range, kGroup at a time; an inner task at an id
// divisible by 3 covers two ids and itself submits and gets a leaf task for the second. So
// 1% of the pairs are an outside thread's, the rest a worker's (a quarter of those nested two
// deep). Each task marks its id; the outside threads sum what their outer tasks return.
template <class PoolType>
struct PairTree {
  static constexpr std::size_t kRange = 100;
  static constexpr std::size_t kGroup = 32;

  PoolType& pool;
  std::vector<std::atomic<std::uint8_t>>& marks;
  std::size_t total;

  std::uint64_t visit(std::size_t id) const {
    // relaxed: read by the main thread after every outer get(), which happens-after each task.
    marks[id].fetch_add(1, std::memory_order_relaxed);
    return value_of(id);
  }

  std::uint64_t leaf(std::size_t id) const { return visit(id); }

  std::uint64_t inner(std::size_t id, bool with_leaf) const {
    if (!with_leaf) return visit(id);
    Future<std::uint64_t> child = pool.submit([self = *this, id] { return self.leaf(id + 1); });
    return visit(id) + child.get();
  }

  std::uint64_t outer(std::size_t first) const {
    const std::size_t end = std::min(first + kRange, total);
    std::uint64_t sum = visit(first);
    std::vector<Future<std::uint64_t>> group;
    group.reserve(kGroup);
    for (std::size_t id = first + 1; id < end;) {
      const bool with_leaf = id % 3 == 0 && id + 1 < end;
      group.push_back(
          pool.submit([self = *this, id, with_leaf] { return self.inner(id, with_leaf); }));
      id += with_leaf ? 2 : 1;
      if (group.size() == kGroup || id >= end) {
        for (Future<std::uint64_t>& future : group) sum += future.get();
        group.clear();
      }
    }
    return sum;
  }
};

TYPED_TEST(FutureStress, TenMillionSubmitGetPairsLoseAndDuplicateNothing) {
  const std::size_t total = test::scaled(10'000'000);
  constexpr std::size_t kOutsideThreads = 3;
  constexpr std::size_t kInFlight = 4;  // outer futures each outside thread keeps pending
  auto pool = TypeParam::make(2);
  std::vector<std::atomic<std::uint8_t>> marks(total);
  using Tree = PairTree<typename TypeParam::PoolType>;
  const Tree tree{*pool, marks, total};
  const std::size_t ranges = (total + Tree::kRange - 1) / Tree::kRange;

  test::Watchdog watchdog("ten million submit/get pairs", 600s);
  std::vector<std::uint64_t> sums(kOutsideThreads, 0);  // each read after its thread's join()
  std::vector<std::thread> outside;
  for (std::size_t t = 0; t < kOutsideThreads; ++t) {
    outside.emplace_back([&, t] {
      std::deque<Future<std::uint64_t>> pending;
      std::uint64_t sum = 0;
      for (std::size_t range = t; range < ranges; range += kOutsideThreads) {
        const std::size_t first = range * Tree::kRange;
        pending.push_back(pool->submit([tree, first] { return tree.outer(first); }));
        if (pending.size() == kInFlight) {
          sum += pending.front().get();
          pending.pop_front();
        }
      }
      for (Future<std::uint64_t>& future : pending) sum += future.get();
      sums[t] = sum;
    });
  }
  for (std::thread& thread : outside) thread.join();
  pool->wait_idle();

  std::uint64_t expected = 0;
  for (std::size_t id = 0; id < total; ++id) expected += value_of(id);  // wraps, as the sums do
  std::uint64_t got = 0;
  for (std::uint64_t sum : sums) got += sum;
  EXPECT_EQ(got, expected);
  std::size_t wrong = 0;
  for (std::size_t id = 0; id < total; ++id) {
    // relaxed: every task happened-before the get() that returned its outer task's value.
    if (marks[id].load(std::memory_order_relaxed) != 1) ++wrong;
  }
  EXPECT_EQ(wrong, 0u) << "ids not run exactly once, of " << total;
  EXPECT_EQ(pool->stats().executed(), total);
}

// A short busy pause inside a task, so workers are still starting tasks while the
// cancellers reach them.
void spin(std::size_t rounds) {
  for (std::size_t i = 0; i < rounds; ++i) detail::cpu_relax();
}

// Two cancellers, one from each end, race each other and the two workers starting the tasks
// from the front. For every future exactly one thing happens: its task runs (and the future
// has its value), or one cancel() wins (and get() throws Cancelled); never both, never neither.
TYPED_TEST(FutureStress, CancelRacingTheStartOfTheTaskEitherRunsItOrCancelsIt) {
  test::RoundBudget budget(test::scaled(2'000), test::scaled(200));
  constexpr std::size_t kFutures = 256;
  auto pool = TypeParam::make(2);
  const std::uint64_t seed = test::test_seed();
  std::cout << "[ stress   ] seed " << seed << "\n";
  test::Watchdog watchdog("cancel racing the start of tasks", 300s);
  std::size_t total_ran = 0;
  std::size_t total_cancelled = 0;
  for (std::size_t round = 0; budget.run(round); ++round) {
    std::vector<std::atomic<std::uint8_t>> ran(kFutures);
    std::vector<std::atomic<std::uint8_t>> cancel_wins(kFutures);
    std::vector<SharedFuture<std::size_t>> futures;
    futures.reserve(kFutures);
    // Odd rounds hold the workers until both cancellers run: where starting a thread is slow
    // (sanitizers) the workers would otherwise finish every task first, and the cancellers
    // would never win. Even rounds do not, so the workers win races there. The gates wait
    // only for the cancellers, so they cannot deadlock whichever worker runs them.
    const bool hold_workers = round % 2 == 1;
    std::latch cancellers_started(2);
    if (hold_workers) {
      for (int gate = 0; gate < 2; ++gate) {
        pool->spawn([&cancellers_started] { cancellers_started.wait(); });
      }
    }
    for (std::size_t i = 0; i < kFutures; ++i) {
      futures.push_back(pool->submit([&ran, i] {
                              // relaxed: read after wait_idle().
                              ran[i].fetch_add(1, std::memory_order_relaxed);
                              spin(i % 8 * 16);
                              return i;
                            })
                            .share());
    }
    auto canceller = [&](bool from_back, std::uint64_t thread_seed) {
      cancellers_started.count_down();
      test::Jitter jitter(thread_seed, 32);
      for (std::size_t k = 0; k < kFutures; ++k) {
        const std::size_t i = from_back ? kFutures - 1 - k : k;
        jitter();
        if (futures[i].cancel()) {
          // relaxed: read after join().
          cancel_wins[i].fetch_add(1, std::memory_order_relaxed);
        }
      }
    };
    std::thread back(canceller, true, seed + 2 * round);
    std::thread front(canceller, false, seed + 2 * round + 1);
    back.join();
    front.join();
    pool->wait_idle();

    for (std::size_t i = 0; i < kFutures; ++i) {
      const SharedFuture<std::size_t>& future = futures[i];
      // relaxed: the writers were joined / finished before wait_idle() returned.
      const unsigned runs = ran[i].load(std::memory_order_relaxed);
      const unsigned wins = cancel_wins[i].load(std::memory_order_relaxed);
      ASSERT_TRUE(future.ready()) << "round " << round << " future " << i;
      ASSERT_EQ(runs + wins, 1u) << "round " << round << " future " << i << ": ran " << runs
                                 << " times, cancelled " << wins << " times";
      ASSERT_EQ(future.cancelled(), wins == 1) << "round " << round << " future " << i;
      if (wins == 1) {
        ASSERT_THROW(future.get(), Cancelled) << "round " << round << " future " << i;
        ++total_cancelled;
      } else {
        ASSERT_EQ(future.get(), i) << "round " << round;
        ++total_ran;
      }
    }
  }
  std::cout << "[ stress   ] " << total_ran << " ran, " << total_cancelled << " cancelled\n";
  // Both outcomes happened (over all rounds): the race was exercised, not won by one side.
  EXPECT_GT(total_ran, 0u);
  EXPECT_GT(total_cancelled, 0u);
  // + the gates: two in each odd round.
  EXPECT_EQ(pool->stats().executed(), total_ran + total_cancelled + 2 * (budget.rounds_run() / 2));
}

// Shutdown(cancel_pending) lands while the workers run the futures' tasks, some of which
// wait for a child they submitted. Every future ends done: cancelled (its callable never ran),
// or ran and holds its value, or ran and holds the Cancelled of a child that the shutdown
// cancelled while the parent waited. An outside thread asleep on the last future wakes.
TYPED_TEST(FutureStress, CancelPendingShutdownRacingRunningTasksLeavesEveryFutureDone) {
  test::RoundBudget budget(test::scaled(300), test::scaled(30));
  constexpr std::size_t kFutures = 2'000;
  const std::uint64_t seed = test::test_seed();
  std::cout << "[ stress   ] seed " << seed << "\n";
  test::Jitter jitter(seed, 4096);
  test::Watchdog watchdog("shutdown(cancel_pending) racing running tasks", 300s);
  std::size_t values = 0;
  std::size_t cancelled = 0;
  std::size_t child_cancelled = 0;
  for (std::size_t round = 0; budget.run(round); ++round) {
    auto pool = TypeParam::make(2);
    auto& target = *pool;
    std::vector<std::atomic<std::uint8_t>> ran(kFutures);
    std::vector<Future<std::size_t>> futures;
    futures.reserve(kFutures);
    for (std::size_t i = 0; i < kFutures; ++i) {
      futures.push_back(pool->submit([&target, &ran, i] {
        // relaxed: read after shutdown() joined the workers.
        ran[i].fetch_add(1, std::memory_order_relaxed);
        spin(i % 8 * 16);  // the tasks outlast their submission: the shutdown lands mid-run
        if (i % 4 != 0) return i;
        return target.submit([i] { return i; }).get();  // may throw Cancelled
      }));
    }
    std::thread waiter([&futures] { futures.back().wait(); });
    jitter();
    pool->shutdown(Shutdown::cancel_pending);
    waiter.join();

    for (std::size_t i = 0; i < kFutures; ++i) {
      Future<std::size_t>& future = futures[i];
      // relaxed: see above.
      const unsigned runs = ran[i].load(std::memory_order_relaxed);
      ASSERT_TRUE(future.ready()) << "round " << round << " future " << i;
      if (future.cancelled()) {
        ASSERT_EQ(runs, 0u) << "round " << round << " future " << i;
        ASSERT_THROW(future.get(), Cancelled);
        ++cancelled;
        continue;
      }
      ASSERT_EQ(runs, 1u) << "round " << round << " future " << i;
      try {
        ASSERT_EQ(future.get(), i);
        ++values;
      } catch (const Cancelled&) {  // the child was cancelled while the parent waited
        ASSERT_EQ(i % 4, 0u) << "round " << round << " future " << i;
        ++child_cancelled;
      }
    }
  }
  std::cout << "[ stress   ] " << values << " values, " << cancelled << " cancelled, "
            << child_cancelled << " parents saw their child cancelled\n";
  EXPECT_EQ(values + cancelled + child_cancelled, budget.rounds_run() * kFutures);
  // Both outcomes happened: the shutdown raced the running tasks.
  EXPECT_GT(values, 0u);
  EXPECT_GT(cancelled, 0u);
}

// Set on the registering threads: an on_done callback that sees it ran inline, because the
// future was already done when it was registered (then()'s function always runs on a worker).
thread_local bool on_registering_thread = false;

// Registration threads attach on_done() and then() to futures while the workers complete
// them; each registration lands before or after completion. Every callback runs exactly once
// with the right value: on_done on a Future (one per future), then() on a Future, and two
// threads' on_done() on the same SharedFuture at once.
TYPED_TEST(FutureStress, OnDoneAndThenRacingCompletionRunEveryCallbackExactlyOnce) {
  test::RoundBudget budget(test::scaled(500), test::scaled(50));
  constexpr std::size_t kFutures = 600;  // a multiple of 3: one kind of registration each
  auto pool = TypeParam::make(2);
  const std::uint64_t seed = test::test_seed();
  std::cout << "[ stress   ] seed " << seed << "\n";
  test::Watchdog watchdog("continuations racing completion", 300s);
  std::atomic<std::size_t> inline_calls{0};
  std::atomic<std::size_t> worker_calls{0};

  for (std::size_t round = 0; budget.run(round); ++round) {
    struct Slot {
      Future<std::size_t> future;        // i % 3 == 0: on_done; i % 3 == 1: then
      SharedFuture<std::size_t> shared;  // i % 3 == 2: on_done from two threads
      Future<std::size_t> continuation;  // then()'s result, i % 3 == 1
    };
    std::vector<Slot> slots(kFutures);
    std::vector<std::atomic<std::uint8_t>> calls(kFutures);
    std::atomic<std::size_t> wrong_values{0};
    std::atomic<std::size_t> submitted{0};

    auto record = [&](std::size_t i, std::size_t value) {
      // relaxed: all counts below are read after the registrars are joined and the pool is
      // idle, both of which happen-after every callback.
      calls[i].fetch_add(1, std::memory_order_relaxed);
      if (value != i) wrong_values.fetch_add(1, std::memory_order_relaxed);
      // relaxed: as above (statistics printed at the end).
      (on_registering_thread ? inline_calls : worker_calls).fetch_add(1, std::memory_order_relaxed);
    };
    auto registrar = [&](std::size_t kind, std::uint64_t thread_seed) {
      on_registering_thread = true;
      test::Jitter jitter(thread_seed, 16);
      for (std::size_t i = kind % 3; i < kFutures; i += 3) {
        // acquire: pairs with the release below; the slot's future is visible.
        while (submitted.load(std::memory_order_acquire) <= i) std::this_thread::yield();
        jitter();
        Slot& slot = slots[i];
        if (kind == 0) {
          slot.future.on_done([&record, i](Future<std::size_t>& done) { record(i, done.get()); });
        } else if (kind == 1) {
          slot.continuation = slot.future.then([&record, i](std::size_t value) {
            record(i, value);
            return value + 1;
          });
        } else {
          slot.shared.on_done(
              [&record, i](const SharedFuture<std::size_t>& done) { record(i, done.get()); });
        }
      }
      on_registering_thread = false;
    };
    std::vector<std::thread> registrars;
    registrars.emplace_back(registrar, 0, seed + 4 * round);
    registrars.emplace_back(registrar, 1, seed + 4 * round + 1);
    registrars.emplace_back(registrar, 2, seed + 4 * round + 2);
    registrars.emplace_back(registrar, 2, seed + 4 * round + 3);  // same SharedFutures

    for (std::size_t i = 0; i < kFutures; ++i) {
      Future<std::size_t> future = pool->submit([i] {
        spin(i % 4 * 32);
        return i;
      });
      if (i % 3 == 2) {
        slots[i].shared = future.share();
      } else {
        slots[i].future = std::move(future);
      }
      // release: publishes slot i to the registrars' acquire.
      submitted.store(i + 1, std::memory_order_release);
    }
    for (std::thread& thread : registrars) thread.join();
    for (std::size_t i = 1; i < kFutures; i += 3) {
      ASSERT_EQ(slots[i].continuation.get(), i + 1) << "round " << round;
    }
    pool->wait_idle();  // on_done callbacks fired by completions have returned

    // relaxed: see record().
    ASSERT_EQ(wrong_values.load(std::memory_order_relaxed), 0u) << "round " << round;
    for (std::size_t i = 0; i < kFutures; ++i) {
      const unsigned expected = i % 3 == 2 ? 2 : 1;
      // relaxed: see record().
      ASSERT_EQ(calls[i].load(std::memory_order_relaxed), expected)
          << "round " << round << " future " << i;
    }
  }
  // relaxed: the counts' writers have all finished (see record()).
  std::cout << "[ stress   ] callbacks: " << inline_calls.load(std::memory_order_relaxed)
            << " inline at registration, " << worker_calls.load(std::memory_order_relaxed)
            << " on a worker\n";
}

}  // namespace
}  // namespace forage
