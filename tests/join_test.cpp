// join(a, b), join(pool, a, b) and TaskGroup on the three schedulers: results, where the halves
// run, exceptions, shutdown, recursion depth, allocations per join, and the group's lifetime.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "future_test_support.hpp"
#include "test_support.hpp"

// --- Counting allocator -----------------------------------------------------------------------
//
// Replaces the global operator new so that a test can count the heap allocations made (by any
// thread) while g_counting is set. Outside that window it only forwards to malloc, so the
// other tests of this executable are not affected.

namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_allocations{0};

void* counted_allocation(std::size_t size, std::size_t alignment) {
  // relaxed (both): the count is read by the thread that set g_counting, after every thread
  // it counts has synchronized with it (the join returned).
  if (g_counting.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (size == 0) size = 1;
  void* memory = nullptr;
  if (alignment <= alignof(std::max_align_t)) {
    memory = std::malloc(size);
  } else {
    // aligned_alloc wants the size to be a multiple of the alignment.
    memory = std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
  }
  if (memory == nullptr) throw std::bad_alloc();
  return memory;
}

// Out of line: inlined into a delete expression, free() on memory from a new expression
// trips g++'s -Wmismatched-new-delete, which cannot see that this operator new used malloc.
[[gnu::noinline]] void release(void* memory) noexcept { std::free(memory); }
}  // namespace

void* operator new(std::size_t size) { return counted_allocation(size, 0); }
void* operator new(std::size_t size, std::align_val_t alignment) {
  return counted_allocation(size, static_cast<std::size_t>(alignment));
}
void operator delete(void* memory) noexcept { release(memory); }
void operator delete(void* memory, std::size_t) noexcept { release(memory); }
void operator delete(void* memory, std::align_val_t) noexcept { release(memory); }
void operator delete(void* memory, std::size_t, std::align_val_t) noexcept { release(memory); }

namespace forage {
namespace {

using namespace test;  // the helpers of test_support.hpp and future_test_support.hpp

using JoinFixture = WatchedTest;

template <class System>
class JoinTest : public JoinFixture {};
template <class System>
class TaskGroupTest : public JoinFixture {};

TYPED_TEST_SUITE(JoinTest, Systems);
TYPED_TEST_SUITE(TaskGroupTest, Systems);

// Runs fn() as a task of `pool` and returns its result: the test body of a join "on a worker".
template <class PoolType, class F>
auto on_worker(PoolType& pool, F fn) {
  return pool.submit(std::move(fn)).get();
}

std::uint64_t fib(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  auto [x, y] = forage::join([n] { return fib(n - 1); }, [n] { return fib(n - 2); });
  return x + y;
}

constexpr std::uint64_t fib_expected(int n) {
  std::uint64_t a = 0;
  std::uint64_t b = 1;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t next = a + b;
    a = b;
    b = next;
  }
  return a;
}

// A linear chain of `n` nested joins; the recursion is in the first half (runs inline) or in
// the second (the forked task: taken back on Pool, queued and helped on SingleQueuePool).
std::size_t chain_in_first(std::size_t n) {
  if (n == 0) return 0;
  auto [rest, one] =
      forage::join([n] { return chain_in_first(n - 1); }, [] { return std::size_t{1}; });
  return rest + one;
}
std::size_t chain_in_second(std::size_t n) {
  if (n == 0) return 0;
  auto [one, rest] =
      forage::join([] { return std::size_t{1}; }, [n] { return chain_in_second(n - 1); });
  return one + rest;
}

// An exception type whose live objects are counted, to see which of a group's exceptions
// are still held somewhere.
class CountedError : public std::runtime_error {
 public:
  explicit CountedError(const std::string& what) : std::runtime_error(what) { live.fetch_add(1); }
  CountedError(const CountedError& other) : std::runtime_error(other) { live.fetch_add(1); }
  CountedError& operator=(const CountedError&) = delete;
  ~CountedError() override { live.fetch_sub(1); }

