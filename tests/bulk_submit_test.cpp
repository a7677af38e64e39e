// spawn_all and submit_all over both pools: every item once, results in order, errors all or
// nothing (include/forage/detail/bulk_submit.hpp).
#include <atomic>
#include <chrono>
#include <functional>
#include <iterator>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "failing_allocator.hpp"
#include "range_test_support.hpp"
#include "test_support.hpp"

namespace forage {
namespace {

using std::chrono_literals::operator""s;

template <class System>
class BulkSubmit : public ::testing::Test {};

using test::Systems;
TYPED_TEST_SUITE(BulkSubmit, Systems);

std::vector<int> iota_vector(int n) {
  std::vector<int> items(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) items[static_cast<std::size_t>(i)] = i;
  return items;
}

// A sized range of move iterators: each item is moved out as it is read. (A class of our own
// rather than std::ranges::subrange: clang 14 cannot compile libstdc++ 12's views.)
template <class Iterator>
struct MovingRange {
  Iterator first;
  Iterator last;
  Iterator begin() const { return first; }
  Iterator end() const { return last; }
  std::size_t size() const { return static_cast<std::size_t>(last - first); }
};
template <class Iterator>
MovingRange(Iterator, Iterator) -> MovingRange<Iterator>;  // clang 14 has no aggregate CTAD

// The items of a vector through an iterator and a sentinel that cannot be subtracted: an input
// without a size (so spawn_all builds one block per item instead of a slab).
template <class T>
class Unsized {
 public:
  struct Sentinel {};
  class Iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    explicit Iterator(const std::vector<T>* items) : items_(items) {}
    const T& operator*() const { return (*items_)[at_]; }
    Iterator& operator++() {
      ++at_;
      return *this;
    }
    void operator++(int) { ++at_; }
    friend bool operator==(const Iterator& it, Sentinel) { return it.at_ == it.items_->size(); }

   private:
    const std::vector<T>* items_ = nullptr;
    std::size_t at_ = 0;
  };
  explicit Unsized(const std::vector<T>& items) : items_(&items) {}
  Iterator begin() const { return Iterator(items_); }
  Sentinel end() const { return {}; }

 private:
  const std::vector<T>* items_;
};

// A range whose size() is off by `error` from the items it yields: a broken sized_range.
struct MiscountedRange {
  std::vector<int> items;
  long error;
  auto begin() const { return items.begin(); }
  auto end() const { return items.end(); }
  std::size_t size() const {
    return static_cast<std::size_t>(static_cast<long>(items.size()) + error);
  }
};

// An item that counts its live copies and can be told to throw on a given copy.
struct Tracked {
  static inline std::atomic<long> live{0};
  static inline std::atomic<long> copies_before_throw{-1};  // -1: never throw

  explicit Tracked(int v) : value(v) { live.fetch_add(1, std::memory_order_relaxed); }
  Tracked(const Tracked& other) : value(other.value) {
    // relaxed (all): counts read by the test's thread after the pool is idle or shut down.
    long budget = copies_before_throw.load(std::memory_order_relaxed);
    if (budget == 0) throw std::runtime_error("copy refused");
    if (budget > 0) copies_before_throw.store(budget - 1, std::memory_order_relaxed);
    live.fetch_add(1, std::memory_order_relaxed);
  }
  Tracked(Tracked&& other) noexcept : value(other.value) {
    live.fetch_add(1, std::memory_order_relaxed);
  }
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() { live.fetch_sub(1, std::memory_order_relaxed); }

  int value;
};

std::vector<Tracked> tracked_items(int n) {
  std::vector<Tracked> items;
  items.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) items.emplace_back(i);
  return items;
}

