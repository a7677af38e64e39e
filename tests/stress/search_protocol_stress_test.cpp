// Lost wake-ups under Pool's bounded searching (lib/sleep/README.md, "Bounded searching"): at
// most half the workers search, only the last searcher out sweeps every queue, and producers
// wake a sleeper only when nobody searches. Each test catches a stranded task as a hang (the
// watchdog fails it) at 2, 8 and 64 workers, the last two oversubscribed on a small machine.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>

#include "forage/pool.hpp"
#include "test_support.hpp"

namespace forage {
namespace {

using namespace std::chrono_literals;

class SearchProtocolStress : public ::testing::TestWithParam<std::size_t> {};

INSTANTIATE_TEST_SUITE_P(Workers, SearchProtocolStress, ::testing::Values(2, 8, 64),
                         [](const auto& param_info) { return std::to_string(param_info.param); });

// Rounds shrink with the worker count: an oversubscribed round costs more.
std::size_t rounds_for(std::size_t workers, std::size_t at_two) {
  return test::scaled(at_two * 2 / workers > 0 ? at_two * 2 / workers : 1);
}

// Pauses so that, often, every worker has finished its search and parked before the next
// round's task arrives, and otherwise they are anywhere in it.
void pause_between_rounds(test::Jitter& jitter) {
  if (jitter.coin(4)) {
    std::this_thread::sleep_for(200us);
  } else {
    jitter();
  }
}

// One task at a time into a pool whose workers are going to sleep: from outside, or spawned
// from inside by a task (the inside post's notify). Each must run.
TEST_P(SearchProtocolStress, OneTaskAtATimeIntoASleepingPoolIsAlwaysRun) {
  const std::size_t workers = GetParam();
  const std::size_t rounds = rounds_for(workers, 5'000);
  test::RoundBudget budget(rounds, rounds / 10);
  Pool pool({.workers = workers, .pinning = Pinning::none});
  const std::uint64_t seed = test::test_seed();
  std::cout << "[ stress   ] seed " << seed << "\n";
  test::Jitter jitter(seed, 256);
  test::Watchdog watchdog("one task into a sleeping pool", 120s);  // per round
  std::atomic<std::size_t> ran{0};
  for (std::size_t round = 0; budget.run(round); ++round) {
    pause_between_rounds(jitter);
    if (round % 2 == 0) {
      // relaxed: read after wait_idle().
      pool.spawn([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
    } else {
      pool.spawn(
          [&pool, &ran] { pool.spawn([&ran] { ran.fetch_add(1, std::memory_order_relaxed); }); });
    }
    pool.wait_idle();
    watchdog.progress();
  }
  EXPECT_EQ(ran.load(std::memory_order_relaxed), budget.rounds_run());
}

// As many tasks as workers that can only finish together (each waits until all have
// started): every worker must be woken and must find one, though producers skip the wake
// while someone searches and most parked workers never re-check the queues. From outside in
// a burst, or spawned from inside by the first one.
TEST_P(SearchProtocolStress, AsManyTasksAsWorkersThatWaitForEachOtherAllRunTogether) {
  const std::size_t workers = GetParam();
  const std::size_t rounds = rounds_for(workers, 2'000);
  test::RoundBudget budget(rounds, rounds / 10);
  Pool pool({.workers = workers, .pinning = Pinning::none});
  const std::uint64_t seed = test::test_seed();
  std::cout << "[ stress   ] seed " << seed << "\n";
  test::Jitter jitter(seed, 256);
  test::Watchdog watchdog("rendezvous of every worker", 120s);  // per round
  for (std::size_t round = 0; budget.run(round); ++round) {
    std::atomic<std::size_t> arrived{0};
    auto meet = [&arrived, workers] {
      // acq_rel / acquire: each task sees the others' arrivals.
      arrived.fetch_add(1, std::memory_order_acq_rel);
      while (arrived.load(std::memory_order_acquire) < workers) std::this_thread::yield();
    };
    pause_between_rounds(jitter);
    if (round % 2 == 0) {
      for (std::size_t i = 0; i < workers; ++i) pool.spawn(meet);
    } else {
      pool.spawn([&pool, meet, workers] {
        for (std::size_t i = 1; i < workers; ++i) pool.spawn(meet);
        meet();
      });
    }
    pool.wait_idle();
    watchdog.progress();
  }
  EXPECT_EQ(pool.stats().executed(), budget.rounds_run() * workers);
}

}  // namespace
}  // namespace forage
