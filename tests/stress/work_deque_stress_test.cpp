// The deque under real concurrency: one owner and three thieves over 10^6 values (10^5 under
// sanitizers). The deque starts at capacity 2, so the ring grows while thieves are reading
// it. Every value must be taken exactly once: workers count into one atomic counter per
// value, and only the main thread asserts, after joining them.
//
// Jitter: each thread runs short random bursts of cpu_relax between operations, from a seed
// derived from the test's seed, so that the interleavings vary from run to run. The seed is
// printed; set FORAGE_TEST_SEED to replay one (the scheduling itself is not replayable).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <latch>
#include <memory>
#include <ostream>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "deque/work_deque.hpp"
#include "test_support.hpp"

namespace forage::detail {
namespace {

constexpr unsigned kThieves = 3;
constexpr std::size_t kInitialCapacity = 2;
constexpr std::chrono::seconds kWatchdogLimit{240};

// How many times each value was taken; incremented by the workers, read by the main thread.
class TakenCounts {
 public:
  explicit TakenCounts(std::size_t values)
      : counts_(std::make_unique<std::atomic<std::uint8_t>[]>(values)), size_(values) {}

  void take(std::size_t value) {
    // relaxed: a count; the main thread reads it after joining the workers.
    counts_[value].fetch_add(1, std::memory_order_relaxed);
  }

  // Main thread, after join: values taken zero times (lost) and more than once (duplicated).
  void expect_each_taken_once() const {
    std::size_t lost = 0;
    std::size_t duplicated = 0;
    std::size_t first_bad = size_;
    for (std::size_t value = 0; value < size_; ++value) {
      // relaxed: join ordered every increment before this read.
      const unsigned count = counts_[value].load(std::memory_order_relaxed);
      if (count == 1) continue;
      (count == 0 ? lost : duplicated) += 1;
      if (first_bad == size_) first_bad = value;
    }
    EXPECT_EQ(lost, 0U) << "first bad value: " << first_bad;
    EXPECT_EQ(duplicated, 0U) << "first bad value: " << first_bad;
  }

