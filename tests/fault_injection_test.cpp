// Allocation failure on purpose, through the library's own hook (detail/alloc_fault.hpp), so it
// runs under every preset, TSan included. Each scenario is one API call; the sweep first counts
// the allocations the hook sees in a clean run, then makes the N-th of them fail (once, then
// "from N on") for N across that count. Every call must either succeed with correct results or
// throw; afterwards nothing ran twice, the pool runs a new task, wait_idle and shutdown return.
// The asan preset's LeakSanitizer checks that nothing leaked.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <memory>
#include <new>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "forage/detail/alloc_fault.hpp"
#include "test_support.hpp"

namespace forage {
namespace {

using namespace std::chrono_literals;
using detail::AllocationFault;
using detail::ScopedAllocationFault;

// How many times each item's work ran.
class Ledger {
 public:
  explicit Ledger(std::size_t items) : runs_(items) {}
  // relaxed: counts read after the pool is idle (wait_idle orders them) or after the call
  // that waited for the work returned.
  void ran(std::size_t item) { runs_[item].fetch_add(1, std::memory_order_relaxed); }
  int max_runs() const {
    int most = 0;
    // relaxed: as ran().
    for (const auto& runs : runs_) most = std::max(most, runs.load(std::memory_order_relaxed));
    return most;
  }
  bool all_once() const {
    // relaxed: as ran().
    return std::all_of(runs_.begin(), runs_.end(),
                       [](const auto& runs) { return runs.load(std::memory_order_relaxed) == 1; });
  }
  std::size_t size() const { return runs_.size(); }