  static inline std::atomic<int> live{0};
};

// --- join: results ----------------------------------------------------------------------------

TYPED_TEST(JoinTest, ReturnsBothResultsAsAPair) {
  auto pool = TypeParam::make(2);
  auto result = on_worker(
      *pool, [] { return forage::join([] { return 6; }, [] { return std::string("seven"); }); });
  static_assert(std::is_same_v<decltype(result), std::pair<int, std::string>>);
  EXPECT_EQ(result.first, 6);
  EXPECT_EQ(result.second, "seven");
}

TYPED_TEST(JoinTest, VoidHalvesGiveMonostateAndBothRun) {
  auto pool = TypeParam::make(2);
  std::atomic<int> ran{0};
  auto result = on_worker(*pool, [&ran] {
    // relaxed: the join's return orders both halves before the future's completion.
    auto both_void = forage::join([&ran] { ran.fetch_add(1, std::memory_order_relaxed); },
                                  [&ran] { ran.fetch_add(10, std::memory_order_relaxed); });
    static_assert(std::is_same_v<decltype(both_void), std::pair<std::monostate, std::monostate>>);
    return forage::join([] { return 1; }, [] {});
  });
  static_assert(std::is_same_v<decltype(result), std::pair<int, std::monostate>>);
  EXPECT_EQ(result.first, 1);
  // relaxed: get() ordered the tasks' writes.
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 11);
}

TYPED_TEST(JoinTest, MoveOnlyResultsAreMovedOut) {
  auto pool = TypeParam::make(2);
  auto result = on_worker(*pool, [] {
    return forage::join([] { return std::make_unique<int>(1); },
                        [] { return std::make_unique<std::string>("two"); });
  });
  static_assert(std::is_same_v<decltype(result),
                               std::pair<std::unique_ptr<int>, std::unique_ptr<std::string>>>);
  ASSERT_NE(result.first, nullptr);
  ASSERT_NE(result.second, nullptr);
  EXPECT_EQ(*result.first, 1);
  EXPECT_EQ(*result.second, "two");
}

TYPED_TEST(JoinTest, ReferenceResultsAreCopied) {
  auto pool = TypeParam::make(2);
  auto result = on_worker(*pool, [] {
    int left = 1;
    std::string right = "r";
    auto pair = forage::join([&left]() -> int& { return left; },
                             [&right]() -> const std::string& { return right; });
    static_assert(std::is_same_v<decltype(pair), std::pair<int, std::string>>);
    left = 100;  // the pair holds copies: these changes must not show in it
    right = "changed";
    return pair;
  });
  EXPECT_EQ(result.first, 1);
  EXPECT_EQ(result.second, "r");
}

TYPED_TEST(JoinTest, BothHalvesRunOnTheCallingPoolsWorkers) {
  WorkerThreads threads;
  auto pool = TypeParam::make(2, threads.options());
  const auto ids = on_worker(*pool, [] {
    return forage::join([] { return std::this_thread::get_id(); },
                        [] { return std::this_thread::get_id(); });
  });
  EXPECT_TRUE(threads.contains(ids.first));
  EXPECT_TRUE(threads.contains(ids.second));
}

TYPED_TEST(JoinTest, JoinWithPoolFromOutsideRunsBothHalvesOnItsWorkers) {
  WorkerThreads threads;
  auto pool = TypeParam::make(2, threads.options());
  const auto ids = forage::join(
      *pool, [] { return std::this_thread::get_id(); }, [] { return std::this_thread::get_id(); });
  EXPECT_NE(ids.first, std::this_thread::get_id());
  EXPECT_TRUE(threads.contains(ids.first));
  EXPECT_TRUE(threads.contains(ids.second));
  auto values = forage::join(
      *pool, [] { return std::make_unique<int>(3); }, [] {});
  static_assert(std::is_same_v<decltype(values), std::pair<std::unique_ptr<int>, std::monostate>>);
  ASSERT_NE(values.first, nullptr);
  EXPECT_EQ(*values.first, 3);
}

TYPED_TEST(JoinTest, JoinWithPoolOnItsOwnWorkerRunsTheFirstHalfOnTheCaller) {
  auto pool = TypeParam::make(2);
  auto& target = *pool;
  const bool same_thread = on_worker(*pool, [&target] {
    const std::thread::id caller = std::this_thread::get_id();
    return forage::join(
               target, [] { return std::this_thread::get_id(); }, [] {})
               .first == caller;
  });
  EXPECT_TRUE(same_thread);
}

