// Behaviour every scheduler shares: Pool and both SingleQueuePools run the same suite.
#include <pthread.h>

#include <atomic>
#include <functional>
#include <latch>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace forage {
namespace {

using std::chrono_literals::operator""s;

template <class System>
class SchedulerConformance : public ::testing::Test {};

using test::Systems;
TYPED_TEST_SUITE(SchedulerConformance, Systems);

TYPED_TEST(SchedulerConformance, EverySpawnedTaskRunsExactlyOnce) {
  constexpr std::size_t kTasks = 10'000;
  auto pool = TypeParam::make(2);
  std::vector<std::atomic<int>> runs(kTasks);
  for (std::size_t i = 0; i < kTasks; ++i) {
    // relaxed: read after wait_idle(), which synchronizes with every finished task.
    pool->spawn([&runs, i] { runs[i].fetch_add(1, std::memory_order_relaxed); });
  }
  pool->wait_idle();
  for (std::size_t i = 0; i < kTasks; ++i) {
    ASSERT_EQ(runs[i].load(std::memory_order_relaxed), 1) << "task " << i;
  }
  EXPECT_EQ(pool->stats().executed(), kTasks);
}

template <class PoolType>
void spawn_tree(PoolType& pool, int depth, std::atomic<std::size_t>& nodes) {
  // relaxed: a count read after wait_idle().
  nodes.fetch_add(1, std::memory_order_relaxed);
  if (depth == 0) return;
  pool.spawn([&pool, depth, &nodes] { spawn_tree(pool, depth - 1, nodes); });
  pool.spawn([&pool, depth, &nodes] { spawn_tree(pool, depth - 1, nodes); });
}

TYPED_TEST(SchedulerConformance, WaitIdleWaitsForTasksSpawnedByTasks) {
  auto pool = TypeParam::make(2);
  std::atomic<std::size_t> nodes{0};
  auto& target = *pool;
  pool->spawn([&target, &nodes] { spawn_tree(target, 12, nodes); });
  pool->wait_idle();
  EXPECT_EQ(nodes.load(std::memory_order_relaxed), (std::size_t{1} << 13) - 1);
}

TYPED_TEST(SchedulerConformance, WaitIdleOnAnIdlePoolReturns) {
  auto pool = TypeParam::make(2);
  pool->wait_idle();
  pool->wait_idle();
  EXPECT_EQ(pool->stats().executed(), 0u);
}

TYPED_TEST(SchedulerConformance, TaskExceptionReachesOnErrorAndWorkerSurvives) {
  std::atomic<int> errors{0};
  std::string message;
  PoolOptions options;
  options.on_error = [&](std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::runtime_error& e) {
      message = e.what();  // one worker: no concurrent writes
    }
    // relaxed: read after wait_idle().
    errors.fetch_add(1, std::memory_order_relaxed);
  };
  auto pool = TypeParam::make(1, options);
  std::atomic<int> ran_after{0};
  pool->spawn([] { throw std::runtime_error("boom"); });
  pool->spawn([&] { ran_after.fetch_add(1, std::memory_order_relaxed); });
  pool->wait_idle();
  EXPECT_EQ(errors.load(std::memory_order_relaxed), 1);
  EXPECT_EQ(message, "boom");
  EXPECT_EQ(ran_after.load(std::memory_order_relaxed), 1);
}

TYPED_TEST(SchedulerConformance, ThrowingOnErrorHandlerDoesNotKillTheWorker) {
  PoolOptions options;
  options.on_error = [](std::exception_ptr) { throw std::logic_error("handler failed"); };
  auto pool = TypeParam::make(1, options);
  std::atomic<int> ran_after{0};
  pool->spawn([] { throw 42; });
  pool->spawn([&] { ran_after.fetch_add(1, std::memory_order_relaxed); });
  pool->wait_idle();
  EXPECT_EQ(ran_after.load(std::memory_order_relaxed), 1);
}

TYPED_TEST(SchedulerConformance, SpawnAfterShutdownThrowsPoolClosed) {
  auto pool = TypeParam::make(2);
  pool->shutdown();
  EXPECT_TRUE(pool->closed());
  try {
    pool->spawn([] {});
    FAIL() << "spawn after shutdown did not throw";
  } catch (const PoolClosed& e) {
    EXPECT_NE(std::string(e.what()).find("before calling shutdown()"), std::string::npos)
        << e.what();
  }
}