 private:
  std::vector<std::atomic<int>> runs_;
};

// How many N values a sweep tries at most: a call's sweep, and the constructors' (each point
// starts and stops a pool). The sanitizer presets try a tenth (tsan: about 2 minutes in all).
constexpr std::uint64_t kCallSweepPoints = 1024 / test::kScale + 16;
constexpr std::uint64_t kConstructorSweepPoints = 128 / test::kScale + 16;

// The N values a sweep tries over a clean count: every one up to `full`, else the first and
// last few and an even stride between.
std::vector<std::uint64_t> sweep_points(std::uint64_t clean, std::uint64_t full) {
  const std::uint64_t last = clean + 2;  // past the end: no failure, the call must succeed
  std::vector<std::uint64_t> points;
  if (last <= full) {
    for (std::uint64_t n = 1; n <= last; ++n) points.push_back(n);
    return points;
  }
  const std::uint64_t edge = 8;
  const std::uint64_t stride = (last - 2 * edge) / (full - 2 * edge) + 1;
  for (std::uint64_t n = 1; n <= edge; ++n) points.push_back(n);
  for (std::uint64_t n = edge + stride; n + edge <= last; n += stride) points.push_back(n);
  for (std::uint64_t n = last - edge + 1; n <= last; ++n) points.push_back(n);
  return points;
}

struct SweepTally {
  std::uint64_t clean = 0;
  std::size_t tried = 0;
  std::size_t succeeded = 0;
  std::size_t threw = 0;
};

void print_tally(const char* scenario, const SweepTally& tally) {
  std::printf("%s/%s: %llu allocations in a clean run; %zu runs: %zu succeeded, %zu threw\n",
              ::testing::UnitTest::GetInstance()->current_test_info()->type_param(), scenario,
              static_cast<unsigned long long>(tally.clean), tally.tried, tally.succeeded,
              tally.threw);
}

// Runs `scenario(pool, ledger)` under every fault of the sweep. The scenario checks its own
// results when it returns; an exception is the call reporting the failure.
template <class System, class Scenario>
void sweep(const char* name, std::size_t items, Scenario scenario) {
  std::atomic<std::size_t> reported{0};
  PoolOptions options;
  // relaxed: a count printed at the end.
  options.on_error = [&reported](std::exception_ptr) {
    reported.fetch_add(1, std::memory_order_relaxed);
  };
  auto pool = System::make(2, options);
  test::Watchdog watchdog(name, 600s);  // disarmed before the pool is destroyed
  watchdog.on_expiry(test::pool_state_dump(*pool));
  pool->submit([] {}).get();  // the workers' caches and deques are warm before counting

  SweepTally tally;
  {
    Ledger ledger(items);
    ScopedAllocationFault counting(AllocationFault{});
    scenario(*pool, ledger);
    tally.clean = counting.report().allocations;
    pool->wait_idle();
  }
  // Pool's joins allocate nothing (their tasks live on the joiner's stack): nothing to fail.
  // The sweep still runs once past the end, where the call must succeed.

  for (const std::uint64_t n : sweep_points(tally.clean, kCallSweepPoints)) {
    for (const bool keep_failing : {false, true}) {
      SCOPED_TRACE(testing::Message() << name << ": allocation " << n << " of " << tally.clean
                                      << (keep_failing ? " and every later one" : "") << " fails");
      Ledger ledger(items);
      bool threw = false;
      detail::AllocationFaultReport report;
      {
        ScopedAllocationFault fault(AllocationFault{n, keep_failing});
        try {
          scenario(*pool, ledger);
        } catch (const std::bad_alloc&) {
          threw = true;
        } catch (const Error&) {
          threw = true;  // an ItemError or a cancellation carrying the failure
        }
        report = fault.report();
      }
      pool->wait_idle();
      ++tally.tried;
      ++(threw ? tally.threw : tally.succeeded);
      EXPECT_LE(ledger.max_runs(), 1) << "an item ran twice";
      if (report.failures == 0) {
        EXPECT_FALSE(threw) << "threw without an injected failure";
      }
      EXPECT_EQ(pool->submit([] { return 42; }).get(), 42);
    }
  }
  pool->shutdown();
  watchdog.disarm();
  print_tally(name, tally);
  // relaxed: the workers were joined by shutdown().
  std::printf("  on_error reports: %zu\n", reported.load(std::memory_order_relaxed));
}

// The scenarios' sizes: when_all of kInputs futures, maps over kItems, imap broken off after
// kTaken results, a TaskGroup of kSpawns.
constexpr std::size_t kInputs = 100;
constexpr std::size_t kItems = 1000;
constexpr std::size_t kTaken = 100;
constexpr std::size_t kSpawns = 1000;

// 2^depth leaves, by recursive joins (a worker's chain of joins in progress grows to `depth`).
std::uint64_t tree_sum(int depth) {
  if (depth == 0) return 1;
  const auto [left, right] =
      join([depth] { return tree_sum(depth - 1); }, [depth] { return tree_sum(depth - 1); });
  return left + right;
}

template <class System>
class FaultInjectionTest : public ::testing::Test {};

using test::Systems;
TYPED_TEST_SUITE(FaultInjectionTest, Systems);

TYPED_TEST(FaultInjectionTest, SubmitAndGetSucceedOrThrow) {
  sweep<TypeParam>("submit_get", 1, [](auto& pool, Ledger& ledger) {
    auto future = pool.submit([&ledger] {
      ledger.ran(0);
      return 7;
    });
    EXPECT_EQ(future.get(), 7);
    EXPECT_TRUE(ledger.all_once());
  });
}

TYPED_TEST(FaultInjectionTest, ChainsSucceedOrThrow) {
  sweep<TypeParam>("chain", 3, [](auto& pool, Ledger& ledger) {
    auto chained = pool.submit([&ledger] {
                         ledger.ran(0);
                         return 1;
                       })
                       .then([&ledger](int v) {
                         ledger.ran(1);
                         return v + 1;
                       })
                       .then([&ledger](int v) {
                         ledger.ran(2);
                         return v * 10;
                       });
    EXPECT_EQ(chained.get(), 20);
    EXPECT_TRUE(ledger.all_once());
  });
}

TYPED_TEST(FaultInjectionTest, WhenAllOfAHundredSucceedsOrThrows) {
  sweep<TypeParam>("when_all", kInputs, [](auto& pool, Ledger& ledger) {
    std::vector<Future<std::size_t>> futures;
    futures.reserve(kInputs);
    for (std::size_t i = 0; i < kInputs; ++i) {
      futures.push_back(pool.submit([&ledger, i] {
        ledger.ran(i);
        return i;
      }));
    }
    const std::vector<std::size_t> values = when_all(std::move(futures)).get();
    ASSERT_EQ(values.size(), kInputs);
    for (std::size_t i = 0; i < kInputs; ++i) EXPECT_EQ(values[i], i);
    EXPECT_TRUE(ledger.all_once());
  });
}

TYPED_TEST(FaultInjectionTest, ParallelMapSucceedsOrThrows) {
  sweep<TypeParam>("parallel_map", kItems, [](auto& pool, Ledger& ledger) {
    std::vector<std::size_t> inputs(kItems);
    std::iota(inputs.begin(), inputs.end(), std::size_t{0});
    const auto out = parallel_map(pool, inputs, [&ledger](std::size_t i) {
      ledger.ran(i);
      return 3 * i;
    });
    ASSERT_EQ(out.size(), kItems);
    for (std::size_t i = 0; i < kItems; ++i) EXPECT_EQ(out[i], 3 * i);
    EXPECT_TRUE(ledger.all_once());
  });
}

TYPED_TEST(FaultInjectionTest, ImapWithAnEarlyBreakSucceedsOrThrows) {
  sweep<TypeParam>("imap_break", kItems, [](auto& pool, Ledger& ledger) {
    std::vector<std::size_t> inputs(kItems);
    std::iota(inputs.begin(), inputs.end(), std::size_t{0});
    std::size_t expected = 0;
    for (const std::size_t out : imap(pool, inputs, [&ledger](std::size_t i) {
           ledger.ran(i);
           return 3 * i;
         })) {
      EXPECT_EQ(out, 3 * expected);
      if (++expected == kTaken) break;
    }
    EXPECT_EQ(expected, kTaken);
  });
}

TYPED_TEST(FaultInjectionTest, TaskGroupOfAThousandSpawnsSucceedsOrThrows) {
  sweep<TypeParam>("task_group", kSpawns, [](auto& pool, Ledger& ledger) {
    TaskGroup group(pool);
    for (std::size_t i = 0; i < kSpawns; ++i) group.spawn([&ledger, i] { ledger.ran(i); });
    group.wait();
    EXPECT_TRUE(ledger.all_once());
  });
}

TYPED_TEST(FaultInjectionTest, ImapUnorderedWithAnEarlyBreakSucceedsOrThrows) {
  sweep<TypeParam>("imap_unordered_break", kItems, [](auto& pool, Ledger& ledger) {
    std::vector<std::size_t> inputs(kItems);
    std::iota(inputs.begin(), inputs.end(), std::size_t{0});
    std::size_t taken = 0;
    // .first/.second: g++ 12 rejects a structured binding here, in a generic lambda.
    for (const auto& indexed : imap_unordered(pool, inputs, [&ledger](std::size_t i) {
           ledger.ran(i);
           return 3 * i;
         })) {
      EXPECT_EQ(indexed.second, 3 * indexed.first);
      if (++taken == kTaken) break;
    }
    EXPECT_EQ(taken, kTaken);
  });
}

TYPED_TEST(FaultInjectionTest, MapAsyncAndWhenAnySucceedOrThrow) {
  sweep<TypeParam>("map_async_when_any", kItems + kInputs, [](auto& pool, Ledger& ledger) {
    std::vector<std::size_t> inputs(kItems);
    std::iota(inputs.begin(), inputs.end(), std::size_t{0});
    auto mapped = map_async(pool, inputs, [&ledger](std::size_t i) {
      ledger.ran(i);
      return i + 1;
    });
    std::vector<Future<std::size_t>> futures;
    for (std::size_t i = 0; i < kInputs; ++i) {
      futures.push_back(pool.submit([&ledger, i] {
        ledger.ran(kItems + i);
        return i;
      }));
    }
    const auto first_done = when_any(std::move(futures)).get();
    EXPECT_EQ(first_done.first, first_done.second);
    const auto out = mapped.get();
    ASSERT_EQ(out.size(), kItems);
    for (std::size_t i = 0; i < kItems; ++i) EXPECT_EQ(out[i], i + 1);
  });
}

TYPED_TEST(FaultInjectionTest, BatchesSucceedOrThrow) {
  sweep<TypeParam>("submit_all_spawn_all", 2 * kInputs, [](auto& pool, Ledger& ledger) {
    std::vector<std::size_t> inputs(kInputs);
    std::iota(inputs.begin(), inputs.end(), std::size_t{0});
    auto futures = pool.submit_all(inputs, [&ledger](std::size_t i) {
      ledger.ran(i);
      return 2 * i;
    });
    pool.spawn_all(inputs, [&ledger](std::size_t i) { ledger.ran(kInputs + i); });
    for (std::size_t i = 0; i < kInputs; ++i) EXPECT_EQ(futures[i].get(), 2 * i);
    pool.wait_idle();
    EXPECT_TRUE(ledger.all_once());
  });
}

TYPED_TEST(FaultInjectionTest, PromiseContinuationsSucceedOrThrow) {
  sweep<TypeParam>("promise_then", 2, [](auto& pool, Ledger& ledger) {
    Promise<int> promise;
    auto doubled = promise.get_future().then(pool, [&ledger](int v) {
      ledger.ran(0);
      return 2 * v;
    });
    std::vector<Future<int>> both;
    both.push_back(std::move(doubled));
    both.push_back(pool.submit([&ledger] {
      ledger.ran(1);
      return 5;
    }));
    auto all = when_all(std::move(both));
    promise.set_value(21);
    const std::vector<int> values = all.get();
    EXPECT_EQ(values, (std::vector<int>{42, 5}));
  });
}

// Fork-join: join recursion and parallel_reduce (a SingleQueuePool queues each join's second
// half as a proxy, which it allocates, into its queue).
TYPED_TEST(FaultInjectionTest, JoinsAndReduceSucceedOrThrow) {
  sweep<TypeParam>("join_reduce", 1, [](auto& pool, Ledger& ledger) {
    const std::uint64_t sum = parallel_reduce(
        pool, std::size_t{0}, kItems, std::uint64_t{0},
        [](std::size_t i) { return static_cast<std::uint64_t>(i); },
        [](std::uint64_t a, std::uint64_t b) { return a + b; });
    EXPECT_EQ(sum, std::uint64_t{kItems} * (kItems - 1) / 2);
    const auto [left, right] = join(
        pool,
        [&ledger] {
          ledger.ran(0);
          return tree_sum(8);
        },
        [] { return tree_sum(8); });
    EXPECT_EQ(left + right, 2 * (std::uint64_t{1} << 8));
  });
}

// The same calls made from inside a task, so that the failing allocations happen on a worker:
// its deque grows (a TaskGroup of kSpawns), continuations and combinators are built there, and
// parallel_map splits there.
TYPED_TEST(FaultInjectionTest, CallsFromATaskSucceedOrThrow) {
  sweep<TypeParam>("nested", kSpawns + kInputs + kItems, [](auto& pool, Ledger& ledger) {
    auto outer = pool.submit([&pool, &ledger] {
      TaskGroup group(pool);
      for (std::size_t i = 0; i < kSpawns; ++i) group.spawn([&ledger, i] { ledger.ran(i); });
      std::vector<Future<std::size_t>> futures;
      for (std::size_t i = 0; i < kInputs; ++i) {
        futures.push_back(pool.submit([&ledger, i] {
                                ledger.ran(kSpawns + i);
                                return i;
                              })
                              .then([](std::size_t v) { return v + 1; }));
      }
      auto all = when_all(std::move(futures));
      std::vector<std::size_t> inputs(kItems);
      std::iota(inputs.begin(), inputs.end(), std::size_t{0});
      const auto mapped = parallel_map(pool, inputs, [&ledger](std::size_t i) {
        ledger.ran(kSpawns + kInputs + i);
        return i;
      });
      group.wait();
      std::size_t sum = std::accumulate(mapped.begin(), mapped.end(), std::size_t{0});
      for (const std::size_t v : all.get()) sum += v;
      return sum;
    });
    const std::size_t expected = kItems * (kItems - 1) / 2 + kInputs * (kInputs + 1) / 2;
    EXPECT_EQ(outer.get(), expected);
    EXPECT_TRUE(ledger.all_once());
  });
}

// Fire-and-forget spawns from a task: a spawn that cannot allocate throws in the spawning
// task, whose exception goes to on_error; every spawned task runs at most once.
TYPED_TEST(FaultInjectionTest, SpawnsFromATaskRunAtMostOnce) {
  sweep<TypeParam>("nested_spawn", kSpawns, [](auto& pool, Ledger& ledger) {
    auto outer = pool.submit([&pool, &ledger] {
      for (std::size_t i = 0; i < kSpawns; ++i) pool.spawn([&ledger, i] { ledger.ran(i); });
    });
    outer.get();
    pool.wait_idle();
    EXPECT_TRUE(ledger.all_once());
  });
}

// The constructor: every allocation the hook sees while a pool starts (its deques' rings, the
// first task) fails in turn; each gives a working pool or an exception from the constructor.
TYPED_TEST(FaultInjectionTest, ConstructorGivesAWorkingPoolOrThrows) {
  test::Watchdog watchdog("constructor", 600s);
  // Used from outside and from each worker (a worker of the lock-free queue queues through its
  // own producer token): two tasks that wait for each other run on the two workers at once.
  auto build_and_use = [] {
    auto pool = TypeParam::make(2);
    EXPECT_EQ(pool->submit([] { return 42; }).get(), 42);
    auto& used = *pool;
    std::latch both_running(2);
    auto from_worker = [&used, &both_running] {
      both_running.arrive_and_wait();
      return used.submit([] { return 43; }).get();
    };
    auto first = pool->submit(from_worker);
    Future<int> second;
    try {
      second = pool->submit(from_worker);
    } catch (...) {
      both_running.count_down();  // the first task goes on alone; it ends before the latch
      pool->wait_idle();
      throw;
    }
    // A get() that throws (a task's own submit failed) must not end this frame, and with it
    // the latch, while the other task may still be inside arrive_and_wait().
    int sum = 0;
    try {
      sum = first.get() + second.get();
    } catch (...) {
      pool->wait_idle();
      throw;
    }
    EXPECT_EQ(sum, 86);
    // Fresh workers: their first joins grow what records them.
    const auto [left, right] = join(
        used, [] { return tree_sum(6); }, [] { return tree_sum(6); });
    EXPECT_EQ(left + right, 128u);
    pool->shutdown();
  };
  SweepTally tally;
  {
    ScopedAllocationFault counting(AllocationFault{});
    build_and_use();
    tally.clean = counting.report().allocations;
  }
  ASSERT_GT(tally.clean, 0u);
  for (const std::uint64_t n : sweep_points(tally.clean, kConstructorSweepPoints)) {
    for (const bool keep_failing : {false, true}) {
      SCOPED_TRACE(testing::Message() << "allocation " << n << " of " << tally.clean
                                      << (keep_failing ? " and every later one" : "") << " fails");
      bool threw = false;
      detail::AllocationFaultReport report;
      {
        ScopedAllocationFault fault(AllocationFault{n, keep_failing});
        try {
          build_and_use();
        } catch (const std::bad_alloc&) {
          threw = true;
        } catch (const Error&) {
          threw = true;
        }
        report = fault.report();
      }
      ++tally.tried;
      ++(threw ? tally.threw : tally.succeeded);
      if (report.failures == 0) {
        EXPECT_FALSE(threw) << "threw without an injected failure";
      }
    }
  }
  // And a pool built afterwards works.
  build_and_use();
  print_tally("constructor", tally);
}

}  // namespace
}  // namespace forage
