// Long concurrent runs of fork-join: outside threads entering one pool with join(pool, a, b)
// over deep join trees, and TaskGroups whose tasks spawn into their own group (and nest
// groups and joins) while an outside thread waits. On 2 and 4 workers (4 oversubscribes the
// 2-core CI machines). Sizes shrink under sanitizers (test_support.hpp); a watchdog turns a
// hang into a failure; threads count into atomics and only the main thread asserts.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace forage {
namespace {

using namespace std::chrono_literals;

template <class System>
class ForkJoinStress : public ::testing::Test {};

using test::Systems;
TYPED_TEST_SUITE(ForkJoinStress, Systems);

// What the leaf for `id` returns.
using test::value_of;

// Visits ids [first, end) with nested joins, splitting a third / two thirds so that the tree
// is lopsided (deeper than a balanced one: ~log1.5(n) levels) and the forked half is the
// bigger one half the time. Each leaf marks its id; `throw_at` (if < end) throws instead.
std::uint64_t visit_range(std::size_t first, std::size_t end,
                          std::vector<std::atomic<std::uint32_t>>& marks, std::size_t throw_at,
                          int depth) {
  if (end - first == 1) {
    if (first == throw_at) throw std::runtime_error("leaf " + std::to_string(first));
    // relaxed: read by the main thread after the outside threads were joined.
    marks[first].fetch_add(1, std::memory_order_relaxed);
    return value_of(first);
  }
  const std::size_t third = first + (end - first) / 3;
  const std::size_t middle = third > first ? third : first + 1;
  const bool big_first = depth % 2 == 0;
  const std::size_t split = big_first ? end - (middle - first) : middle;
  auto [left, right] =
      forage::join([&] { return visit_range(first, split, marks, throw_at, depth + 1); },
                   [&] { return visit_range(split, end, marks, throw_at, depth + 1); });
  return left + right;
}

// A chain of `n` nested joins, the recursion alternating between the halves.
std::size_t chain(std::size_t n) {
  if (n == 0) return 0;
  if (n % 2 == 0) {
    auto [rest, one] = forage::join([n] { return chain(n - 1); }, [] { return std::size_t{1}; });
    return rest + one;
  }
  auto [one, rest] = forage::join([] { return std::size_t{1}; }, [n] { return chain(n - 1); });
  return one + rest;
}

TYPED_TEST(ForkJoinStress, OutsideThreadsJoinDeepTreesIntoOnePool) {
  static constexpr std::size_t kThreads = 4;
  static constexpr std::size_t kThrowEvery = 8;  // every 8th round has a leaf that throws
  static constexpr std::size_t kIdsPerThread = 2048;
  static constexpr std::size_t kChain = 300;
  const std::size_t rounds = test::scaled(1000);
  const std::uint64_t seed = test::test_seed();
  std::cout << "seed " << seed << "\n";

  for (std::size_t workers : {2, 4}) {
    auto pool = TypeParam::make(workers);
    test::Watchdog watchdog("outside threads joining deep trees", 300s);
    std::vector<std::atomic<std::uint32_t>> marks(kThreads * kIdsPerThread);
    std::atomic<std::size_t> wrong_sums{0};
    std::atomic<std::size_t> wrong_chains{0};
    std::atomic<std::size_t> wrong_errors{0};
    std::atomic<std::size_t> thrown{0};

    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        test::Jitter jitter(seed + t, 4);
        const std::size_t first = t * kIdsPerThread;
        const std::size_t end = first + kIdsPerThread;
        std::uint64_t expected = 0;
        for (std::size_t id = first; id < end; ++id) expected += value_of(id);
        for (std::size_t round = 0; round < rounds; ++round) {
          jitter();
          const bool throws = round % kThrowEvery == kThrowEvery - 1;
          // A throwing round marks its leaves in a scratch vector: which of them ran
          // before the throw is not specified.
          std::vector<std::atomic<std::uint32_t>> scratch(throws ? marks.size() : 0);
          const std::size_t throw_at = throws ? first + (seed + round * 7919) % kIdsPerThread : end;
          try {
            auto [sum, length] = forage::join(
                *pool,
                [&] { return visit_range(first, end, throws ? scratch : marks, throw_at, 0); },
                [] { return chain(kChain); });
            // relaxed (all): read by the main thread after joining this thread.
            if (throws) wrong_errors.fetch_add(1, std::memory_order_relaxed);
            if (sum != expected) wrong_sums.fetch_add(1, std::memory_order_relaxed);
            if (length != kChain) wrong_chains.fetch_add(1, std::memory_order_relaxed);
          } catch (const std::runtime_error& e) {
            thrown.fetch_add(1, std::memory_order_relaxed);
            if (!throws || e.what() != "leaf " + std::to_string(throw_at)) {
              wrong_errors.fetch_add(1, std::memory_order_relaxed);
            }
          }
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    watchdog.disarm();

    const std::size_t throwing_rounds = rounds / kThrowEvery;
    EXPECT_EQ(wrong_sums.load(std::memory_order_relaxed), 0u) << workers << " workers";
    EXPECT_EQ(wrong_chains.load(std::memory_order_relaxed), 0u) << workers << " workers";
    EXPECT_EQ(wrong_errors.load(std::memory_order_relaxed), 0u) << workers << " workers";
    EXPECT_EQ(thrown.load(std::memory_order_relaxed), kThreads * throwing_rounds);
    std::size_t wrong_marks = 0;
    for (const auto& mark : marks) {
      if (mark.load(std::memory_order_relaxed) != rounds - throwing_rounds) ++wrong_marks;
    }
    EXPECT_EQ(wrong_marks, 0u) << workers << " workers";
  }
}

// Task `id` of a group marks itself, then spawns tasks 2id+1 and 2id+2 into the same group
// (a heap-shaped tree over [0, total)). Every 64th task also waits for a nested group of
// four tasks, and every 97th runs a small join; task `throw_at` throws after spawning.
template <class PoolType>
struct GroupTree {
  PoolType& pool;
  TaskGroup& group;
  std::vector<std::atomic<std::uint32_t>>& marks;
  std::atomic<std::size_t>& nested;
  std::size_t total;
  std::size_t throw_at;

  void visit(std::size_t id) const {
    // relaxed (marks, nested): read after the group's wait().
    marks[id].fetch_add(1, std::memory_order_relaxed);
    for (std::size_t child = 2 * id + 1; child <= 2 * id + 2; ++child) {
      if (child < total) group.spawn([self = *this, child] { self.visit(child); });
    }
    if (id % 64 == 0) {
      TaskGroup inner(pool);
      for (int i = 0; i < 4; ++i) {
        inner.spawn([this] { nested.fetch_add(1, std::memory_order_relaxed); });
      }
      inner.wait();
    }
    if (id % 97 == 0) {
      auto [a, b] = forage::join([] { return 1; }, [] { return 2; });
      if (a + b == 3) nested.fetch_add(1, std::memory_order_relaxed);
    }
    if (id == throw_at) throw std::runtime_error("task " + std::to_string(id));
  }
};

TYPED_TEST(ForkJoinStress, TaskGroupsSpawnFromTheirOwnTasksWhileOutsideThreadsWait) {
  constexpr std::size_t kThreads = 3;
  constexpr std::size_t kRounds = 20;
  const std::size_t total = test::scaled(100'000);
  const std::uint64_t seed = test::test_seed();
  std::cout << "seed " << seed << "\n";
  // What the nested groups and joins of one tree add to `nested`.
  std::size_t nested_per_tree = 0;
  for (std::size_t id = 0; id < total; ++id) {
    nested_per_tree += (id % 64 == 0 ? 4 : 0) + (id % 97 == 0 ? 1 : 0);
  }

  for (std::size_t workers : {2, 4}) {
    auto pool = TypeParam::make(workers);
    using PoolType = typename TypeParam::PoolType;
    test::Watchdog watchdog("task groups spawning from their own tasks", 300s);
    std::vector<std::vector<std::atomic<std::uint32_t>>> marks;
    for (std::size_t t = 0; t < kThreads; ++t) marks.emplace_back(total);
    std::atomic<std::size_t> nested{0};
    std::atomic<std::size_t> wrong_errors{0};
    std::atomic<std::size_t> thrown{0};

    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        test::Jitter jitter(seed + t, 4);
        TaskGroup group(*pool);  // reused for every round
        for (std::size_t round = 0; round < kRounds; ++round) {
          jitter();
          const bool throws = round % 2 == 1;
          const std::size_t throw_at = throws ? (seed + round * 131) % total : total;
          const GroupTree<PoolType> tree{*pool, group, marks[t], nested, total, throw_at};
          group.spawn([tree] { tree.visit(0); });
          try {
            group.wait();
            // relaxed (both): read after joining this thread.
            if (throws) wrong_errors.fetch_add(1, std::memory_order_relaxed);
          } catch (const std::runtime_error& e) {
            thrown.fetch_add(1, std::memory_order_relaxed);
            if (!throws || e.what() != "task " + std::to_string(throw_at)) {
              wrong_errors.fetch_add(1, std::memory_order_relaxed);
            }
          }
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    watchdog.disarm();

    EXPECT_EQ(wrong_errors.load(std::memory_order_relaxed), 0u) << workers << " workers";
    EXPECT_EQ(thrown.load(std::memory_order_relaxed), kThreads * (kRounds / 2));
    EXPECT_EQ(nested.load(std::memory_order_relaxed), kThreads * kRounds * nested_per_tree);
    // A failing task does not stop the others: every task ran in every round.
    std::size_t wrong_marks = 0;
    for (const auto& thread_marks : marks) {
      for (const auto& mark : thread_marks) {
        if (mark.load(std::memory_order_relaxed) != kRounds) ++wrong_marks;
      }
    }
    EXPECT_EQ(wrong_marks, 0u) << workers << " workers";
  }
}

}  // namespace
}  // namespace forage