TYPED_TEST(BulkSubmit, SpawnAllRunsEveryItemExactlyOnce) {
  constexpr int kItems = 10'000;
  auto pool = TypeParam::make(2);
  std::vector<std::atomic<int>> runs(kItems);
  const std::uint64_t ran = test::tasks_run_by(*pool, [&] {
    pool->spawn_all(iota_vector(kItems), [&runs](int i) {
      // relaxed: read after wait_idle(), which synchronizes with every finished task.
      runs[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
    });
  });
  EXPECT_EQ(ran, std::uint64_t{kItems});
  for (int i = 0; i < kItems; ++i) {
    ASSERT_EQ(runs[static_cast<std::size_t>(i)].load(std::memory_order_relaxed), 1) << i;
  }
}

TYPED_TEST(BulkSubmit, SubmitAllReturnsFuturesInInputOrder) {
  constexpr int kItems = 5'000;
  auto pool = TypeParam::make(2);
  std::vector<Future<long>> futures =
      pool->submit_all(iota_vector(kItems), [](int i) { return static_cast<long>(i) * 3; });
  ASSERT_EQ(futures.size(), std::size_t{kItems});
  for (int i = 0; i < kItems; ++i) {
    ASSERT_EQ(futures[static_cast<std::size_t>(i)].get(), static_cast<long>(i) * 3) << i;
  }
}

TYPED_TEST(BulkSubmit, SubmitAllWithVoidResults) {
  auto pool = TypeParam::make(2);
  std::atomic<int> sum{0};
  std::vector<Future<void>> futures = pool->submit_all(iota_vector(100), [&sum](int i) {
    sum.fetch_add(i, std::memory_order_relaxed);  // relaxed: read after every get()
  });
  for (Future<void>& future : futures) future.get();
  EXPECT_EQ(sum.load(std::memory_order_relaxed), 99 * 100 / 2);
}

TYPED_TEST(BulkSubmit, MoveOnlyItemsAndResults) {
  auto pool = TypeParam::make(2);
  std::vector<std::unique_ptr<int>> items;
  for (int i = 0; i < 50; ++i) items.push_back(std::make_unique<int>(i));
  // Move iterators hand each item over; the results are move-only too.
  MovingRange moved{std::make_move_iterator(items.begin()), std::make_move_iterator(items.end())};
  std::vector<Future<std::unique_ptr<int>>> futures =
      pool->submit_all(moved, [](std::unique_ptr<int> item) {
        *item *= 2;
        return item;
      });
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(items[static_cast<std::size_t>(i)], nullptr) << "item " << i << " was not moved";
    EXPECT_EQ(*futures[static_cast<std::size_t>(i)].get(), 2 * i);
  }
}

TYPED_TEST(BulkSubmit, SubmitAllPutsEachExceptionInItsFuture) {
  auto pool = TypeParam::make(2);
  std::vector<Future<int>> futures = pool->submit_all(iota_vector(100), [](int i) {
    if (i % 3 == 0) throw std::runtime_error("item " + std::to_string(i));
    return i;
  });
  // Every task has released its reference to its future's state before we look at the
  // exceptions: the last reference to an exception may then be ours. (Otherwise a worker
  // may free an exception object after our catch ends, ordered only by libstdc++'s own
  // uninstrumented reference count, which ThreadSanitizer reports as a race.)
  pool->wait_idle();
  for (int i = 0; i < 100; ++i) {
    Future<int>& future = futures[static_cast<std::size_t>(i)];
    if (i % 3 == 0) {
      try {
        future.get();
        FAIL() << "item " << i << " did not throw";
      } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()), "item " + std::to_string(i));
      }
    } else {
      EXPECT_EQ(future.get(), i);
    }
  }
}

TYPED_TEST(BulkSubmit, SpawnAllSendsExceptionsToOnError) {
  std::atomic<int> errors{0};
  PoolOptions options;
  options.on_error = [&errors](std::exception_ptr) {
    errors.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after wait_idle()
  };
  auto pool = TypeParam::make(2, std::move(options));
  pool->spawn_all(iota_vector(90), [](int i) {
    if (i % 3 == 0) throw std::runtime_error("spawned item failed");
  });
  pool->wait_idle();
  EXPECT_EQ(errors.load(std::memory_order_relaxed), 30);
}

TYPED_TEST(BulkSubmit, EmptyInputQueuesNothing) {
  auto pool = TypeParam::make(1);
  const std::vector<int> none;
  EXPECT_EQ(test::tasks_run_by(*pool, [&] { pool->spawn_all(none, [](int) {}); }), 0u);
  EXPECT_TRUE(pool->submit_all(none, [](int i) { return i; }).empty());
  pool->shutdown();
  // Nothing to refuse: an empty batch is not an error, even on a closed pool.
  EXPECT_NO_THROW(pool->spawn_all(none, [](int) {}));
  EXPECT_TRUE(pool->submit_all(none, [](int i) { return i; }).empty());
}