TYPED_TEST(JoinTest, JoinWithAnotherPoolFromAWorkerRunsOnThatPool) {
  WorkerThreads outer_threads;
  WorkerThreads inner_threads;
  auto outer = TypeParam::make(1, outer_threads.options());
  auto inner = TypeParam::make(2, inner_threads.options());
  auto& target = *inner;
  const auto ids = on_worker(*outer, [&target] {
    return forage::join(
        target, [] { return std::this_thread::get_id(); },
        [] { return std::this_thread::get_id(); });
  });
  EXPECT_TRUE(inner_threads.contains(ids.first));
  EXPECT_TRUE(inner_threads.contains(ids.second));
  EXPECT_FALSE(outer_threads.contains(ids.first));
}

TEST_F(JoinFixture, JoinOutsideAnyWorkerThrowsInvalidArgumentNamingJoinWithPool) {
  std::atomic<bool> ran{false};
  // relaxed: both callables would run on this thread, if at all.
  const std::string message = message_of<InvalidArgument>([&ran] {
    (void)forage::join([&ran] { ran.store(true, std::memory_order_relaxed); },
                       [&ran] { ran.store(true, std::memory_order_relaxed); });
  });
  EXPECT_NE(message.find("join(pool, a, b)"), std::string::npos) << message;
  EXPECT_FALSE(ran.load(std::memory_order_relaxed));
}

TYPED_TEST(JoinTest, JoinWithPoolAfterShutdownThrowsPoolClosed) {
  auto pool = TypeParam::make(2);
  pool->shutdown();
  std::atomic<bool> ran{false};
  // relaxed: read after the call, on this thread; a worker would have had to run it first.
  EXPECT_THROW((void)forage::join(
                   *pool, [&ran] { ran.store(true, std::memory_order_relaxed); },
                   [&ran] { ran.store(true, std::memory_order_relaxed); }),
               PoolClosed);
  EXPECT_FALSE(ran.load(std::memory_order_relaxed));
}

// --- join: exceptions ---------------------------------------------------------------------------

TYPED_TEST(JoinTest, SecondHalfExceptionIsRethrownAfterTheFirstHalfRan) {
  for (std::size_t workers : {1, 2}) {
    auto pool = TypeParam::make(workers);
    std::atomic<bool> first_ran{false};
    const std::string message = message_of<std::runtime_error>([&] {
      (void)forage::join(
          *pool,
          [&first_ran] {
            // relaxed: read after the join returned, which ordered this half.
            first_ran.store(true, std::memory_order_relaxed);
            return 1;
          },
          []() -> int { throw std::runtime_error("second"); });
    });
    EXPECT_EQ(message, "second") << workers << " workers";
    EXPECT_TRUE(first_ran.load(std::memory_order_relaxed)) << workers << " workers";
  }
}

TYPED_TEST(JoinTest, FirstHalfExceptionIsRethrownOnlyAfterAStartedSecondHalfFinished) {
  auto pool = TypeParam::make(2);
  std::atomic<bool> second_started{false};
  std::atomic<bool> first_threw{false};
  std::atomic<bool> second_finished{false};
  const std::string message = message_of<std::runtime_error>([&] {
    (void)forage::join(
        *pool,
        [&]() -> int {
          // The other worker takes the forked half (stolen, or from the shared queue); wait
          // until it is running, so that it cannot be skipped.
          // acquire/release (all three flags): plain hand-offs between the two halves.
          while (!second_started.load(std::memory_order_acquire)) std::this_thread::yield();
          first_threw.store(true, std::memory_order_release);
          throw std::runtime_error("first");
        },
        [&] {
          second_started.store(true, std::memory_order_release);
          while (!first_threw.load(std::memory_order_acquire)) std::this_thread::yield();
          // Still busy after the first half threw: a join that rethrew at once would be seen
          // returning before this store.
          for (int i = 0; i < 1000; ++i) std::this_thread::yield();
          second_finished.store(true, std::memory_order_release);
        });
  });
  EXPECT_EQ(message, "first");
  EXPECT_TRUE(second_finished.load(std::memory_order_acquire));
}

TYPED_TEST(JoinTest, FirstHalfExceptionWinsWhenBothHalvesThrow) {
  // Two workers: the second half is surely started (and throws) before the first throws.
  {
    auto pool = TypeParam::make(2);
    std::atomic<bool> second_started{false};
    const std::string message = message_of<std::runtime_error>([&] {
      (void)forage::join(
          *pool,
          [&] {
            // acquire/release: a plain hand-off between the halves.
            while (!second_started.load(std::memory_order_acquire)) std::this_thread::yield();
            throw std::runtime_error("first");
          },
          [&] {
            second_started.store(true, std::memory_order_release);
            throw std::runtime_error("second");
          });
    });
    EXPECT_EQ(message, "first");
  }
  // One worker: the second half either never starts (Pool takes it back and skips it) or runs
  // after the first half threw (SingleQueuePool waits for it in the queue).
  {
    auto pool = TypeParam::make(1);
    const std::string message = message_of<std::runtime_error>([&] {
      (void)forage::join(
          *pool, [] { throw std::runtime_error("first"); },
          [] { throw std::runtime_error("second"); });
    });
    EXPECT_EQ(message, "first");
  }
}