TYPED_TEST(SchedulerConformance, PostOnClosedPoolCancelsTheTaskThenThrows) {
  auto pool = TypeParam::make(1);
  pool->shutdown();
  std::atomic<std::size_t> ran{0};
  std::atomic<std::size_t> cancelled{0};
  EXPECT_THROW(detail::SchedulerAccess::post(*pool, new test::CountingTask(ran, cancelled)),
               PoolClosed);
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 0u);
  EXPECT_EQ(cancelled.load(std::memory_order_relaxed), 1u);
}

TYPED_TEST(SchedulerConformance, ShutdownIsIdempotent) {
  auto pool = TypeParam::make(2);
  pool->shutdown();
  pool->shutdown();
  pool->shutdown(Shutdown::cancel_pending);
  EXPECT_TRUE(pool->closed());
}

TYPED_TEST(SchedulerConformance, DrainShutdownRunsTasksSpawnedWhileDraining) {
  auto pool = TypeParam::make(2);
  std::atomic<std::size_t> nodes{0};
  auto& target = *pool;
  for (int root = 0; root < 8; ++root) {
    pool->spawn([&target, &nodes] { spawn_tree(target, 10, nodes); });
  }
  pool->shutdown(Shutdown::drain);
  EXPECT_EQ(nodes.load(std::memory_order_relaxed), 8 * ((std::size_t{1} << 11) - 1));
}

TYPED_TEST(SchedulerConformance, CancelPendingReportsEveryDroppedTask) {
  constexpr std::size_t kQueued = 1000;
  auto pool = TypeParam::make(1);
  std::atomic<bool> release_blocker{false};
  std::latch blocker_running(1);
  pool->spawn([&] {
    blocker_running.count_down();
    // acquire: pairs with the release below; shutdown(cancel_pending) has begun by then.
    while (!release_blocker.load(std::memory_order_acquire)) std::this_thread::yield();
  });
  blocker_running.wait();
  std::atomic<std::size_t> ran{0};
  std::atomic<std::size_t> cancelled{0};
  for (std::size_t i = 0; i < kQueued; ++i)
    detail::SchedulerAccess::post(*pool, new test::CountingTask(ran, cancelled));

  std::thread stopper([&] { pool->shutdown(Shutdown::cancel_pending); });
  while (!pool->closed()) std::this_thread::yield();
  release_blocker.store(true, std::memory_order_release);
  stopper.join();

  EXPECT_EQ(ran.load(std::memory_order_relaxed), 0u);
  EXPECT_EQ(cancelled.load(std::memory_order_relaxed), kQueued);
  EXPECT_EQ(pool->stats().cancelled(), kQueued);
}

TYPED_TEST(SchedulerConformance, EmptyCallableThrowsInvalidArgument) {
  auto pool = TypeParam::make(1);
  void (*null_function)() = nullptr;
  EXPECT_THROW(pool->spawn(null_function), InvalidArgument);
  std::function<void()> empty;
  try {
    pool->spawn(empty);
    FAIL() << "an empty std::function was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
}

TYPED_TEST(SchedulerConformance, TooManyWorkersThrowsInvalidArgument) {
  try {
    TypeParam::make(TypeParam::PoolType::kMaxWorkers + 1);
    FAIL() << "a pool above kMaxWorkers was created";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("the maximum is"), std::string::npos) << e.what();
  }
}

// Runs `call` on a worker of `pool` and returns whether it threw WouldDeadlock.
template <class PoolType, class Call>
bool throws_would_deadlock_on_worker(PoolType& pool, Call call) {
  std::atomic<int> outcome{0};  // 1: WouldDeadlock, 2: returned or threw something else
  pool.spawn([&] {
    try {
      call();
      outcome.store(2, std::memory_order_release);
    } catch (const WouldDeadlock&) {
      outcome.store(1, std::memory_order_release);
    } catch (...) {
      outcome.store(2, std::memory_order_release);
    }
  });
  pool.wait_idle();
  return outcome.load(std::memory_order_acquire) == 1;
}

TYPED_TEST(SchedulerConformance, WaitIdleOnOwnWorkerThrowsWouldDeadlock) {
  auto pool = TypeParam::make(2);
  auto& target = *pool;
  EXPECT_TRUE(throws_would_deadlock_on_worker(target, [&] { target.wait_idle(); }));
}

TYPED_TEST(SchedulerConformance, ShutdownOnOwnWorkerThrowsWouldDeadlock) {
  auto pool = TypeParam::make(2);
  auto& target = *pool;
  EXPECT_TRUE(throws_would_deadlock_on_worker(target, [&] { target.shutdown(); }));
  EXPECT_FALSE(pool->closed());
}