TYPED_TEST(BulkSubmit, EmptyCallableThrowsInvalidArgumentBeforeReadingInputs) {
  auto pool = TypeParam::make(1);
  test::CountingInput counted(10);
  void (*null_function)(std::size_t) = nullptr;
  EXPECT_THROW(pool->spawn_all(counted, null_function), InvalidArgument);
  std::function<int(std::size_t)> empty;
  try {
    pool->submit_all(counted, empty);
    FAIL() << "an empty std::function was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("submit_all"), std::string::npos) << e.what();
  }
  EXPECT_EQ(counted.reads(), 0u);
  EXPECT_EQ(pool->stats().executed(), 0u);
}

TYPED_TEST(BulkSubmit, ClosedPoolThrowsPoolClosedAndFreesEveryTask) {
  auto pool = TypeParam::make(2);
  pool->shutdown();
  std::atomic<int> calls{0};
  {
    const std::vector<Tracked> items = tracked_items(100);
    const long live_before = Tracked::live.load(std::memory_order_relaxed);
    EXPECT_THROW(pool->spawn_all(items, [&calls](const Tracked&) { ++calls; }), PoolClosed);
    EXPECT_THROW(pool->submit_all(items,
                                  [&calls](const Tracked& t) {
                                    ++calls;
                                    return t.value;
                                  }),
                 PoolClosed);
    EXPECT_EQ(Tracked::live.load(std::memory_order_relaxed), live_before)
        << "a refused batch left item copies alive";
  }
  EXPECT_EQ(Tracked::live.load(std::memory_order_relaxed), 0);
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(pool->stats().executed() + pool->stats().cancelled(), 0u);
}

TYPED_TEST(BulkSubmit, ThrowingItemCopyFreesTheTasksBuiltSoFar) {
  auto pool = TypeParam::make(2);
  std::atomic<int> calls{0};
  {
    const std::vector<Tracked> items = tracked_items(100);
    const long live_before = Tracked::live.load(std::memory_order_relaxed);
    Tracked::copies_before_throw.store(40, std::memory_order_relaxed);
    EXPECT_THROW(pool->spawn_all(items, [&calls](const Tracked&) { ++calls; }), std::runtime_error);
    Tracked::copies_before_throw.store(40, std::memory_order_relaxed);
    EXPECT_THROW(pool->submit_all(items,
                                  [&calls](const Tracked& t) {
                                    ++calls;
                                    return t.value;
                                  }),
                 std::runtime_error);
    Tracked::copies_before_throw.store(-1, std::memory_order_relaxed);
    EXPECT_EQ(Tracked::live.load(std::memory_order_relaxed), live_before);
  }
  pool->wait_idle();
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(pool->stats().executed() + pool->stats().cancelled(), 0u) << "a task was queued";
  // The pool still works, and still counts correctly for wait_idle.
  EXPECT_EQ(test::tasks_run_by(*pool, [&] { pool->spawn_all(iota_vector(10), [](int) {}); }), 10u);
}

// An item whose copy allocates (as a string does): an allocation fails mid-batch, wherever the
// task blocks come from (the thread's cache, which operator new does not see, or the system).
struct AllocatingItem {
  Tracked tracked;
  std::string payload = std::string(64, 'x');
};

TYPED_TEST(BulkSubmit, AllocationFailureMidBatchFreesTheTasksBuiltSoFar) {
  auto pool = TypeParam::make(2);
  std::atomic<int> calls{0};
  std::vector<AllocatingItem> items;
  for (int i = 0; i < 100; ++i) items.push_back({Tracked(i)});
  const long live_before = Tracked::live.load(std::memory_order_relaxed);
  auto count_call = [&calls](const AllocatingItem&) { ++calls; };
  // A sized input: the slab, then the list of its tasks, then an item copy fails.
  for (const long succeed_first : {0L, 1L, 30L}) {
    test::FailAllocation fail(succeed_first);
    EXPECT_THROW(pool->spawn_all(items, count_call), std::bad_alloc)
        << "allocation " << succeed_first;
  }
  {
    test::FailAllocation fail(30);  // an unsized input: one block per item
    EXPECT_THROW(pool->spawn_all(Unsized(items), count_call), std::bad_alloc);
  }
  {
    test::FailAllocation fail(30);
    EXPECT_THROW(pool->submit_all(items,
                                  [&calls](const AllocatingItem& item) {
                                    ++calls;
                                    return item.tracked.value;
                                  }),
                 std::bad_alloc);
  }
  EXPECT_EQ(Tracked::live.load(std::memory_order_relaxed), live_before);
  pool->wait_idle();
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(pool->stats().executed() + pool->stats().cancelled(), 0u) << "a task was queued";
}