TYPED_TEST(JoinTest, SecondHalfIsSkippedOrFinishedWhenTheFirstThrew) {
  for (std::size_t workers : {1, 2, 3}) {
    auto pool = TypeParam::make(workers);
    for (int round = 0; round < 200; ++round) {
      std::atomic<int> started{0};
      std::atomic<int> finished{0};
      EXPECT_THROW((void)forage::join(
                       *pool, [] { throw std::runtime_error("first"); },
                       [&] {
                         // relaxed (both): read after the join, which ordered this half.
                         started.fetch_add(1, std::memory_order_relaxed);
                         for (int i = 0; i < 10; ++i) std::this_thread::yield();
                         finished.fetch_add(1, std::memory_order_relaxed);
                       }),
                   std::runtime_error);
      ASSERT_EQ(started.load(std::memory_order_relaxed), finished.load(std::memory_order_relaxed))
          << workers << " workers, round " << round;
      ASSERT_LE(started.load(std::memory_order_relaxed), 1);
    }
  }
}

TEST_F(JoinFixture, SecondHalfNeverRunsOnAOneWorkerPoolWhenTheFirstThrew) {
  // Nobody can take the forked half from the only worker: it is taken back unstarted, and
  // skipped.
  auto pool = test::WorkStealing::make(1);
  std::atomic<int> second_ran{0};
  for (int round = 0; round < 100; ++round) {
    EXPECT_THROW((void)forage::join(
                     *pool, [] { throw std::runtime_error("first"); },
                     // relaxed: read after the joins, which ordered this half.
                     [&second_ran] { second_ran.fetch_add(1, std::memory_order_relaxed); }),
                 std::runtime_error);
  }
  EXPECT_EQ(second_ran.load(std::memory_order_relaxed), 0);
  // The same inside a task, with plain join.
  const int inside = on_worker(*pool, [] {
    int ran = 0;
    try {
      (void)forage::join([] { throw std::runtime_error("first"); }, [&ran] { ++ran; });
    } catch (const std::runtime_error&) {
    }
    return ran;
  });
  EXPECT_EQ(inside, 0);
}

// --- join: recursion ----------------------------------------------------------------------------

TYPED_TEST(JoinTest, RecursiveFibonacciIsCorrectOnOneTwoAndThreeWorkers) {
  // fib(n) is fib(n + 1) - 1 joins: 121k for fib(25).
  constexpr int largest = 25;
  for (std::size_t workers : {1, 2, 3}) {
    auto pool = TypeParam::make(workers);
    for (int n = largest - 5; n <= largest; ++n) {
      const auto result = forage::join(
          *pool, [n] { return fib(n); }, [] {});
      EXPECT_EQ(result.first, fib_expected(n)) << "fib(" << n << ") on " << workers << " workers";
    }
  }
}

// Fills *lowest with the lowest address of fib's frames on this thread.
std::uint64_t probed_fib(int n, std::uintptr_t* lowest) {
  const char probe = 0;
  *lowest = std::min(*lowest, reinterpret_cast<std::uintptr_t>(&probe));
  if (n < 2) return static_cast<std::uint64_t>(n);
  auto [x, y] = forage::join([n, lowest] { return probed_fib(n - 1, lowest); },
                             [n, lowest] { return probed_fib(n - 2, lowest); });
  return x + y;
}

// Bytes of stack fib(n) used on a pool with one worker (where every frame of it runs).
template <class PoolType>
std::size_t fib_stack_use(PoolType& pool, int n) {
  return on_worker(pool, [n] {
    const char top = 0;
    std::uintptr_t lowest = reinterpret_cast<std::uintptr_t>(&top);
    EXPECT_EQ(probed_fib(n, &lowest), fib_expected(n));
    return static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(&top) - lowest);
  });
}

