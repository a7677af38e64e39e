// The block allocator (forage/detail/block_alloc.hpp, lib/alloc/): size classes, alignment,
// blocks coming back to the thread that frees them and from there to whichever thread
// allocates, thread exit, and a producer/consumer pattern that must not keep asking the system
// for blocks. White-box: the counters and per-class figures come from lib/alloc/.
#include "forage/detail/block_alloc.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "alloc/central_list.hpp"
#include "alloc/size_classes.hpp"
#include "alloc/thread_cache.hpp"
#include "forage/forage.hpp"

#if FORAGE_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace forage {
namespace {

using detail::rt::allocate_block;
using detail::rt::free_block;
namespace alloc = detail::alloc;

bool aligned_to(const void* block, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(block) % alignment == 0;
}

std::uint64_t system_blocks_taken() { return alloc::allocator_counts().blocks_from_system; }

TEST(BlockAllocSizeClasses, EverySizeGetsTheSmallestClassThatHoldsIt) {
  for (std::size_t size = 0; size <= alloc::kLargestClass; ++size) {
    const std::size_t size_class = alloc::class_of(size);
    ASSERT_LT(size_class, alloc::kClassCount);
    EXPECT_GE(alloc::class_size(size_class), size);
    if (size_class > 0) {
      EXPECT_LT(alloc::class_size(size_class - 1), size);
    }
  }
  EXPECT_EQ(alloc::class_of(1), 0u);
  EXPECT_EQ(alloc::class_of(33), 1u);
  EXPECT_EQ(alloc::class_size(alloc::class_of(alloc::kLargestClass)), alloc::kLargestClass);
}

TEST(BlockAlloc, BlocksAreAlignedForAnyScalarAndOverAlignedRequestsAreHonoured) {
  std::vector<std::pair<void*, std::size_t>> blocks;
  for (std::size_t size = 1; size <= 2 * alloc::kLargestClass; size += 7) {
    void* block = allocate_block(size);
    EXPECT_TRUE(aligned_to(block, alignof(std::max_align_t))) << size;
    blocks.emplace_back(block, size);
  }
  for (auto [block, size] : blocks) free_block(block, size);
  for (const std::size_t alignment : {64u, 128u, 4096u}) {
    void* block = allocate_block(100, alignment);
    EXPECT_TRUE(aligned_to(block, alignment)) << alignment;
    free_block(block, 100, alignment);
  }
}

TEST(BlockAlloc, AFreedBlockIsTheNextOneItsThreadGets) {
  void* first = allocate_block(40);
  free_block(first, 40);
  void* again = allocate_block(48);  // same class (48)
  EXPECT_EQ(again, first);
  free_block(again, 48);
}

TEST(BlockAlloc, LargeBlocksBypassTheCaches) {
  const std::uint64_t before = system_blocks_taken();
  void* block = allocate_block(alloc::kLargestClass + 1);
  EXPECT_EQ(system_blocks_taken(), before);  // ::operator new, not a class block
  free_block(block, alloc::kLargestClass + 1);
}

struct Small final : detail::BlockAllocated {
  char bytes[24];
};
struct alignas(128) OverAligned final : detail::BlockAllocated {
  char bytes[8];
};

TEST(BlockAlloc, NewAndDeleteOfABlockAllocatedClassUseTheCache) {
  auto* first = new Small;
  delete first;
  auto* second = new Small;
  EXPECT_EQ(static_cast<void*>(second), static_cast<void*>(first));
  delete second;
  auto* aligned = new OverAligned;
  EXPECT_TRUE(aligned_to(aligned, 128));
  delete aligned;
}

TEST(BlockAlloc, BlocksFreedOnAnotherThreadComeBackToTheAllocatingThread) {
  constexpr std::size_t kBlocks = 8 * alloc::kListLimit;
  constexpr std::size_t kSize = 200;
  alloc::flush_this_thread();  // start from an empty cache: every block below is new or central
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < kBlocks; ++i) blocks.push_back(allocate_block(kSize));
  const std::set<void*> first_round(blocks.begin(), blocks.end());

  std::thread([&blocks] {
    for (void* block : blocks) free_block(block, kSize);
  }).join();  // its cache overflowed into the central list in batches, the rest at its exit

  const std::uint64_t before = system_blocks_taken();
  blocks.clear();
  for (std::size_t i = 0; i < kBlocks; ++i) blocks.push_back(allocate_block(kSize));
  EXPECT_EQ(system_blocks_taken(), before) << "the freed blocks should have been reused";
  for (void* block : blocks) EXPECT_TRUE(first_round.contains(block));
  for (void* block : blocks) free_block(block, kSize);
}

TEST(BlockAlloc, ThreadExitGivesItsCacheToTheCentralList) {
  constexpr std::size_t kSize = 300;
  const std::size_t size_class = alloc::class_of(kSize);
  std::size_t cached_before_exit = 0;
  std::size_t central_before_exit = 0;
  std::thread([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 10; ++i) blocks.push_back(allocate_block(kSize));
    for (void* block : blocks) free_block(block, kSize);
    cached_before_exit = alloc::cached_blocks_on_this_thread();
    central_before_exit = alloc::central_blocks(size_class);
  }).join();
  EXPECT_EQ(cached_before_exit, 10u);
  EXPECT_EQ(alloc::central_blocks(size_class), central_before_exit + 10);
}