TYPED_TEST(BulkSubmit, SpawnAllOfAnInputWhoseSizeIsWrongThrowsInvalidArgumentAndQueuesNothing) {
  auto pool = TypeParam::make(2);
  std::atomic<int> calls{0};
  for (const long error : {-1L, 1L}) {
    const MiscountedRange range{iota_vector(200), error};
    try {
      pool->spawn_all(range, [&calls](int) { ++calls; });
      FAIL() << "size() off by " << error << " was accepted";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("size()"), std::string::npos) << e.what();
    }
  }
  pool->wait_idle();
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(pool->stats().executed() + pool->stats().cancelled(), 0u) << "a task was queued";
}

// Tasks of one batch share one slab of memory, freed by whichever finishes last: every item
// copy is destroyed, on both input kinds, whatever order the workers finish in.
TYPED_TEST(BulkSubmit, SpawnAllDestroysEveryItemCopyOnceTheBatchHasRun) {
  auto pool = TypeParam::make(2);
  std::atomic<long> sum{0};
  {
    const std::vector<Tracked> items = tracked_items(1'000);  // 16 groups of the slab
    const long live_before = Tracked::live.load(std::memory_order_relaxed);
    // relaxed: read after wait_idle().
    auto add = [&sum](const Tracked& t) { sum.fetch_add(t.value, std::memory_order_relaxed); };
    pool->spawn_all(items, add);
    pool->spawn_all(Unsized(items), add);
    pool->wait_idle();
    EXPECT_EQ(Tracked::live.load(std::memory_order_relaxed), live_before);
  }
  EXPECT_EQ(sum.load(std::memory_order_relaxed), 2L * 999 * 1'000 / 2);
}

// A callable aligned beyond std::max_align_t does not fit a slab: one block per item.
TYPED_TEST(BulkSubmit, SpawnAllOfAnOverAlignedCallableRunsEveryItem) {
  struct alignas(64) Wide {
    std::atomic<int>* runs;
    // relaxed: read after wait_idle().
    void operator()(int) const { runs->fetch_add(1, std::memory_order_relaxed); }
  };
  auto pool = TypeParam::make(2);
  std::atomic<int> runs{0};
  pool->spawn_all(iota_vector(300), Wide{&runs});
  pool->wait_idle();
  EXPECT_EQ(runs.load(std::memory_order_relaxed), 300);
}

TYPED_TEST(BulkSubmit, CancelPendingMidBatchLeavesNoFuturePending) {
  constexpr int kItems = 2'000;
  auto pool = TypeParam::make(2);
  std::atomic<int> started{0};
  std::vector<Future<int>> futures = pool->submit_all(iota_vector(kItems), [&started](int i) {
    started.fetch_add(1, std::memory_order_relaxed);  // relaxed: a progress hint
    std::this_thread::sleep_for(std::chrono::microseconds(20));
    return i;
  });
  pool->spawn_all(iota_vector(kItems),
                  [](int) { std::this_thread::sleep_for(std::chrono::microseconds(20)); });
  while (started.load(std::memory_order_relaxed) < 10) std::this_thread::yield();
  pool->shutdown(Shutdown::cancel_pending);

  int ran = 0;
  int cancelled = 0;
  for (int i = 0; i < kItems; ++i) {
    Future<int>& future = futures[static_cast<std::size_t>(i)];
    ASSERT_TRUE(future.ready()) << "future " << i << " still pending after shutdown";
    if (future.cancelled()) {
      ++cancelled;
      EXPECT_THROW(future.get(), Cancelled);
    } else {
      EXPECT_EQ(future.get(), i);
      ++ran;
    }
  }
  EXPECT_EQ(ran + cancelled, kItems);
  EXPECT_GE(ran, 10);
  EXPECT_GT(cancelled, 0);
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.executed() + stats.cancelled(), std::uint64_t{2} * kItems);
}

TYPED_TEST(BulkSubmit, NestedFromAWorker) {
  auto pool = TypeParam::make(2);
  auto& target = *pool;
  std::atomic<int> spawned_ran{0};
  Future<long> outer = pool->submit([&target, &spawned_ran] {
    target.spawn_all(iota_vector(500), [&spawned_ran](int) {
      spawned_ran.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after wait_idle
    });
    std::vector<Future<long>> inner =
        target.submit_all(iota_vector(500), [](int i) { return static_cast<long>(i); });
    long sum = 0;
    for (Future<long>& future : inner) sum += future.get();  // helps while it waits
    return sum;
  });
  EXPECT_EQ(outer.get(), 499L * 500 / 2);
  pool->wait_idle();
  EXPECT_EQ(spawned_ran.load(std::memory_order_relaxed), 500);
}

TYPED_TEST(BulkSubmit, ReadsASinglePassInputRangeOnce) {
  auto pool = TypeParam::make(2);
  test::CountingInput input(10);  // no size(): the batch grows as it reads
  std::vector<Future<std::size_t>> futures =
      pool->submit_all(input, [](std::size_t i) { return i * i; });
  ASSERT_EQ(futures.size(), 10u);
  EXPECT_EQ(input.reads(), 10u);
  EXPECT_FALSE(input.read_elsewhere());
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(futures[i].get(), i * i);
}

TYPED_TEST(BulkSubmit, ConcurrentBatchesFromSeveralThreadsThenWaitIdle) {
  constexpr int kThreads = 4;
  const int items_per_batch = static_cast<int>(test::scaled(5'000));
  auto pool = TypeParam::make(2);
  std::atomic<long> ran{0};
  std::atomic<long> results{0};
  std::latch go(kThreads);
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&] {
      go.arrive_and_wait();
      for (int round = 0; round < 4; ++round) {
        pool->spawn_all(iota_vector(items_per_batch), [&ran](int) {
          ran.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after wait_idle()
        });
        for (Future<int>& future :
             pool->submit_all(iota_vector(items_per_batch), [](int) { return 1; })) {
          results.fetch_add(future.get(), std::memory_order_relaxed);
        }
      }
    });
  }
  for (std::thread& submitter : submitters) submitter.join();
  pool->wait_idle();
  EXPECT_EQ(ran.load(std::memory_order_relaxed), long{kThreads} * 4 * items_per_batch);
  EXPECT_EQ(results.load(std::memory_order_relaxed), long{kThreads} * 4 * items_per_batch);
  EXPECT_EQ(pool->stats().executed(), std::uint64_t(kThreads) * 4 * 2 * items_per_batch);
}

