// Pool-specific behaviour: worker identity, stealing, pinning, parking.
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace forage {
namespace {

using namespace std::chrono_literals;

TEST(Pool, CurrentIsNullOffTheWorkers) {
  Pool pool({.workers = 1});
  EXPECT_EQ(Pool::current(), nullptr);
  EXPECT_EQ(Pool::current_worker(), std::nullopt);
}

TEST(Pool, CurrentNamesThePoolAndWorkerOnAWorker) {
  Pool pool({.workers = 2});
  std::atomic<Pool*> seen_pool{nullptr};
  std::atomic<std::size_t> seen_worker{99};
  pool.spawn([&] {
    // relaxed: read after wait_idle().
    seen_pool.store(Pool::current(), std::memory_order_relaxed);
    seen_worker.store(Pool::current_worker().value_or(98), std::memory_order_relaxed);
  });
  pool.wait_idle();
  EXPECT_EQ(seen_pool.load(std::memory_order_relaxed), &pool);
  EXPECT_LT(seen_worker.load(std::memory_order_relaxed), 2u);
}

TEST(Pool, TasksDrainedByTheDestructorCanStillSpawnThroughCurrent) {
  std::atomic<int> children{0};
  {
    Pool pool({.workers = 2});
    for (int i = 0; i < 100; ++i) {
      pool.spawn([&] {
        // relaxed: read after the destructor joined the workers.
        Pool::current()->spawn([&] { children.fetch_add(1, std::memory_order_relaxed); });
      });
    }
  }
  EXPECT_EQ(children.load(std::memory_order_relaxed), 100);
}

TEST(Pool, DefaultWorkerCountIsOnePerAllowedCore) {
  Pool pool;
  EXPECT_EQ(pool.worker_count(), Topology::discover().core_count());
}

TEST(Pool, IdleWorkerStealsFromABusyOne) {
  constexpr int kChildren = 64;
  Pool pool({.workers = 2});
  std::atomic<int> children_done{0};
  pool.spawn([&] {
    for (int i = 0; i < kChildren; ++i) {
      // release: pairs with the acquire load in the loop below.
      Pool::current()->spawn([&] { children_done.fetch_add(1, std::memory_order_release); });
    }
    // This worker is busy until every child ran, so the other worker must steal them all.
    while (children_done.load(std::memory_order_acquire) < kChildren) std::this_thread::yield();
  });
  test::Watchdog watchdog("children are stolen", 60s);
  pool.wait_idle();
  const PoolStats stats = pool.stats();
  EXPECT_EQ(stats.stolen(), static_cast<std::uint64_t>(kChildren));
  EXPECT_GE(stats.steal_attempts(), stats.stolen());
}

TEST(Pool, PinsEachWorkerWhereThePlanSays) {
  Pool pool({.workers = 2, .pinning = Pinning::cores});
  const std::vector<int>& plan = pool.pinning_plan();
  ASSERT_EQ(plan.size(), 2u);
  const PoolStats stats = pool.stats();
  for (std::size_t i = 0; i < plan.size(); ++i) {
    EXPECT_EQ(stats.workers[i].pinned_cpu, plan[i]) << stats.workers[i].pin_error;
    EXPECT_TRUE(stats.workers[i].pin_error.empty());
  }
}

TEST(Pool, PinningNoneLeavesWorkersUnpinned) {
  Pool pool({.workers = 2, .pinning = Pinning::none});
  EXPECT_TRUE(pool.pinning_plan().empty());
  for (const WorkerStats& worker : pool.stats().workers) EXPECT_FALSE(worker.pinned_cpu);
}

TEST(Pool, FailedPinIsReportedOnceAndThePoolStillRuns) {
  // A synthetic machine with 64 PUs, marked as this system: binding to PUs this machine does
  // not have fails for real.
  std::atomic<int> reports{0};
  std::string report;
  std::mutex report_mutex;
  PoolOptions options{.workers = 8,
                      .pinning = Pinning::pus,
                      .on_error =
                          [&](std::exception_ptr error) {
                            std::lock_guard lock(report_mutex);
                            try {
                              std::rethrow_exception(error);
                            } catch (const Error& e) {
                              report = e.what();
                            }
                            reports.fetch_add(1, std::memory_order_relaxed);
                          },
                      .topology = Topology::synthetic("package:1 core:64 pu:1")};
  Pool pool(std::move(options));
  std::atomic<int> ran{0};
  for (int i = 0; i < 1000; ++i) pool.spawn([&] { ran.fetch_add(1, std::memory_order_relaxed); });
  pool.wait_idle();
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 1000);
  EXPECT_EQ(reports.load(std::memory_order_relaxed), 1);
  {
    std::lock_guard lock(report_mutex);
    EXPECT_NE(report.find("could not be pinned"), std::string::npos) << report;
  }
  int failed = 0;
  for (const WorkerStats& worker : pool.stats().workers) {
    if (!worker.pin_error.empty()) {
      ++failed;
      EXPECT_FALSE(worker.pinned_cpu);
    }
  }
  EXPECT_GE(failed, 1);
}

// Thread ids of the workers, collected by on_worker_start, for /proc and CPU clocks.
struct WorkerThreads {
  std::mutex mutex;
  std::vector<pid_t> tids;
  std::vector<clockid_t> clocks;

  PoolOptions options(std::size_t workers) {
    PoolOptions result{.workers = workers};
    result.on_worker_start = [this](std::size_t) {
      clockid_t clock{};
      pthread_getcpuclockid(pthread_self(), &clock);
      std::lock_guard lock(mutex);
      tids.push_back(static_cast<pid_t>(syscall(SYS_gettid)));
      clocks.push_back(clock);
    };
    return result;
  }

  // True when every worker is blocked in the kernel (state S: our futex wait).
  bool all_sleeping() {
    std::lock_guard lock(mutex);
    for (pid_t tid : tids) {
      std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
      std::string line;
      std::getline(stat, line);
      const auto close_paren = line.rfind(')');
      if (close_paren == std::string::npos || line.size() < close_paren + 3) return false;
      if (line[close_paren + 2] != 'S') return false;
    }
    return true;
  }

  std::chrono::nanoseconds cpu_time() {
    std::lock_guard lock(mutex);
    std::chrono::nanoseconds total{0};
    for (clockid_t clock : clocks) {
      timespec spent{};
      clock_gettime(clock, &spent);
      total += std::chrono::seconds(spent.tv_sec) + std::chrono::nanoseconds(spent.tv_nsec);
    }
    return total;
  }
};

void wait_until_all_sleeping(WorkerThreads& threads) {
  test::Watchdog watchdog("workers park", 60s);
  while (!threads.all_sleeping()) std::this_thread::yield();
}

TEST(Pool, IdlePoolSleeps) {
  WorkerThreads threads;
  Pool pool(threads.options(2));
  pool.spawn([] {});
  pool.wait_idle();
  wait_until_all_sleeping(threads);
  const auto before = threads.cpu_time();
  std::this_thread::sleep_for(1s);  // measuring idle CPU use over one second, not waiting
  const auto used = threads.cpu_time() - before;
  // Under 5% of one core over the second.
  EXPECT_LT(used, 50ms) << "idle workers used " << used.count() << " ns of CPU in 1 s";
}

// Stats before and after one task is spawned from this thread into a pool whose workers
// all sleep; a worker that woke parked again (parks grew), the others did not move.
struct AroundOneWake {
  PoolStats before;
  PoolStats after;
};

AroundOneWake spawn_one_into_sleeping_pool(Pool& pool, WorkerThreads& threads) {
  wait_until_all_sleeping(threads);
  AroundOneWake stats{.before = pool.stats(), .after = {}};
  pool.spawn([] {});
  pool.wait_idle();
  wait_until_all_sleeping(threads);
  stats.after = pool.stats();
  return stats;
}

TEST(Pool, SubmitToAnIdlePoolWakesOneWorker) {
  constexpr std::size_t kWorkers = 4;
  WorkerThreads threads;
  Pool pool(threads.options(kWorkers));
  const auto [before, after] = spawn_one_into_sleeping_pool(pool, threads);
  int woken = 0;
  for (std::size_t i = 0; i < kWorkers; ++i) {
    if (after.workers[i].parks != before.workers[i].parks) ++woken;
  }
  EXPECT_EQ(woken, 1);
}

TEST(Pool, SubmitFromOutsidePrefersTheSleeperOnTheSubmittersCpu) {
  WorkerThreads threads;
  Pool pool(threads.options(2));
  const std::vector<int>& plan = pool.pinning_plan();
  ASSERT_EQ(plan.size(), 2u);
  if (plan[0] == plan[1]) GTEST_SKIP() << "needs two allowed CPUs, the plan uses one";
  // Run this thread on the CPU of the last worker (the one a FIFO wake would not pick).
  cpu_set_t original;
  ASSERT_EQ(sched_getaffinity(0, sizeof original, &original), 0);
  cpu_set_t target;
  CPU_ZERO(&target);
  CPU_SET(plan[1], &target);
  ASSERT_EQ(sched_setaffinity(0, sizeof target, &target), 0);

  const auto [before, after] = spawn_one_into_sleeping_pool(pool, threads);
  sched_setaffinity(0, sizeof original, &original);

  EXPECT_EQ(after.workers[0].parks, before.workers[0].parks) << "the other worker was woken";
  EXPECT_GT(after.workers[1].parks, before.workers[1].parks);
  EXPECT_EQ(after.workers[1].executed, before.workers[1].executed + 1);
}

// fib by join: many small forks and steals, for the search counters.
std::uint64_t fib_by_join(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  const auto [a, b] = join([n] { return fib_by_join(n - 1); }, [n] { return fib_by_join(n - 2); });
  return a + b;
}

// A 256-worker pool on a synthetic machine of 8 packages of 32 cores (one PU each), pinned per core
// (the pins to PUs this machine lacks fail and are reported once): victims come in tiers by
// distance, and a search round tries a few of them, not all 255 (lib/sleep/README.md,
// "Bounded searching"). Only the sweep of the last searcher out touches everyone.
TEST(Pool, SearchRoundOnA256WorkerSyntheticMachineTouchesAFewVictims) {
  constexpr std::size_t kWorkers = 256;
  constexpr std::uint64_t kMostVictimsPerRound = 4;  // steal.cpp: kVictimsPerRound
  constexpr std::uint64_t kStealRetries = 4;         // steal.cpp: retries after a lost race
  Pool pool({.workers = kWorkers,
             .pinning = Pinning::cores,
             .on_error = [](std::exception_ptr) {},  // the failed pins
             .topology = Topology::synthetic("package:8 core:32 pu:1")});
  ASSERT_EQ(pool.pinning_plan().size(), kWorkers);
  const std::uint64_t result = join(
                                   pool, [] { return fib_by_join(20); }, [] { return 0ULL; })
                                   .first;
  EXPECT_EQ(result, 6765u);
  std::atomic<std::size_t> ran{0};
  for (int i = 0; i < 2000; ++i) {
    // relaxed: read after wait_idle().
    pool.spawn([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  }
  pool.wait_idle();
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 2000u);

  const PoolStats stats = pool.stats();
  const std::uint64_t round_attempts = stats.steal_attempts() - stats.sweep_steal_attempts();
  ASSERT_GT(stats.search_rounds(), 0u);
  std::cout << "[ counts   ] executed " << stats.executed() << ", rounds " << stats.search_rounds()
            << ", steal attempts in rounds " << round_attempts << " ("
            << static_cast<double>(round_attempts) / static_cast<double>(stats.search_rounds())
            << " per round), sweeps " << stats.sweeps() << ", sweep attempts "
            << stats.sweep_steal_attempts() << ", searches " << stats.searches() << ", parks "
            << stats.parks() << ", wakes " << stats.wakes() << "\n";
  // The bound is structural; a lost race is rare, so the mean sits near the victim count.
  EXPECT_LE(round_attempts, stats.search_rounds() * kMostVictimsPerRound * kStealRetries);
  EXPECT_LE(round_attempts, stats.search_rounds() * (kMostVictimsPerRound + 1));
}

// The wake counters: a task from outside into a sleeping pool is one wake from outside; the
// worker it woke runs it and wakes nobody else.
TEST(Pool, WakesFromOutsideAreCountedOncePerWakeUp) {
  constexpr std::size_t kWorkers = 4;
  WorkerThreads threads;
  Pool pool(threads.options(kWorkers));
  const auto [before, after] = spawn_one_into_sleeping_pool(pool, threads);
  EXPECT_EQ(after.wakes_from_outside, before.wakes_from_outside + 1);
  EXPECT_EQ(after.wakes() - after.wakes_from_outside, before.wakes() - before.wakes_from_outside);
  EXPECT_GT(after.searches(), before.searches());
  EXPECT_GT(after.search_rounds(), before.search_rounds());
}

}  // namespace
}  // namespace forage