TYPED_TEST(SchedulerConformance, DestroyOnOwnWorkerThrowsWouldDeadlockAndStillDrains) {
  constexpr std::size_t kQueued = 200;
  std::latch workers_stopped(2);
  PoolOptions options;
  options.on_worker_stop = [&](std::size_t) { workers_stopped.count_down(); };
  auto pool = TypeParam::make(2, options);
  auto* raw = pool.release();
  std::atomic<std::size_t> ran{0};
  std::atomic<std::size_t> cancelled{0};
  std::atomic<bool> threw{false};
  for (std::size_t i = 0; i < kQueued; ++i)
    detail::SchedulerAccess::post(*raw, new test::CountingTask(ran, cancelled));
  std::atomic<bool> spawn_returned{false};
  raw->spawn([raw, &threw, &spawn_returned] {
    // acquire: pairs with the release below. Destroying an object while another thread is
    // still inside one of its calls (our spawn) would be the caller's race, so wait for it.
    while (!spawn_returned.load(std::memory_order_acquire)) std::this_thread::yield();
    try {
      delete raw;
    } catch (const WouldDeadlock&) {
      threw.store(true, std::memory_order_relaxed);
    }
  });
  spawn_returned.store(true, std::memory_order_release);  // `raw` is not touched after this
  test::Watchdog watchdog("abandoned pool drains", 60s);
  workers_stopped.wait();
  // The latch orders the workers' last counts before these reads.
  EXPECT_TRUE(threw.load(std::memory_order_relaxed));
  EXPECT_EQ(ran.load(std::memory_order_relaxed), kQueued);
  EXPECT_EQ(cancelled.load(std::memory_order_relaxed), 0u);
}

TYPED_TEST(SchedulerConformance, OneWorkerRunsNestedSpawns) {
  auto pool = TypeParam::make(1);
  std::atomic<std::size_t> nodes{0};
  auto& target = *pool;
  pool->spawn([&target, &nodes] { spawn_tree(target, 10, nodes); });
  pool->wait_idle();
  EXPECT_EQ(nodes.load(std::memory_order_relaxed), (std::size_t{1} << 11) - 1);
}

TYPED_TEST(SchedulerConformance, EightWorkersOnTwoCoresLoseNothing) {
  auto pool = TypeParam::make(8);
  EXPECT_EQ(pool->worker_count(), 8u);
  std::atomic<std::size_t> nodes{0};
  auto& target = *pool;
  for (int root = 0; root < 16; ++root) {
    pool->spawn([&target, &nodes] { spawn_tree(target, 10, nodes); });
  }
  pool->wait_idle();
  EXPECT_EQ(nodes.load(std::memory_order_relaxed), 16 * ((std::size_t{1} << 11) - 1));
}

TYPED_TEST(SchedulerConformance, WorkerStartAndStopHooksRunOncePerWorker) {
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  PoolOptions options;
  options.on_worker_start = [&](std::size_t) { started.fetch_add(1, std::memory_order_relaxed); };
  options.on_worker_stop = [&](std::size_t) { stopped.fetch_add(1, std::memory_order_relaxed); };
  auto pool = TypeParam::make(3, options);
  pool->shutdown();  // joins: the counts are final
  EXPECT_EQ(started.load(std::memory_order_relaxed), 3);
  EXPECT_EQ(stopped.load(std::memory_order_relaxed), 3);
}

TYPED_TEST(SchedulerConformance, WorkerThreadsAreNamedAfterThePool) {
  PoolOptions options;
  options.name = "conf";
  auto pool = TypeParam::make(1, options);
  std::string thread_name;
  pool->spawn([&] {
    char buffer[16] = {};
    pthread_getname_np(pthread_self(), buffer, sizeof buffer);
    thread_name = buffer;
  });
  pool->wait_idle();
  EXPECT_EQ(thread_name, "forage-conf-0");
}

TYPED_TEST(SchedulerConformance, DestructorDrainsQueuedTasks) {
  std::atomic<std::size_t> ran{0};
  std::atomic<std::size_t> cancelled{0};
  {
    auto pool = TypeParam::make(2);
    for (int i = 0; i < 5000; ++i)
      detail::SchedulerAccess::post(*pool, new test::CountingTask(ran, cancelled));
  }
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 5000u);
  EXPECT_EQ(cancelled.load(std::memory_order_relaxed), 0u);
}

}  // namespace
}  // namespace forage