TYPED_TEST(JoinTest, StackUseOnOneWorkerGrowsWithJoinDepthNotWithJoinCount) {
  // fib(12): 12 levels, 232 joins; fib(18): 18 levels, 4180 joins. A joiner that waits for
  // its own forked half only (or runs it itself) nests one join per level; one that runs
  // unrelated queued subtrees inside its wait nests them all and overflows on big trees.
  // Fails on SingleQueuePool (reported): its join never takes the forked half back, and the
  // waiting joiner runs the oldest queued task, so fib(27) overflows a 64 MiB stack there.
  auto pool = TypeParam::make(1);
  const std::size_t shallow = fib_stack_use(*pool, 12);
  const std::size_t deep = fib_stack_use(*pool, 18);
  EXPECT_LT(deep, 2 * shallow) << "stack bytes: fib(12) " << shallow << ", fib(18) " << deep;
}

TYPED_TEST(JoinTest, LinearChainOfTenThousandJoinsRunsOnOneWorker) {
  // 10^4 nested joins, each frame on the one worker's stack (64 MiB by default).
  static constexpr std::size_t kDepth = 10'000;
  auto pool = TypeParam::make(1);
  EXPECT_EQ(on_worker(*pool, [] { return chain_in_first(kDepth); }), kDepth);
  EXPECT_EQ(on_worker(*pool, [] { return chain_in_second(kDepth); }), kDepth);
}

// --- join: costs and statistics -----------------------------------------------------------------

TEST_F(JoinFixture, AllocationCounterSeesTheLibrarysAllocations) {
  // The test below can only fail if the counter sees allocations made inside the library.
  auto pool = test::WorkStealing::make(1);
  const std::size_t allocations = on_worker(*pool, [&pool] {
    TaskGroup group(*pool);
    // relaxed (all): this thread sets and reads the count; the task ran before wait() returned.
    g_allocations.store(0, std::memory_order_relaxed);
    g_counting.store(true, std::memory_order_relaxed);
    // Larger than the block allocator's largest class, so its block comes from operator new
    // (a small one may come from a cache the library filled earlier).
    group.spawn([padding = std::array<char, 1024>{}] { static_cast<void>(padding); });
    group.wait();
    g_counting.store(false, std::memory_order_relaxed);
    return g_allocations.load(std::memory_order_relaxed);
  });
  EXPECT_GE(allocations, 1u);
}

TEST_F(JoinFixture, JoinAllocatesNothingInSteadyState) {
  for (std::size_t workers : {1, 2}) {
    auto pool = test::WorkStealing::make(workers);
    const auto [result, allocations] = on_worker(*pool, [] {
      (void)fib(20);  // warm-up: the deque and any lazily created per-thread state
      // relaxed (all): every half the count covers finished before fib(20) returned here.
      g_allocations.store(0, std::memory_order_relaxed);
      g_counting.store(true, std::memory_order_relaxed);
      const std::uint64_t value = fib(20);
      g_counting.store(false, std::memory_order_relaxed);
      return std::pair(value, g_allocations.load(std::memory_order_relaxed));
    });
    EXPECT_EQ(result, fib_expected(20));
    EXPECT_EQ(allocations, 0u) << "heap allocations during fib(20) (10945 joins) on " << workers
                               << " workers";
  }
}

TEST_F(JoinFixture, StatsShowStealsForABigJoinTreeOnTwoWorkers) {
  auto pool = test::WorkStealing::make(2);
  // Whether the idle worker steals in one given run is up to the OS scheduler; across many
  // runs of a tree of 28k joins it surely does (if thieves can steal forked halves at all).
  for (int round = 0; round < 200 && pool->stats().stolen() == 0; ++round) {
    const auto result = forage::join(
        *pool, [] { return fib(21); }, [] { return fib(20); });
    ASSERT_EQ(result.first + result.second, fib_expected(22));
  }
  EXPECT_GT(pool->stats().stolen(), 0u);
}

// --- TaskGroup ----------------------------------------------------------------------------------

TYPED_TEST(TaskGroupTest, EverySpawnedTaskRunsExactlyOnce) {
  constexpr std::size_t kTasks = 1000;
  for (std::size_t workers : {1, 3}) {
    auto pool = TypeParam::make(workers);
    std::vector<std::atomic<int>> runs(kTasks);
    TaskGroup group(*pool);
    for (std::size_t i = 0; i < kTasks; ++i) {
      // relaxed: read after wait(), which ordered every task.
      group.spawn([&runs, i] { runs[i].fetch_add(1, std::memory_order_relaxed); });
    }
    group.wait();
    for (std::size_t i = 0; i < kTasks; ++i) {
      ASSERT_EQ(runs[i].load(std::memory_order_relaxed), 1) << "task " << i;
    }
  }
}