TYPED_TEST(BulkSubmit, WaitIdleWaitsForTheWholeBatch) {
  auto pool = TypeParam::make(2);
  std::atomic<int> ran{0};
  pool->spawn_all(iota_vector(200), [&ran](int) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    ran.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after wait_idle()
  });
  pool->wait_idle();
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 200);
}

// spawn_all queues a big batch as groups of consecutive items (task_slab.hpp); a second worker
// must still be able to run the rest of a group whose first item is long. Item 0 waits until
// every other item ran: with the rest of its group stuck behind it, it would wait for ever.
TYPED_TEST(BulkSubmit, ALongItemDoesNotHoldUpTheItemsQueuedWithIt) {
  constexpr int kItems = 10'000;
  auto pool = TypeParam::make(2);
  std::atomic<int> others_done{0};
  std::atomic<int> seen_by_first{-1};  // relaxed: read after wait_idle()
  pool->spawn_all(iota_vector(kItems), [&](int i) {
    if (i != 0) {
      others_done.fetch_add(1, std::memory_order_relaxed);  // relaxed: a progress count
      return;
    }
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (others_done.load(std::memory_order_relaxed) < kItems - 1 &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
    seen_by_first.store(others_done.load(std::memory_order_relaxed), std::memory_order_relaxed);
  });
  pool->wait_idle();
  EXPECT_EQ(seen_by_first.load(std::memory_order_relaxed), kItems - 1)
      << "other items that ran while item 0 waited (20 s at most)";
}

}  // namespace
}  // namespace forage
