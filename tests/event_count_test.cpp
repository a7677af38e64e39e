// EventCount (lib/sleep/event_count.hpp): the two-phase wait, its bookkeeping, and the lost-wake-up
// cases in the style of Taskflow's notifier tests (no_missing_notify_one, notify_all,
// notify_before_commit). Every test that blocks runs under a Watchdog, so a lost wake-up
// fails the test instead of hanging it. Nothing here sleeps for correctness: threads meet on
// latches and atomics.
#include "sleep/event_count.hpp"

#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace forage::detail {
namespace {

using test::Watchdog;

constexpr std::chrono::seconds kWatchdogLimit{60};

// Spins (yielding) until `done()`; for waiting on a condition the code under test does not
// signal, such as "the other thread has announced itself as a waiter".
template <class Done>
void spin_until(Done done) {
  while (!done()) std::this_thread::yield();
}

// True when the thread `tid` of this process is blocked (state S: for a waiter of these
// tests, asleep in futex_wait). Linux /proc: "tid (comm) S ...".
bool is_asleep(pid_t tid) {
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const std::size_t end_of_name = line.rfind(')');
  return end_of_name != std::string::npos && end_of_name + 2 < line.size() &&
         line[end_of_name + 2] == 'S';
}

// Records the kernel id of each waiter thread, so the main thread can wait until it sleeps.
class SleeperIds {
 public:
  explicit SleeperIds(std::size_t count) : ids_(count) {}
  void record(std::size_t i) {
    // release: pairs with the acquire loads in wait_until_all_asleep.
    ids_[i].store(gettid(), std::memory_order_release);
  }
  // Waits until every waiter is blocked in the kernel, so a notify must reach it there.
  void wait_until_all_asleep() const {
    for (const std::atomic<pid_t>& id : ids_) {
      // acquire: pairs with record; 0 means the thread has not started yet.
      spin_until([&] { return id.load(std::memory_order_acquire) != 0; });
      // acquire: as above.
      spin_until([&] { return is_asleep(id.load(std::memory_order_acquire)); });
    }
  }

 private:
  std::vector<std::atomic<pid_t>> ids_;
};

TEST(EventCount, StartsWithNoWaiter) {
  EventCount<> event_count;
  EXPECT_EQ(event_count.waiters_approx(), 0U);
}

TEST(EventCount, PrepareThenCancelLeavesNoWaiter) {
  EventCount<> event_count;
  (void)event_count.prepare_wait();
  EXPECT_EQ(event_count.waiters_approx(), 1U);
  event_count.cancel_wait();
  EXPECT_EQ(event_count.waiters_approx(), 0U);
}

TEST(EventCount, NotifyWithoutWaiterChangesNothingObservable) {
  EventCount<> event_count;
  const EventCount<>::Key before = event_count.prepare_wait();
  event_count.cancel_wait();

  event_count.notify_one();
  event_count.notify_all();
  EXPECT_EQ(event_count.waiters_approx(), 0U);

  // The epoch was not bumped: a key taken now equals the one taken before the notifies.
  const EventCount<>::Key after = event_count.prepare_wait();
  event_count.cancel_wait();
  EXPECT_EQ(after, before);
}

TEST(EventCount, NotifyWithAWaiterMovesTheEpoch) {
  EventCount<> event_count;
  const EventCount<>::Key key = event_count.prepare_wait();
  event_count.notify_one();
  event_count.cancel_wait();
  const EventCount<>::Key next = event_count.prepare_wait();
  event_count.cancel_wait();
  EXPECT_NE(next, key);
}

// notify_before_commit: a notify that lands between prepare_wait and commit_wait makes
// commit_wait return at once (the waiter would otherwise sleep through its own wake-up).
TEST(EventCount, NotifyBetweenPrepareAndCommitMakesCommitReturnImmediately) {
  Watchdog watchdog("EventCount notify before commit", kWatchdogLimit);
  EventCount<> event_count;
  const EventCount<>::Key key = event_count.prepare_wait();
  event_count.notify_one();
  event_count.commit_wait(key);  // would block forever if the notify were lost
  EXPECT_EQ(event_count.waiters_approx(), 0U);
}

TEST(EventCount, NotifyFromAnotherThreadBetweenPrepareAndCommitIsNotLost) {
  Watchdog watchdog("EventCount cross-thread notify before commit", kWatchdogLimit);
  EventCount<> event_count;
  const EventCount<>::Key key = event_count.prepare_wait();
  std::thread notifier([&] { event_count.notify_one(); });
  notifier.join();
  event_count.commit_wait(key);
  EXPECT_EQ(event_count.waiters_approx(), 0U);
}

TEST(EventCount, SleeperIsWokenByNotifyOneAfterItsKey) {
  Watchdog watchdog("EventCount notify_one wakes a sleeper", kWatchdogLimit);
  EventCount<> event_count;
  std::atomic<bool> ready{false};
  std::atomic<bool> woke{false};

  SleeperIds sleeper(1);
  std::thread waiter([&] {
    sleeper.record(0);
    // acquire: pairs with the release store below; the waiter sees `ready` once woken.
    test::wait_until(event_count, [&] { return ready.load(std::memory_order_acquire); });
    // relaxed: read by the main thread after join, which orders it.
    woke.store(true, std::memory_order_relaxed);
  });

  // The waiter is in commit_wait, asleep in the kernel, before the notify is sent.
  sleeper.wait_until_all_asleep();
  EXPECT_EQ(event_count.waiters_approx(), 1U);
  // release: pairs with the waiter's acquire re-check.
  ready.store(true, std::memory_order_release);
  event_count.notify_one();
  waiter.join();

  // relaxed: join ordered the store.
  EXPECT_TRUE(woke.load(std::memory_order_relaxed));
  EXPECT_EQ(event_count.waiters_approx(), 0U);
}

TEST(EventCount, NotifyAllWakesEveryWaiter) {
  Watchdog watchdog("EventCount notify_all wakes every waiter", kWatchdogLimit);
  constexpr unsigned kWaiters = 4;
  EventCount<> event_count;
  std::atomic<bool> closed{false};
  std::atomic<unsigned> left{0};

  SleeperIds sleepers(kWaiters);
  std::vector<std::thread> waiters;
  for (unsigned i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      sleepers.record(i);
      // acquire: pairs with the release store of `closed`.
      test::wait_until(event_count, [&] { return closed.load(std::memory_order_acquire); });
      // relaxed: a count read after join.
      left.fetch_add(1, std::memory_order_relaxed);
    });
  }
  // Every waiter is asleep in the kernel: notify_all must wake all of them there.
  sleepers.wait_until_all_asleep();
  EXPECT_EQ(event_count.waiters_approx(), kWaiters);
  // release: pairs with the waiters' acquire re-check.
  closed.store(true, std::memory_order_release);
  event_count.notify_all();
  for (std::thread& waiter : waiters) waiter.join();

  // relaxed: join ordered the increments.
  EXPECT_EQ(left.load(std::memory_order_relaxed), kWaiters);
  EXPECT_EQ(event_count.waiters_approx(), 0U);
}