TYPED_TEST(TaskGroupTest, WaitInsideATaskOnAOneWorkerPoolRunsTheGroupsTasks) {
  auto pool = TypeParam::make(1);
  auto& target = *pool;
  const int sum = on_worker(*pool, [&target] {
    std::atomic<int> total{0};
    TaskGroup group(target);
    for (int i = 1; i <= 100; ++i) {
      // relaxed: read after wait().
      group.spawn([&total, i] { total.fetch_add(i, std::memory_order_relaxed); });
    }
    group.wait();  // the only worker is this one: it must run them itself
    return total.load(std::memory_order_relaxed);
  });
  EXPECT_EQ(sum, 5050);
}

// A tree of nested groups: each node's task waits for its own group of `fanout` children.
template <class PoolType>
void nested_groups(PoolType& pool, int depth, int fanout, std::atomic<int>& nodes) {
  // relaxed: read after the root's wait(), which all waits below happen-before.
  nodes.fetch_add(1, std::memory_order_relaxed);
  if (depth == 0) return;
  TaskGroup group(pool);
  for (int i = 0; i < fanout; ++i) {
    group.spawn([&pool, depth, fanout, &nodes] { nested_groups(pool, depth - 1, fanout, nodes); });
  }
  group.wait();
}

TYPED_TEST(TaskGroupTest, NestedGroupsRunEveryTaskOnOneAndTwoWorkers) {
  for (std::size_t workers : {1, 2}) {
    auto pool = TypeParam::make(workers);
    std::atomic<int> nodes{0};
    TaskGroup root(*pool);
    auto& target = *pool;
    root.spawn([&target, &nodes] { nested_groups(target, 5, 4, nodes); });
    root.wait();
    // 1 + 4 + ... + 4^5 nodes.
    EXPECT_EQ(nodes.load(std::memory_order_relaxed), 1365) << workers << " workers";
  }
}

TYPED_TEST(TaskGroupTest, WaitRethrowsOneExceptionDropsTheRestAndEveryTaskRan) {
  constexpr int kTasks = 100;
  auto pool = TypeParam::make(3);
  std::atomic<int> ran{0};
  {
    TaskGroup group(*pool);
    for (int i = 0; i < kTasks; ++i) {
      group.spawn([&ran, i] {
        // relaxed: read after wait().
        ran.fetch_add(1, std::memory_order_relaxed);
        if (i % 10 == 0) throw CountedError("task " + std::to_string(i));
      });
    }
    try {
      group.wait();
      ADD_FAILURE() << "wait() did not rethrow";
    } catch (const CountedError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("task ", 0), 0u) << e.what();
      // Only the one being handled is alive: the nine others were dropped.
      EXPECT_EQ(CountedError::live.load(), 1);
    }
    EXPECT_EQ(ran.load(std::memory_order_relaxed), kTasks);
    EXPECT_NO_THROW(group.wait()) << "a dropped exception came back";
  }
  EXPECT_EQ(CountedError::live.load(), 0);
}

TYPED_TEST(TaskGroupTest, WaitRethrowsTheFirstExceptionThrown) {
  // One worker: the task spawned from inside the first one runs only after the first threw.
  auto pool = TypeParam::make(1);
  TaskGroup group(*pool);
  group.spawn([&group] {
    group.spawn([] { throw std::runtime_error("second"); });
    throw std::runtime_error("first");
  });
  let_workers_release(*pool);
  EXPECT_EQ(message_of<std::runtime_error>([&group] { group.wait(); }), "first");
}

