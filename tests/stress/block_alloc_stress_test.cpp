// The block allocator (lib/alloc/) under real concurrency: producers allocate blocks of a few
// size classes and hand them to consumers through bounded queues; consumers check the block's
// contents and free it. Long-lived threads on both sides, so the consumers' caches overflow into
// the central lists in batches and the producers refill from there, as in a pool where an
// outside thread submits and the workers free.
//
// What fails: a block handed out twice at once (its contents change under the consumer that
// checks them), a block lost (the count of blocks made keeps growing with the items), or a
// race in the allocator itself (ThreadSanitizer). The seed of the jitter is printed; set
// FORAGE_TEST_SEED to reuse one.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "alloc/central_list.hpp"
#include "alloc/thread_cache.hpp"
#include "forage/detail/block_alloc.hpp"
#include "test_support.hpp"

namespace forage::detail {
namespace {

constexpr std::chrono::seconds kWatchdogLimit{240};
constexpr std::size_t kSizes[] = {24, 72, 200};  // three classes
constexpr std::size_t kQueueCapacity = 256;      // blocks in flight per producer/consumer pair

struct Item {
  void* block = nullptr;
  std::size_t size = 0;
  std::uint64_t stamp = 0;
};

// A bounded single-producer single-consumer queue; the lock orders the block's contents too.
class BoundedQueue {
 public:
  void push(Item item) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [this] { return items_.size() < kQueueCapacity; });
    items_.push_back(item);
    not_empty_.notify_one();
  }
  Item pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [this] { return !items_.empty(); });
    const Item item = items_.front();
    items_.erase(items_.begin());
    not_full_.notify_one();
    return item;
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::vector<Item> items_;
};

void fill(void* block, std::size_t size, std::uint64_t stamp) {
  auto* words = static_cast<std::uint64_t*>(block);
  for (std::size_t i = 0; i < size / sizeof(std::uint64_t); ++i) words[i] = stamp + i;
}

bool intact(const Item& item) {
  const auto* words = static_cast<const std::uint64_t*>(item.block);
  for (std::size_t i = 0; i < item.size / sizeof(std::uint64_t); ++i) {
    if (words[i] != item.stamp + i) return false;
  }
  return true;
}

TEST(BlockAllocStress, ProducersAndConsumersRecycleBlocksWithoutGrowing) {
  constexpr std::size_t kPairs = 2;
  const std::uint64_t items_per_producer = test::scaled(400'000);
  const std::uint64_t seed = test::test_seed();
  SCOPED_TRACE(testing::Message() << "FORAGE_TEST_SEED=" << seed);
  test::Watchdog watchdog("block allocator producers/consumers", kWatchdogLimit);

  const std::uint64_t made_before = alloc::allocator_counts().blocks_from_system;
  std::vector<BoundedQueue> queues(kPairs);
  std::atomic<std::uint64_t> damaged{0};
  std::vector<std::thread> threads;
  for (std::size_t pair = 0; pair < kPairs; ++pair) {
    threads.emplace_back([&, pair] {
      test::Jitter jitter(seed + pair, 16);
      for (std::uint64_t i = 0; i < items_per_producer; ++i) {
        const std::size_t size = kSizes[(i + pair) % std::size(kSizes)];
        const Item item{rt::allocate_block(size), size, (pair << 48) | (i << 8)};
        fill(item.block, size, item.stamp);
        queues[pair].push(item);
        jitter();
      }
      queues[pair].push(Item{});  // the end
    });
    threads.emplace_back([&, pair] {
      test::Jitter jitter(seed + 100 + pair, 16);
      for (;;) {
        const Item item = queues[pair].pop();
        if (item.block == nullptr) return;
        // relaxed: read after join.
        if (!intact(item)) damaged.fetch_add(1, std::memory_order_relaxed);
        rt::free_block(item.block, item.size);
        jitter();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(damaged.load(std::memory_order_relaxed), 0u);
  // Made at most: what can be in flight, plus what every cache can hold, per class; nothing
  // proportional to the items.
  const std::uint64_t made = alloc::allocator_counts().blocks_from_system - made_before;
  const std::uint64_t bound =
      std::size(kSizes) * (kPairs * kQueueCapacity + 2 * kPairs * 2 * alloc::kListLimit);
  EXPECT_LE(made, bound) << "items: " << kPairs * items_per_producer;
}

}  // namespace
}  // namespace forage::detail