// no_missing_notify_one: several sleepers, one notify_one per published item. Every item
// must be consumed with no other wake-up source (the stop flag is raised only after the
// main thread has seen every item consumed), and no item twice.
TEST(EventCount, NotifyOnePerItemLetsSleepersConsumeExactlyThePublishedItems) {
  Watchdog watchdog("EventCount no missing notify_one", kWatchdogLimit);
  constexpr unsigned kConsumers = 4;
  constexpr int kItems = 2000;
  EventCount<> event_count;
  std::atomic<int> available{0};
  std::atomic<int> consumed{0};
  std::atomic<bool> stop{false};

  // Takes one item if there is one.
  auto try_take = [&] {
    // relaxed: the count carries no data; the item's publication is ordered by the event
    // count's fences, and the CAS alone decides who gets it.
    int count = available.load(std::memory_order_relaxed);
    while (count > 0) {
      if (available.compare_exchange_weak(count, count - 1, std::memory_order_relaxed,
                                          std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  };

  std::latch started(kConsumers + 1);
  std::vector<std::thread> consumers;
  for (unsigned i = 0; i < kConsumers; ++i) {
    consumers.emplace_back([&] {
      started.arrive_and_wait();
      for (;;) {
        bool took = false;
        // acquire: pairs with the release store of `stop`.
        test::wait_until(event_count, [&] {
          took = try_take();
          return took || stop.load(std::memory_order_acquire);
        });
        if (!took) return;
        // relaxed: a count; the main thread polls it and reads it finally after join.
        consumed.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  started.arrive_and_wait();

  for (int item = 0; item < kItems; ++item) {
    // Every other item waits until a consumer has announced itself as a waiter, so that the
    // protocol's wake-up, not a consumer that happens to be running, delivers it.
    if (item % 2 == 0) spin_until([&] { return event_count.waiters_approx() > 0; });
    // relaxed: ordered before the read of waiters_ by the fence in notify_one.
    available.fetch_add(1, std::memory_order_relaxed);
    event_count.notify_one();
  }
  // A lost wake-up leaves an item here with every consumer asleep: the watchdog fires.
  // relaxed: polling a count.
  spin_until([&] { return consumed.load(std::memory_order_relaxed) == kItems; });

  // release: pairs with the consumers' acquire re-check.
  stop.store(true, std::memory_order_release);
  event_count.notify_all();
  for (std::thread& consumer : consumers) consumer.join();

  // relaxed: join ordered every access.
  EXPECT_EQ(consumed.load(std::memory_order_relaxed), kItems);
  EXPECT_EQ(available.load(std::memory_order_relaxed), 0);
  EXPECT_EQ(event_count.waiters_approx(), 0U);
}

}  // namespace
}  // namespace forage::detail