TYPED_TEST(TaskGroupTest, GroupIsReusableAfterWait) {
  auto pool = TypeParam::make(2);
  std::atomic<int> ran{0};
  TaskGroup group(*pool);
  // relaxed (all): read after wait().
  group.spawn([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  group.wait();
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 1);
  group.spawn([] { throw std::runtime_error("boom"); });
  EXPECT_THROW(group.wait(), std::runtime_error);
  for (int i = 0; i < 10; ++i) group.spawn([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  EXPECT_NO_THROW(group.wait()) << "the earlier exception was reported again";
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 11);
  group.wait();  // nothing pending: returns at once
}

TYPED_TEST(TaskGroupTest, DestructorWaitsForTasksUsingTheEnclosingFrame) {
  constexpr int kTasks = 16;
  auto pool = TypeParam::make(2);
  std::atomic<int> finished{0};
  {
    std::array<int, kTasks> on_stack{};
    std::latch gate(1);
    TaskGroup group(*pool);
    for (int i = 0; i < kTasks; ++i) {
      group.spawn([&on_stack, &gate, &finished, i] {
        gate.wait();
        on_stack[static_cast<std::size_t>(i)] = i;
        // relaxed: read after the scope ended, which the group's destructor orders.
        finished.fetch_add(1, std::memory_order_relaxed);
      });
    }
    // Destroyed before the group: the tasks are released only as the scope ends, so only a
    // destructor that waits sees them all finish.
    struct OpenAtScopeExit {
      std::latch& gate;
      ~OpenAtScopeExit() { gate.count_down(); }
    } open_at_exit{gate};
  }
  EXPECT_EQ(finished.load(std::memory_order_relaxed), kTasks);
}

TYPED_TEST(TaskGroupTest, DestructorSendsAnUncollectedExceptionToOnError) {
  std::mutex mutex;
  std::vector<std::string> reports;
  PoolOptions options;
  options.on_error = [&](std::exception_ptr error) {
    std::lock_guard lock(mutex);
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      reports.emplace_back(e.what());
    }
  };
  auto pool = TypeParam::make(2, std::move(options));
  {
    TaskGroup group(*pool);
    group.spawn([] { throw std::runtime_error("never collected"); });
  }
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0], "never collected");
  }
  {
    // Collected by wait(): nothing left for the destructor to report.
    TaskGroup group(*pool);
    group.spawn([] { throw std::runtime_error("collected"); });
    EXPECT_THROW(group.wait(), std::runtime_error);
  }
  pool->shutdown();
  std::lock_guard lock(mutex);
  EXPECT_EQ(reports.size(), 1u);
}

TYPED_TEST(TaskGroupTest, SpawnOfAnEmptyCallableThrowsInvalidArgument) {
  auto pool = TypeParam::make(1);
  TaskGroup group(*pool);
  std::function<void()> empty;
  const std::string message = message_of<InvalidArgument>([&] { group.spawn(empty); });
  EXPECT_NE(message.find("TaskGroup::spawn"), std::string::npos) << message;
  void (*null_function)() = nullptr;
  EXPECT_THROW(group.spawn(null_function), InvalidArgument);
  EXPECT_NO_THROW(group.wait());
  std::atomic<bool> ran{false};
  // relaxed: read after wait().
  group.spawn([&ran] { ran.store(true, std::memory_order_relaxed); });
  group.wait();
  EXPECT_TRUE(ran.load(std::memory_order_relaxed));
}

TYPED_TEST(TaskGroupTest, SpawnAfterShutdownThrowsPoolClosedAndWaitDoesNotThrow) {
  auto pool = TypeParam::make(2);
  TaskGroup group(*pool);
  std::atomic<int> ran{0};
  // relaxed (both): read after shutdown() joined the workers.
  group.spawn([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  pool->shutdown();
  EXPECT_THROW(group.spawn([&ran] { ran.fetch_add(1, std::memory_order_relaxed); }), PoolClosed);
  EXPECT_NO_THROW(group.wait()) << "the refused task was reported again by wait()";
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 1);
}

TYPED_TEST(TaskGroupTest, CancelPendingDroppingGroupTasksMakesWaitThrowCancelled) {
  constexpr int kTasks = 10;
  GatedPool<TypeParam> pool(1);
  pool.block_workers();
  std::atomic<int> ran{0};
  TaskGroup group(*pool);
  for (int i = 0; i < kTasks; ++i) {
    // relaxed: read after the stopper's shutdown() joined the worker.
    group.spawn([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  }
  std::thread stopper([&pool] { pool->shutdown(Shutdown::cancel_pending); });
  // Release the worker only once the shutdown has begun: every group task is still queued.
  while (!pool->closed()) std::this_thread::yield();
  pool.open();
  stopper.join();
  const std::string message = message_of<Cancelled>([&group] { group.wait(); });
  EXPECT_NE(message.find("cancel_pending"), std::string::npos) << message;
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 0);
  EXPECT_NO_THROW(group.wait()) << "the cancellation was reported twice";
}

}  // namespace
}  // namespace forage