// An outside thread allocates (submit), another frees (a worker, after running the task), for
// many rounds: after the first rounds, blocks flow back and the system is no longer asked.
TEST(BlockAlloc, ProducerConsumerStopsTakingBlocksFromTheSystem) {
  constexpr std::size_t kPerRound = 1000;
  constexpr int kWarmUpRounds = 3;
  constexpr int kRounds = 100;
  constexpr std::size_t kSize = 72;
  std::vector<void*> in_flight;
  std::uint64_t after_warm_up = 0;
  for (int round = 0; round < kRounds; ++round) {
    if (round == kWarmUpRounds) after_warm_up = system_blocks_taken();
    for (std::size_t i = 0; i < kPerRound; ++i) in_flight.push_back(allocate_block(kSize));
    std::thread([&in_flight] {
      for (void* block : in_flight) free_block(block, kSize);
    }).join();
    in_flight.clear();
  }
  // Each round's consumer is a new thread whose cache goes to the central list at its exit; a
  // long-lived consumer keeps up to kListLimit, which the stress test covers.
  EXPECT_EQ(system_blocks_taken(), after_warm_up);
}

// Holds every worker of a pool in a task until release(), so that the tasks spawned meanwhile are
// all alive at once: each round then has the same peak of live blocks however the workers are
// scheduled, and only that peak, not the timing, decides how many blocks the system gives.
class WorkerHold {
 public:
  explicit WorkerHold(Pool& pool) : pool_(pool) {}
  ~WorkerHold() { release(); }
  WorkerHold(const WorkerHold&) = delete;
  WorkerHold& operator=(const WorkerHold&) = delete;

  void hold() {
    // relaxed: no data is published through the flag; the blockers only spin on it.
    released_.store(false, std::memory_order_relaxed);
    // relaxed: a counter the test thread spins on; nothing else is read through it.
    holding_.store(0, std::memory_order_relaxed);
    for (std::size_t i = 0; i < pool_.worker_count(); ++i) {
      pool_.spawn([this] {
        // relaxed: see hold().
        holding_.fetch_add(1, std::memory_order_relaxed);
        while (!released_.load(std::memory_order_relaxed)) std::this_thread::yield();
      });
    }
    // relaxed: see above.
    while (holding_.load(std::memory_order_relaxed) < pool_.worker_count()) {
      std::this_thread::yield();
    }
  }
  void release() {
    // relaxed: see hold(); the tasks' effects are read after wait_idle()/wait().
    released_.store(true, std::memory_order_relaxed);
  }

 private:
  Pool& pool_;
  std::atomic<bool> released_{true};
  std::atomic<std::size_t> holding_{0};
};

// A pool's steady state: submits, spawns and TaskGroup spawns from outside, freed by workers or
// by the thread that drops the future, take no new block from the system after warm-up.
TEST(BlockAlloc, PoolSteadyStateTakesNoBlocksFromTheSystem) {
  Pool pool({.workers = 2});
  WorkerHold hold(pool);
  constexpr int kTasks = 2000;
  auto round = [&pool, &hold] {
    // Every future is kept until all are created, so the peak is kTasks states every round.
    std::vector<Future<int>> futures;
    futures.reserve(kTasks);
    for (int i = 0; i < kTasks; ++i) futures.push_back(pool.submit([i] { return i; }));
    long sum = 0;
    for (auto& future : futures) sum += future.get();
    EXPECT_EQ(sum, static_cast<long>(kTasks) * (kTasks - 1) / 2);
    futures.clear();
    std::atomic<int> ran{0};
    hold.hold();
    for (int i = 0; i < kTasks; ++i) {
      // relaxed: read after wait_idle().
      pool.spawn([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
    }
    hold.release();
    pool.wait_idle();
    TaskGroup group(pool);
    hold.hold();
    for (int i = 0; i < kTasks; ++i) {
      // relaxed: read after wait().
      group.spawn([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
    }
    hold.release();
    group.wait();
    pool.wait_idle();  // the holding tasks' blocks are freed too
    EXPECT_EQ(ran.load(std::memory_order_relaxed), 2 * kTasks);
  };
  for (int warm_up = 0; warm_up < 3; ++warm_up) round();
  const std::uint64_t before = system_blocks_taken();
  for (int i = 0; i < 5; ++i) round();
  // The workers only free, so each worker's cache keeps up to kListLimit blocks per class out of
  // the submitting thread's reach, and may fill further after the warm-up: that slack, for the
  // three classes (future state, spawned task, group task), is all that may still be added.
  EXPECT_LE(system_blocks_taken() - before, 2 * 3 * alloc::kListLimit);
}

#if FORAGE_ASAN
TEST(BlockAlloc, ACachedBlockIsPoisonedUnderAddressSanitizer) {
  void* block = allocate_block(64);
  EXPECT_FALSE(__asan_address_is_poisoned(block));
  free_block(block, 64);
  EXPECT_TRUE(__asan_address_is_poisoned(block));
  EXPECT_TRUE(__asan_address_is_poisoned(static_cast<char*>(block) + 63));
  void* again = allocate_block(60);  // the same class: the same block, bytes 60..63 kept poisoned
  ASSERT_EQ(again, block);
  EXPECT_FALSE(__asan_address_is_poisoned(static_cast<char*>(again) + 59));
  EXPECT_TRUE(__asan_address_is_poisoned(static_cast<char*>(again) + 60));
  free_block(again, 60);
}

TEST(BlockAlloc, ABlockSmallerThanItsLinksCanBeFreed) {
  void* block = allocate_block(8);  // class 32: bytes 8..31 poisoned, the links need 24
  free_block(block, 8);
  EXPECT_EQ(allocate_block(8), block);
  free_block(block, 8);
}

TEST(BlockAllocDeathTest, AUseAfterFreeOfATaskBlockIsReported) {
  EXPECT_DEATH(
      {
        auto* small = new Small;
        delete small;
        small->bytes[0] = 1;  // the block sits poisoned in this thread's cache
      },
      "use-after-poison");
}
#endif

}  // namespace
}  // namespace forage