 private:
  std::unique_ptr<std::atomic<std::uint8_t>[]> counts_;
  std::size_t size_;
};

// What the threads did; for the log, not for the verdict.
struct Tally {
  std::uint64_t popped = 0;
  std::uint64_t stolen = 0;
  std::uint64_t lost_races = 0;
};

std::ostream& operator<<(std::ostream& out, const Tally& tally) {
  return out << "popped " << tally.popped << ", stolen " << tally.stolen << ", lost races "
             << tally.lost_races;
}

enum class OwnerScript {
  push_and_pop,       // pushes, and pops now and then between pushes
  push_then_pop_rest  // pushes everything, then pops what the thieves left
};

// Runs an owner and kThieves thieves over the values 0..values-1; checks each was taken once.
Tally run_owner_and_thieves(OwnerScript script, std::size_t values, std::uint64_t seed) {
  test::Watchdog watchdog("WorkDeque owner + thieves stress", kWatchdogLimit);
  // Built here, used by the owner thread (its first push claims it) and, through stealers, by
  // the thieves.
  DequeOwner<std::size_t> deque(kInitialCapacity);
  TakenCounts taken(values);
  // Per-thread tallies, summed here; relaxed: read after join.
  std::atomic<std::uint64_t> popped_total{0};
  std::atomic<std::uint64_t> stolen_total{0};
  std::atomic<std::uint64_t> lost_races_total{0};
  // Set by the owner once it has popped the deque empty after its last push: from then on no
  // value is left for the thieves. release/acquire: see the owner and thief loops.
  std::atomic<bool> owner_done{false};
  // Thieves that have started stealing. The owner starts once one has: on a 2-core machine a
  // short run would otherwise often be over before any thief is scheduled.
  std::atomic<unsigned> thieves_running{0};
  std::latch start(kThieves + 1);

  std::vector<std::thread> thieves;
  for (unsigned t = 0; t < kThieves; ++t) {
    thieves.emplace_back([&, t, thief = deque.stealer()] {
      test::Jitter jitter(seed + 1 + t, 8);
      std::uint64_t stolen = 0;
      std::uint64_t lost_races = 0;
      start.arrive_and_wait();
      // relaxed: only a signal that a thief is on a CPU; it orders nothing.
      thieves_running.fetch_add(1, std::memory_order_relaxed);
      // acquire: pairs with the owner's release store; nothing is left after it.
      while (!owner_done.load(std::memory_order_acquire)) {
        const Stolen<std::size_t> result = thief.steal();
        if (result.status == StealStatus::success) {
          taken.take(result.value);
          ++stolen;
        } else if (result.status == StealStatus::lost_race) {
          ++lost_races;
        }
        jitter();
      }
      // relaxed: tallies, read after join.
      stolen_total.fetch_add(stolen, std::memory_order_relaxed);
      lost_races_total.fetch_add(lost_races, std::memory_order_relaxed);
    });
  }

  std::thread owner([&] {
    test::Jitter jitter(seed, 8);
    std::uint64_t popped = 0;
    auto pop_one = [&] {
      const auto value = deque.pop();
      if (value) {
        taken.take(*value);
        ++popped;
      }
      return value.has_value();
    };
    start.arrive_and_wait();
    // relaxed: see thieves_running.
    while (thieves_running.load(std::memory_order_relaxed) == 0) std::this_thread::yield();
    for (std::size_t value = 0; value < values; ++value) {
      deque.push(value);
      if (script == OwnerScript::push_and_pop && jitter.coin(3)) {
        pop_one();
        if (jitter.coin(4)) pop_one();
      }
      jitter();
    }
    // The owner pushes no more, so one empty pop means every value has been claimed.
    while (pop_one()) {
    }
    // relaxed: a tally, read after join.
    popped_total.fetch_add(popped, std::memory_order_relaxed);
    // release: the thieves stop; every value they could take was claimed before this.
    owner_done.store(true, std::memory_order_release);
  });

  owner.join();
  for (std::thread& thief : thieves) thief.join();
  watchdog.disarm();

  taken.expect_each_taken_once();
  // relaxed: join ordered the tallies.
  const Tally tally{popped_total.load(std::memory_order_relaxed),
                    stolen_total.load(std::memory_order_relaxed),
                    lost_races_total.load(std::memory_order_relaxed)};
  EXPECT_EQ(tally.popped + tally.stolen, values);
  return tally;
}

// kRuns runs of 10^6 values each, with seeds seed, seed + 100, ...
void run_large(OwnerScript script) {
  constexpr int kRuns = 4;
  const std::size_t values = test::scaled(1'000'000);
  const std::uint64_t seed = test::test_seed();
  for (int run = 0; run < kRuns && !testing::Test::HasFailure(); ++run) {
    const std::uint64_t run_seed = seed + 100 * static_cast<std::uint64_t>(run);
    SCOPED_TRACE(testing::Message() << "FORAGE_TEST_SEED=" << run_seed);
    const Tally tally = run_owner_and_thieves(script, values, run_seed);
    std::cout << "[ stress   ] seed " << run_seed << ", " << values << " values: " << tally << '\n';
  }
}

TEST(WorkDequeStress, OwnerPushingAndPoppingWhileThreeThievesStealTakesEachValueOnce) {
  run_large(OwnerScript::push_and_pop);
}

TEST(WorkDequeStress, OwnerPushingThenPoppingTheRestWhileThreeThievesStealTakesEachValueOnce) {
  run_large(OwnerScript::push_then_pop_rest);
}

// Many short rounds: the deque is often down to its last value, where pop and steal race on
// the top CAS, and each round starts a fresh deque at capacity 2 (early growth).
TEST(WorkDequeStress, ManyShortRoundsTakeEachValueOnce) {
  const std::uint64_t seed = test::test_seed();
  SCOPED_TRACE(testing::Message() << "FORAGE_TEST_SEED=" << seed);
  const std::size_t rounds = test::scaled(500);
  Tally total;
  for (std::size_t round = 0; round < rounds && !testing::Test::HasFailure(); ++round) {
    const OwnerScript script =
        round % 2 == 0 ? OwnerScript::push_and_pop : OwnerScript::push_then_pop_rest;
    const Tally tally = run_owner_and_thieves(script, 64, seed + round * 16);
    total.popped += tally.popped;
    total.stolen += tally.stolen;
    total.lost_races += tally.lost_races;
  }
  std::cout << "[ stress   ] seed " << seed << ", " << rounds << " rounds of 64 values: " << total
            << '\n';
}

}  // namespace
}  // namespace forage::detail
