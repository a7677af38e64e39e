// EventCount under real concurrency: lost wake-ups. A lost wake-up leaves a thread asleep
// with nobody left to wake it, so these tests cannot fail by a wrong value, only by hanging:
// the Watchdog turns a hang into a failure (abort with a message) well before ctest's timeout.
//
// Jitter: short random bursts of cpu_relax, from a seed derived from the test's seed, so that
// the waiter is sometimes asleep in the kernel, sometimes between prepare_wait and
// commit_wait, and sometimes not yet waiting when the notify comes. The seed is printed; set
// FORAGE_TEST_SEED to reuse one (the scheduling itself is not replayable).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <latch>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "sleep/event_count.hpp"
#include "test_support.hpp"

namespace forage::detail {
namespace {

constexpr std::chrono::seconds kWatchdogLimit{240};

// Two threads take turns: each publishes the next move and calls notify_one; the other waits
// for it with the full protocol. Both wait on the same event count, as workers of a pool do.
// One handoff (a publish, a notify, and the other side getting out of its wait) is where a
// wake-up can be lost; there are 10^6 of them (5 * 10^5 ping-pong pairs; 15-22 s on a 2-core
// VM, as nearly every handoff costs a futex wake and a futex wait).
TEST(EventCountStress, PingPongNeverLosesAWakeUp) {
  const std::uint64_t handoffs = test::scaled(1'000'000);
  const std::uint64_t seed = test::test_seed();
  SCOPED_TRACE(testing::Message() << "FORAGE_TEST_SEED=" << seed);
  test::Watchdog watchdog("EventCount ping-pong", kWatchdogLimit);
  EventCount<> event_count;
  // The next move: even moves are ping's, odd moves pong's. Each side writes it after
  // waiting for its turn, so writes alternate.
  std::atomic<std::uint64_t> turn{0};

  auto player = [&](std::uint64_t first_move) {
    test::Jitter jitter(seed + first_move, 64);
    for (std::uint64_t move = first_move; move < handoffs; move += 2) {
      // acquire: pairs with the other side's release store of `turn`.
      test::wait_until(event_count, [&] { return turn.load(std::memory_order_acquire) == move; });
      // release: publishes this move (and everything before it) to the other side.
      turn.store(move + 1, std::memory_order_release);
      event_count.notify_one();
      jitter();
    }
  };
  std::thread ping(player, 0);
  std::thread pong(player, 1);
  ping.join();
  pong.join();
  watchdog.disarm();

  // relaxed: join ordered the last store.
  EXPECT_EQ(turn.load(std::memory_order_relaxed), handoffs);
  EXPECT_EQ(event_count.waiters_approx(), 0U);
  std::cout << "[ stress   ] seed " << seed << ", " << handoffs << " ping-pong handoffs\n";
}

// Store-buffering at full speed: in each round both threads leave a spin barrier together,
// then one publishes a flag and notifies while the other announces itself and re-checks the
// flag. This is the exact race the two fences decide (lib/sleep/README.md). Without the fence in
// notify, an x86 store buffer lets both sides miss each other and the waiter sleeps for good
// (that mutant hangs here within seconds). The waiter's fence cannot be shown missing on x86,
// where its locked fetch_add is a full barrier anyway: the Relacy model covers that one.
TEST(EventCountStress, SimultaneousPublishAndWaitNeverLosesAWakeUp) {
  const std::uint64_t rounds = test::scaled(1'000'000);
  const std::uint64_t seed = test::test_seed();
  SCOPED_TRACE(testing::Message() << "FORAGE_TEST_SEED=" << seed);
  test::Watchdog watchdog("EventCount simultaneous publish and wait", kWatchdogLimit);
  test::RoundBudget budget(rounds, rounds / 10);
  EventCount<> event_count;
  // The round whose flag has been published (round r publishes r + 1).
  std::atomic<std::uint64_t> flag{0};
  // The number of rounds: lowered by the publisher when the time budget runs out.
  std::atomic<std::uint64_t> end{rounds};
  // Arrivals at the per-round barrier: 2 per round.
  std::atomic<std::uint64_t> arrived{0};
  // False when the publisher ended the test before `round`: the waiter then leaves.
  auto barrier = [&](std::uint64_t round) {
    // acq_rel: the barrier orders each round after the previous one on both threads.
    arrived.fetch_add(1, std::memory_order_acq_rel);
    // acquire: as above.
    while (arrived.load(std::memory_order_acquire) < 2 * (round + 1)) {
      // acquire: pairs with the publisher's release store of the last round.
      if (end.load(std::memory_order_acquire) <= round) return false;
      cpu_relax();
    }
    return true;
  };
  std::uint64_t slept = 0;  // rounds where the waiter reached commit_wait; read after join

  std::thread publisher([&] {
    test::Jitter jitter(seed, 64);
    for (std::uint64_t round = 0;; ++round) {
      if (!budget.run(round)) {
        // release: the waiter, spinning in barrier(round), sees that no round `round` comes.
        end.store(round, std::memory_order_release);
        return;
      }
      barrier(round);
      if (round % 4 == 0) jitter();  // vary who goes first
      // relaxed: the protocol alone must order it (the fence in notify_one), as in the model.
      flag.store(round + 1, std::memory_order_relaxed);
      event_count.notify_one();
    }
  });
  std::thread waiter([&] {
    test::Jitter jitter(seed + 1, 64);
    for (std::uint64_t round = 0; barrier(round); ++round) {
      if (round % 4 == 2) jitter();
      for (;;) {
        const EventCount<>::Key key = event_count.prepare_wait();
        // relaxed: ordered after the waiters_ increment by the fence in prepare_wait.
        if (flag.load(std::memory_order_relaxed) == round + 1) {
          event_count.cancel_wait();
          break;
        }
        ++slept;
        event_count.commit_wait(key);
      }
    }
  });
  publisher.join();
  waiter.join();
  watchdog.disarm();

  EXPECT_EQ(event_count.waiters_approx(), 0U);
  std::cout << "[ stress   ] seed " << seed << ", " << budget.rounds_run()
            << " rounds; the waiter reached "
            << "commit_wait " << slept << " times\n";
}

// Three producers publish items one at a time, each followed by notify_one; one consumer
// takes whatever is pending and otherwise waits. The consumer stops only after it has
// consumed every item, so a lost wake-up leaves it asleep with items pending: a hang.
TEST(EventCountStress, ManyProducersOneConsumerConsumesEveryItem) {
  constexpr unsigned kProducers = 3;
  const std::uint64_t items_per_producer = test::scaled(300'000);
  const std::uint64_t total = kProducers * items_per_producer;
  const std::uint64_t seed = test::test_seed();
  SCOPED_TRACE(testing::Message() << "FORAGE_TEST_SEED=" << seed);
  test::Watchdog watchdog("EventCount many producers, one consumer", kWatchdogLimit);
  EventCount<> event_count;
  // Items published and not yet consumed: producers add, the consumer takes all at once.
  std::atomic<std::uint64_t> pending{0};
  std::latch start(kProducers + 1);

  std::uint64_t consumed = 0;  // the consumer's; read after join
  std::uint64_t sleeps = 0;    // times the consumer found nothing and entered the protocol
  std::thread consumer([&] {
    start.arrive_and_wait();
    while (consumed < total) {
      // acquire: pairs with the producers' release increments.
      const std::uint64_t taken = pending.exchange(0, std::memory_order_acquire);
      if (taken > 0) {
        consumed += taken;
        continue;
      }
      ++sleeps;
      // acquire: as above.
      test::wait_until(event_count, [&] { return pending.load(std::memory_order_acquire) > 0; });
    }
  });

  std::vector<std::thread> producers;
  for (unsigned p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      test::Jitter jitter(seed + 1 + p, 64);
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < items_per_producer; ++i) {
        // release: the item is visible to the consumer that takes it.
        pending.fetch_add(1, std::memory_order_release);
        event_count.notify_one();
        jitter();
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  consumer.join();
  watchdog.disarm();

  EXPECT_EQ(consumed, total);
  // relaxed: join ordered every access.
  EXPECT_EQ(pending.load(std::memory_order_relaxed), 0U);
  EXPECT_EQ(event_count.waiters_approx(), 0U);
  std::cout << "[ stress   ] seed " << seed << ", " << total << " items from " << kProducers
            << " producers; the consumer waited " << sleeps << " times\n";
}

}  // namespace
}  // namespace forage::detail
