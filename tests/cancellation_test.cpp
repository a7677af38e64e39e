// Cooperative cancellation on the three schedulers: stop requests through the algorithms
// (MapOptions::stop and deadline, map_async's request_stop, imap), tasks (a std::stop_token
// first, Future::request_stop, this_task::stop_requested), task groups (cancel, an outside
// token, a parent group) and Shutdown::stop; and the races of a stop with completion and with
// shutdown, in which every future must end and every wait return.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <latch>
#include <numeric>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <typeinfo>
#include <vector>

#include <gtest/gtest.h>

#include "forage/forage.hpp"
#include "future_test_support.hpp"
#include "test_support.hpp"

namespace forage {
namespace {

using test::GatedPool;

template <class System>
class CancellationTest : public test::WatchedTest {
 protected:
  static auto make_pool(std::size_t workers = 2) { return System::make(workers); }
};

using test::Systems;
TYPED_TEST_SUITE(CancellationTest, Systems);

// Spins (yielding) until `done` holds; the watchdog turns a lost request into a failure.
template <class Done>
void spin_until(Done done) {
  while (!done()) std::this_thread::yield();
}

// Before reading an exception a future rethrows: lets the worker drop its reference to the
// state first. Otherwise the worker may free the state, and with it the last reference to the
// exception, after the catch block read it; the exception's reference count lives in the
// uninstrumented libstdc++, so ThreadSanitizer cannot see that this is ordered and reports a
// race on the exception's memory.
template <class PoolType>
void settle_before_get(PoolType& pool) {
  pool.wait_idle();
}

// --- Algorithms ------------------------------------------------------------------------------

TYPED_TEST(CancellationTest, ParallelForStopsStartingItemsOnceTheTokenFiresAndCountsWhatRan) {
  auto pool = this->make_pool();
  std::stop_source source;
  std::atomic<std::size_t> ran{0};
  constexpr std::size_t kItems = 100'000'000;
  MapOptions options;
  options.stop = source.get_token();
  try {
    parallel_for(
        *pool, std::size_t{0}, kItems,
        [&](std::size_t) {
          // relaxed: a count read after the call, which joined every chunk.
          if (ran.fetch_add(1, std::memory_order_relaxed) == 1000) source.request_stop();
        },
        options);
    FAIL() << "a stopped parallel_for returned normally";
  } catch (const Cancelled& e) {
    ASSERT_TRUE(e.items_run().has_value());
    EXPECT_EQ(*e.items_run(), ran.load(std::memory_order_relaxed));
    EXPECT_LT(*e.items_run(), kItems);
    EXPECT_NE(std::string(e.what()).find("items ran"), std::string::npos) << e.what();
  }
}

TYPED_TEST(CancellationTest, AnAlreadyStoppedTokenRunsNoItemOfAnyAlgorithm) {
  auto pool = this->make_pool();
  std::stop_source source;
  source.request_stop();
  MapOptions options;
  options.stop = source.get_token();
  std::atomic<int> calls{0};
  const std::vector<int> inputs(1000, 1);
  auto count = [&](auto&&...) {
    calls.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the calls
    return 1;
  };
  auto items_run = [](auto call) -> std::size_t {
    try {
      call();
    } catch (const Cancelled& e) {
      return e.items_run().value_or(999);
    }
    return 999;
  };
  EXPECT_EQ(items_run([&] { parallel_map(*pool, inputs, count, options); }), 0U);
  EXPECT_EQ(items_run([&] { parallel_for(*pool, 0, 1000, count, options); }), 0U);
  std::vector<int> out(inputs.size());
  EXPECT_EQ(items_run([&] { parallel_map_into(*pool, inputs, out, count, options); }), 0U);
  EXPECT_EQ(items_run([&] {
              parallel_reduce(
                  *pool, 0, 1000, 0, count, [](int a, int b) { return a + b; }, options);
            }),
            0U);
  EXPECT_EQ(items_run([&] {
              auto future = map_async(*pool, inputs, count, options);
              settle_before_get(*pool);
              future.get();
            }),
            0U);
  EXPECT_EQ(calls.load(std::memory_order_relaxed), 0);
}

// Counts live instances, so a stopped map can be seen to destroy what it built.
struct Counted {
  static inline std::atomic<long> live{0};
  Counted() { live.fetch_add(1, std::memory_order_relaxed); }  // relaxed: read after joins
  Counted(Counted&&) noexcept { live.fetch_add(1, std::memory_order_relaxed); }
  ~Counted() { live.fetch_sub(1, std::memory_order_relaxed); }
};

TYPED_TEST(CancellationTest, AStoppedParallelMapDestroysEveryResultItBuilt) {
  auto pool = this->make_pool();
  std::stop_source source;
  std::atomic<std::size_t> ran{0};
  MapOptions options;
  options.stop = source.get_token();
  std::vector<int> inputs(200'000, 0);
  EXPECT_THROW(parallel_map(
                   *pool, inputs,
                   [&](int) {
                     // relaxed: only the 500th call matters
                     if (ran.fetch_add(1, std::memory_order_relaxed) == 500) {
                       source.request_stop();
                     }
                     return Counted();
                   },
                   options),
               Cancelled);
  EXPECT_EQ(Counted::live.load(std::memory_order_relaxed), 0);
}

TYPED_TEST(CancellationTest, ADeadlineStopsALongMapBetweenBlocks) {
  auto pool = this->make_pool();
  MapOptions options;
  options.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  std::atomic<std::uint64_t> sink{0};
  try {
    parallel_for(
        *pool, std::uint64_t{0}, std::uint64_t{1'000'000'000'000},
        [&](std::uint64_t i) {
          if (i == 7) sink.store(i, std::memory_order_relaxed);  // relaxed: unused
        },
        options);
    FAIL() << "a parallel_for past its deadline returned normally";
  } catch (const Cancelled& e) {
    EXPECT_LT(e.items_run().value_or(0), std::uint64_t{1'000'000'000'000});
  }
}

TYPED_TEST(CancellationTest, AnItemSeesThisTaskStopRequestedAfterAnotherItemFails) {
  auto pool = this->make_pool();
  MapOptions options;
  options.chunking = Chunking::fixed(1);
  std::atomic<bool> spinner_started{false};
  try {
    parallel_for(
        *pool, 0, 2,
        [&](int i) {
          if (i == 0) {
            // release: pairs with the acquire below.
            spinner_started.store(true, std::memory_order_release);
            spin_until([] { return this_task::stop_requested(); });
          } else {
            spin_until([&] { return spinner_started.load(std::memory_order_acquire); });
            throw std::runtime_error("found it");
          }
        },
        options);
    FAIL() << "the item's failure did not reach the caller";
  } catch (const ItemError& e) {
    EXPECT_EQ(e.index(), 1U);  // the failure, not a Cancelled: one mechanism, the cause kept
  }
}

TYPED_TEST(CancellationTest, StopRequestedIsFalseOutsideTasksAndInTasksNobodyStopped) {
  auto pool = this->make_pool();
  EXPECT_FALSE(this_task::stop_requested());
  EXPECT_FALSE(pool->submit([] { return this_task::stop_requested(); }).get());
  std::atomic<bool> seen{true};
  pool->spawn([&] { seen.store(this_task::stop_requested(), std::memory_order_release); });
  pool->wait_idle();
  EXPECT_FALSE(seen.load(std::memory_order_acquire));
  const std::vector<int> inputs(1000, 1);
  auto flags = parallel_map(*pool, inputs, [](int) { return this_task::stop_requested(); });
  EXPECT_EQ(std::count(flags.begin(), flags.end(), true), 0);
}

TYPED_TEST(CancellationTest, MapAsyncRequestStopStopsTheRunningMap) {
  auto pool = this->make_pool();
  std::atomic<bool> started{false};
  std::vector<int> inputs(1'000'000);
  std::iota(inputs.begin(), inputs.end(), 0);
  auto future = map_async(*pool, std::span<const int>(inputs), [&](int x) {
    if (x == 0) {  // holds the map open until the request has reached it
      started.store(true, std::memory_order_release);  // release: pairs with the acquire below
      spin_until([] { return this_task::stop_requested(); });
    }
    return x;
  });
  spin_until([&] { return started.load(std::memory_order_acquire); });
  future.request_stop();
  settle_before_get(*pool);
  try {
    future.get();
    FAIL() << "a stopped map_async completed";
  } catch (const Cancelled& e) {
    EXPECT_TRUE(e.items_run().has_value());
  }
}

TYPED_TEST(CancellationTest, ImapYieldsInOrderUntilTheStopThenThrowsCancelled) {
  auto pool = this->make_pool();
  std::stop_source source;
  MapOptions options;
  options.stop = source.get_token();
  std::vector<int> inputs(100'000);
  std::iota(inputs.begin(), inputs.end(), 0);
  std::vector<int> got;
  try {
    for (int r : imap(
             *pool, inputs, [](int x) { return x; }, options)) {
      got.push_back(r);
      if (got.size() == 5) source.request_stop();
    }
    FAIL() << "a stopped imap ended normally";
  } catch (const Cancelled& e) {
    EXPECT_TRUE(e.items_run().has_value());
  }
  ASSERT_GE(got.size(), 5U);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], static_cast<int>(i));
}

TYPED_TEST(CancellationTest, ImapUnorderedStopsAndThrowsCancelled) {
  auto pool = this->make_pool();
  std::stop_source source;
  MapOptions options;
  options.stop = source.get_token();
  std::vector<int> inputs(100'000, 1);
  std::size_t got = 0;
  EXPECT_THROW(
      {
        for (auto& item : imap_unordered(
                 *pool, inputs, [](int x) { return x; }, options)) {
          (void)item;
          if (++got == 5) source.request_stop();
        }
      },
      Cancelled);
  EXPECT_LT(got, inputs.size());
}

// --- Tasks -----------------------------------------------------------------------------------

TYPED_TEST(CancellationTest, SubmitPassesAStopTokenThatRequestStopFires) {
  auto pool = this->make_pool();
  std::atomic<bool> started{false};
  auto future = pool->submit(
      [&](std::stop_token stop, int value) {
        started.store(true, std::memory_order_release);  // release: pairs with the acquire
        spin_until([&] { return stop.stop_requested(); });
        return value;
      },
      7);
  spin_until([&] { return started.load(std::memory_order_acquire); });
  future.request_stop();
  EXPECT_EQ(future.get(), 7);
}

TYPED_TEST(CancellationTest, ATaskWithoutATokenSeesRequestStopThroughThisTask) {
  auto pool = this->make_pool();
  std::atomic<bool> started{false};
  auto future =
      pool->submit([&] {
            started.store(true, std::memory_order_release);  // release: pairs with the acquire
            spin_until([] { return this_task::stop_requested(); });
            return 3;
          })
          .share();
  spin_until([&] { return started.load(std::memory_order_acquire); });
  future.request_stop();  // through the SharedFuture
  EXPECT_EQ(future.get(), 3);
}

TYPED_TEST(CancellationTest, RequestStopCancelsATaskThatHasNotStarted) {
  GatedPool<TypeParam> pool(2);
  pool.block_workers();
  std::atomic<bool> ran{false};
  // relaxed (ran, here and below): read after wait_idle()/get()/join, which order it.
  auto future = pool->submit([&](std::stop_token) { ran.store(true, std::memory_order_relaxed); });
  future.request_stop();
  EXPECT_TRUE(future.cancelled());
  pool.open();
  pool->wait_idle();
  EXPECT_THROW(future.get(), Cancelled);
  EXPECT_FALSE(ran.load(std::memory_order_relaxed));
}

TYPED_TEST(CancellationTest, RequestStopRacingCompletionAlwaysEndsTheFuture) {
  auto pool = this->make_pool();
  for (int round = 0; round < static_cast<int>(test::scaled(300)); ++round) {
    auto future = pool->submit(
        [](std::stop_token stop, int spins) {
          for (int i = 0; i < spins && !stop.stop_requested(); ++i) std::this_thread::yield();
          return 1;
        },
        round % 4);
    if (round % 2 == 0) std::this_thread::yield();
    future.request_stop();
    try {
      EXPECT_EQ(future.get(), 1);
    } catch (const Cancelled&) {
      // stopped before it started: as good an end as a value
    }
  }
}

// --- Task groups -----------------------------------------------------------------------------

TYPED_TEST(CancellationTest, GroupCancelSkipsTasksNotStartedAndWaitThrowsCancelled) {
  GatedPool<TypeParam> pool(2);
  pool.block_workers();
  TaskGroup group(*pool);
  std::atomic<int> ran{0};  // relaxed: read after wait(), which acquires every task's end
  for (int i = 0; i < 20; ++i) group.spawn([&] { ran.fetch_add(1, std::memory_order_relaxed); });
  group.cancel();
  EXPECT_TRUE(group.cancel_requested());
  pool.open();
  EXPECT_THROW(group.wait(), Cancelled);
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 0);
}

TYPED_TEST(CancellationTest, GroupCancelReachesRunningTasksThroughTokenAndThisTask) {
  auto pool = this->make_pool();
  TaskGroup group(*pool);
  std::latch started(2);
  group.spawn([&](std::stop_token stop) {
    started.count_down();
    spin_until([&] { return stop.stop_requested(); });
  });
  group.spawn([&] {
    started.count_down();
    spin_until([] { return this_task::stop_requested(); });
  });
  started.wait();
  group.cancel();
  EXPECT_THROW(group.wait(), Cancelled);
}

TYPED_TEST(CancellationTest, GroupWaitRethrowsATaskExceptionRatherThanCancelled) {
  auto pool = this->make_pool();
  TaskGroup group(*pool);
  group.spawn([&group] {
    group.cancel();
    throw std::runtime_error("first");
  });
  EXPECT_THROW(group.wait(), std::runtime_error);
}

TYPED_TEST(CancellationTest, AnOutsideTokenCancelsTheGroup) {
  auto pool = this->make_pool();
  std::stop_source source;
  TaskGroup group(*pool, source.get_token());
  std::latch started(1);
  group.spawn([&] {
    started.count_down();
    spin_until([] { return this_task::stop_requested(); });
  });
  started.wait();
  source.request_stop();
  EXPECT_THROW(group.wait(), Cancelled);
}

TYPED_TEST(CancellationTest, AChildGroupInheritsItsParentsCancellation) {
  auto pool = this->make_pool();
  TaskGroup parent(*pool);
  std::latch child_running(1);
  std::atomic<bool> child_saw_cancel{false};  // relaxed: read after parent.wait()
  parent.spawn([&] {
    TaskGroup child(*pool);
    child.spawn([&](std::stop_token stop) {
      child_running.count_down();
      spin_until([&] { return stop.stop_requested(); });
    });
    try {
      child.wait();
    } catch (const Cancelled&) {
      child_saw_cancel.store(true, std::memory_order_relaxed);
      throw;
    }
  });
  child_running.wait();
  parent.cancel();
  EXPECT_THROW(parent.wait(), Cancelled);
  EXPECT_TRUE(child_saw_cancel.load(std::memory_order_relaxed));
}

TYPED_TEST(CancellationTest, NoGroupTaskRunsAfterWaitReportedCancelled) {
  auto pool = this->make_pool();
  for (int round = 0; round < static_cast<int>(test::scaled(100)); ++round) {
    std::atomic<bool> reported{false};
    std::atomic<int> late{0};  // relaxed: read after wait_idle()
    TaskGroup group(*pool);
    std::thread canceller([&group] { group.cancel(); });
    for (int i = 0; i < 50; ++i) {
      group.spawn([&] {
        // acquire: pairs with the release store after wait() threw.
        if (reported.load(std::memory_order_acquire)) late.fetch_add(1);
      });
    }
    canceller.join();
    EXPECT_THROW(group.wait(), Cancelled);
    reported.store(true, std::memory_order_release);
    pool->wait_idle();
    EXPECT_EQ(late.load(std::memory_order_relaxed), 0);
  }
}

// --- Shutdown ----------------------------------------------------------------------------------

TYPED_TEST(CancellationTest, ShutdownStopStopsRunningTasksAndCancelsPendingOnes) {
  auto pool = this->make_pool();
  std::latch started(2);
  auto with_token = pool->submit([&](std::stop_token stop) {
    started.count_down();
    spin_until([&] { return stop.stop_requested(); });
    return 1;
  });
  auto without = pool->submit([&] {
    started.count_down();
    spin_until([] { return this_task::stop_requested(); });
    return 2;
  });
  started.wait();
  auto pending = pool->submit([] { return 3; });  // both workers are busy: it waits
  pool->shutdown(Shutdown::stop);
  EXPECT_EQ(with_token.get(), 1);
  EXPECT_EQ(without.get(), 2);
  EXPECT_TRUE(pending.ready());
  EXPECT_THROW(pending.get(), Cancelled);
}

// Runs `call(started)` on another thread, stops the pool once the call set `started`, and
// expects the call to end with Cancelled; any other exception is reported as a failure (not
// left to escape the thread and abort the run).
template <class PoolType, class Call>
void expect_shutdown_stop_ends_with_cancelled(PoolType& pool, const char* what, Call call) {
  std::atomic<bool> started{false};
  std::atomic<bool> cancelled{false};  // relaxed: read after caller.join()
  std::exception_ptr other;            // read after caller.join()
  std::thread caller([&] {
    try {
      call(started);
    } catch (const Cancelled&) {
      cancelled.store(true, std::memory_order_relaxed);
    } catch (...) {
      other = std::current_exception();
    }
  });
  spin_until([&] { return started.load(std::memory_order_relaxed); });
  pool.shutdown(Shutdown::stop);
  caller.join();
  if (other) {
    try {
      std::rethrow_exception(other);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "the stopped " << what << " threw " << typeid(e).name() << ": " << e.what();
    }
  }
  EXPECT_TRUE(cancelled.load(std::memory_order_relaxed)) << what;
}

TYPED_TEST(CancellationTest, ShutdownStopEndsALongParallelForWithCancelled) {
  auto pool = this->make_pool();
  expect_shutdown_stop_ends_with_cancelled(*pool, "parallel_for", [&](std::atomic<bool>& started) {
    parallel_for(*pool, std::uint64_t{0}, std::uint64_t{1'000'000'000'000}, [&](std::uint64_t) {
      started.store(true, std::memory_order_relaxed);  // relaxed: a go signal only
    });
  });
}

// With many small chunks, a single queue is still posting them when the stop closes the pool:
// the refused rest is skipped, and the call ends with the stop's Cancelled, not PoolClosed.
TYPED_TEST(CancellationTest, ShutdownStopWhileChunksAreBeingPostedEndsWithCancelled) {
  auto pool = this->make_pool();
  MapOptions options;
  options.chunking = Chunking::fixed(1000);
  expect_shutdown_stop_ends_with_cancelled(*pool, "parallel_for", [&](std::atomic<bool>& started) {
    parallel_for(
        *pool, std::size_t{0}, std::size_t{200'000'000},
        [&](std::size_t) {
          started.store(true, std::memory_order_relaxed);  // relaxed: a go signal only
        },
        options);
  });
}

// imap posts a chunk each time the consumer drains one: a post refused by Shutdown::stop ends
// the stream with Cancelled.
TYPED_TEST(CancellationTest, ShutdownStopEndsAnImapThatIsStillPostingWithCancelled) {
  auto pool = this->make_pool();
  const std::vector<int> inputs(2'000'000, 1);
  std::size_t consumed = 0;  // read after the call's thread was joined
  expect_shutdown_stop_ends_with_cancelled(*pool, "imap", [&](std::atomic<bool>& started) {
    for (int r : imap(*pool, inputs, [](int x) { return x; })) {
      consumed += static_cast<std::size_t>(r);
      started.store(true, std::memory_order_relaxed);  // relaxed: a go signal only
    }
  });
  EXPECT_LT(consumed, inputs.size());
}

// A closed pool refuses an algorithm from outside with PoolClosed, whichever shutdown closed
// it: only a stop that lands while the call is running turns the refusal into Cancelled.
TYPED_TEST(CancellationTest, EveryShutdownModeRefusesALaterAlgorithmWithPoolClosed) {
  for (const Shutdown mode : {Shutdown::drain, Shutdown::cancel_pending, Shutdown::stop}) {
    auto pool = this->make_pool();
    pool->shutdown(mode);
    const std::vector<int> inputs(1000, 1);
    std::atomic<int> ran{0};
    const auto item = [&ran](int x) {
      ran.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the calls returned
      return x;
    };
    EXPECT_THROW((void)parallel_map(*pool, inputs, item), PoolClosed);
    EXPECT_THROW(parallel_for(*pool, std::size_t{0}, inputs.size(),
                              [&](std::size_t) { ran.fetch_add(1, std::memory_order_relaxed); }),
                 PoolClosed);
    EXPECT_THROW(
        {
          for (int r : imap(*pool, inputs, item)) (void)r;
        },
        PoolClosed);
    EXPECT_EQ(ran.load(std::memory_order_relaxed), 0);
  }
}

TYPED_TEST(CancellationTest, ShutdownStopRacingSubmitsEndsEveryFuture) {
  for (int round = 0; round < static_cast<int>(test::scaled(40)); ++round) {
    auto pool = this->make_pool();
    std::vector<Future<int>> futures;
    for (int i = 0; i < 20; ++i) {
      futures.push_back(pool->submit(
          [](std::stop_token stop, int k) {
            for (int s = 0; s < 50 && !stop.stop_requested(); ++s) std::this_thread::yield();
            return k;
          },
          i));
    }
    TaskGroup group(*pool);
    for (int i = 0; i < 20; ++i) group.spawn([] { std::this_thread::yield(); });
    pool->shutdown(Shutdown::stop);
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(futures[static_cast<std::size_t>(i)].ready());
      try {
        EXPECT_EQ(futures[static_cast<std::size_t>(i)].get(), i);
      } catch (const Cancelled&) {
      }
    }
    try {
      group.wait();
    } catch (const Cancelled&) {
    }
  }
}

TYPED_TEST(CancellationTest, ASpawnedTaskTakingATokenSeesShutdownStop) {
  auto pool = this->make_pool();
  std::latch started(1);
  std::atomic<bool> saw{false};  // relaxed: read after shutdown()'s join
  pool->spawn([&](std::stop_token stop) {
    started.count_down();
    spin_until([&] { return stop.stop_requested(); });
    saw.store(true, std::memory_order_relaxed);
  });
  started.wait();
  pool->shutdown(Shutdown::stop);
  EXPECT_TRUE(saw.load(std::memory_order_relaxed));
}

TYPED_TEST(CancellationTest, TheDestructorStillDrains) {
  std::atomic<int> ran{0};  // relaxed: read after the destructor's join
  {
    auto pool = this->make_pool();
    for (int i = 0; i < 100; ++i) pool->spawn([&] { ran.fetch_add(1, std::memory_order_relaxed); });
  }
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 100);
}

}  // namespace
}  // namespace forage
