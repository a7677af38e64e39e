// The soak (ctest label `soak`): 10^8 tasks on Pool{2} in the unsanitized builds (fewer under
// the sanitizers: FORAGE_SOAK_TASKS, set per preset in tests/CMakeLists.txt; the environment
// variable of the same name overrides it), from 3 outside threads that spawn, submit and
// spawn into TaskGroups, each root task splitting its range by nested spawns. Every task owns
// one id and sets that id's bit in a ledger; a bit found already set is a duplicate. The
// check at the end is per id, not a total: no bit unset, none set twice.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

#ifndef FORAGE_SOAK_TASKS
#define FORAGE_SOAK_TASKS 100000000
#endif

namespace forage {
namespace {

using namespace std::chrono_literals;

std::uint64_t soak_tasks() {
  if (const char* text = std::getenv("FORAGE_SOAK_TASKS")) return std::strtoull(text, nullptr, 10);
  return FORAGE_SOAK_TASKS;
}

// One bit per task id. Bits of neighbouring ids share a word, so the marks are atomic ORs; the
// old value says whether the bit was set before.
class Ledger {
 public:
  explicit Ledger(std::uint64_t ids) : words_((ids + 63) / 64), ids_(ids) {}

  void mark(std::uint64_t id) {
    const std::uint64_t bit = std::uint64_t{1} << (id % 64);
    // relaxed: the bits and the duplicate count are read on the main thread after
    // wait_idle(), which orders every task's run before its return.
    const std::uint64_t before = words_[id / 64].fetch_or(bit, std::memory_order_relaxed);
    if ((before & bit) != 0) duplicates_.fetch_add(1, std::memory_order_relaxed);
  }

  std::uint64_t duplicates() const { return duplicates_.load(std::memory_order_relaxed); }

  // The ids whose bit is unset; the first few of them in `first_missing`.
  std::uint64_t missing(std::vector<std::uint64_t>& first_missing) const {
    std::uint64_t unset = 0;
    for (std::uint64_t w = 0; w < words_.size(); ++w) {
      const std::uint64_t word = words_[w].load(std::memory_order_relaxed);
      const std::uint64_t ids_here = std::min<std::uint64_t>(64, ids_ - 64 * w);
      const std::uint64_t expected =
          ids_here == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << ids_here) - 1;
      if (word == expected) continue;
      unset += static_cast<std::uint64_t>(std::popcount(expected & ~word));
      for (std::uint64_t b = 0; b < ids_here && first_missing.size() < 8; ++b) {
        if ((word & (std::uint64_t{1} << b)) == 0) first_missing.push_back(64 * w + b);
      }
    }
    return unset;
  }

 private:
  std::vector<std::atomic<std::uint64_t>> words_;
  std::uint64_t ids_;
  std::atomic<std::uint64_t> duplicates_{0};
};

// The task for the ids [first, end): it marks `first`, then spawns the two halves of the rest
// onto its worker's deque (nested spawns, which idle workers steal).
struct RangeTask {
  Pool* pool;
  Ledger* ledger;
  std::uint64_t first;
  std::uint64_t end;

  void operator()() const {
    ledger->mark(first);
    const std::uint64_t rest = first + 1;
    if (rest == end) return;
    const std::uint64_t middle = rest + (end - rest) / 2;
    if (middle > rest) pool->spawn(RangeTask{pool, ledger, rest, middle});
    pool->spawn(RangeTask{pool, ledger, middle, end});
  }
};

TEST(Soak, TasksFromOutsideThreadsAndNestedSpawnsRunExactlyOnce) {
  const std::uint64_t total = soak_tasks();
  ASSERT_GT(total, 0u);
  constexpr std::uint64_t kRootSpan = 1 << 16;  // ids per root task
  constexpr int kOutsideThreads = 3;
  Pool pool({.workers = 2});
  Ledger ledger(total);
  std::cout << "[ soak     ] " << total << " tasks on " << pool.worker_count() << " workers\n";

  // The outside threads take root ranges from a shared cursor in turn; each spawns its first,
  // submits its second (keeping the future) and spawns its third into its own TaskGroup.
  std::atomic<std::uint64_t> cursor{0};
  std::atomic<std::uint64_t> failed_futures{0};
  test::Watchdog watchdog("soak", 540s);
  std::vector<std::thread> outside;
  for (int t = 0; t < kOutsideThreads; ++t) {
    outside.emplace_back([&] {
      TaskGroup group(pool);
      std::vector<Future<void>> futures;
      for (std::uint64_t turn = 0;; ++turn) {
        // relaxed: only hands out disjoint ranges; the tasks' effects are ordered by the pool.
        const std::uint64_t first = cursor.fetch_add(kRootSpan, std::memory_order_relaxed);
        if (first >= total) break;
        const RangeTask root{&pool, &ledger, first, std::min(total, first + kRootSpan)};
        switch (turn % 3) {
          case 0:
            pool.spawn(root);
            break;
          case 1:
            futures.push_back(pool.submit(root));
            break;
          default:
            group.spawn(root);
            break;
        }
      }
      group.wait();
      for (Future<void>& future : futures) {
        try {
          future.get();
        } catch (...) {
          failed_futures.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  for (std::thread& thread : outside) thread.join();
  pool.wait_idle();
  watchdog.disarm();

  std::vector<std::uint64_t> first_missing;
  const std::uint64_t missing = ledger.missing(first_missing);
  EXPECT_EQ(missing, 0u) << "ids never run, e.g. " << ::testing::PrintToString(first_missing);
  EXPECT_EQ(ledger.duplicates(), 0u) << "ids run more than once";
  EXPECT_EQ(failed_futures.load(std::memory_order_relaxed), 0u);
  EXPECT_EQ(pool.stats().executed(), total);
}

}  // namespace
}  // namespace forage
