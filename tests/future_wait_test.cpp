// Waiting for futures: help-while-wait on the workers (chains of tasks that wait for the task
// they submitted, naps when there is nothing to help with), sleeping off the workers,
// deadlines, and what Shutdown::cancel_pending, Shutdown::drain and destroying a pool leave
// behind. Typed over the three schedulers; a watchdog turns every possible hang into a
// failure, and no test asserts on elapsed time.
#include <pthread.h>
#include <time.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "future_test_support.hpp"
#include "test_support.hpp"

namespace forage {
namespace {

using namespace std::chrono_literals;
using test::wait_for_sleeper;

template <class System>
class FutureWait : public ::testing::Test {};

using test::Systems;
TYPED_TEST_SUITE(FutureWait, Systems);

// The requirement: a chain this long, each link waiting for the next, on 1 and 2
// workers. ThreadSanitizer's memory grows with the square of the nesting depth (measured on
// one worker: 2,000 links 0.3 GB, 4,000 links 1.1 GB, 8,000 links 4.1 GB of RSS, and it is
// not returned between tests), so under TSan the chain is 1,000 links; ASan keeps 10^4, which
// checks the stack depth with its larger frames.
#if defined(__SANITIZE_THREAD__)
#define FORAGE_TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FORAGE_TEST_UNDER_TSAN 1
#endif
#endif
#ifdef FORAGE_TEST_UNDER_TSAN
constexpr std::size_t kChainLinks = 1'000;
#else
constexpr std::size_t kChainLinks = 10'000;
#endif

// Link `link` of a chain of `links` tasks: submits the next link and waits for it, so every
// link but the last waits for a task it submitted, and the links nest on the workers' stacks.
// Returns how many links ran from this one to the end.
template <class PoolType>
std::size_t run_chain(PoolType& pool, std::size_t link, std::size_t links) {
  if (link + 1 == links) return 1;
  return pool.submit([&pool, link, links] { return run_chain(pool, link + 1, links); }).get() + 1;
}

template <class System>
void expect_chain_finishes(std::size_t workers) {
  auto pool = System::make(workers);
  test::Watchdog watchdog("a chain of tasks each waiting for the next", 120s);
  auto& target = *pool;
  Future<std::size_t> chain = pool->submit([&target] { return run_chain(target, 0, kChainLinks); });
  EXPECT_EQ(chain.get(), kChainLinks);
  pool->wait_idle();
  // Every link ran once, as a task of the pool (the ones run while helping included).
  EXPECT_EQ(pool->stats().executed(), kChainLinks);
}

// One worker can only finish the chain by running each link inside the wait of the previous.
TYPED_TEST(FutureWait, ChainOfTasksEachWaitingForTheNextFinishesOnOneWorker) {
  expect_chain_finishes<TypeParam>(1);
}

TYPED_TEST(FutureWait, ChainOfTasksEachWaitingForTheNextFinishesOnTwoWorkers) {
  expect_chain_finishes<TypeParam>(2);
}

// Set by a task while it waits for the futures it submitted; a task that sees it set ran on
// a worker that was inside that wait: it was run while helping.
thread_local bool inside_waiting_task = false;

TYPED_TEST(FutureWait, TasksRunWhileHelpingCountAsExecuted) {
  constexpr std::size_t kChildren = 100;
  auto pool = TypeParam::make(1);
  test::Watchdog watchdog("one worker helping its own children", 60s);
  auto& target = *pool;
  Future<std::size_t> parent = pool->submit([&target] {
    std::vector<Future<bool>> children;
    for (std::size_t i = 0; i < kChildren; ++i) {
      children.push_back(target.submit([] { return inside_waiting_task; }));
    }
    inside_waiting_task = true;
    std::size_t helped = 0;
    for (Future<bool>& child : children) helped += child.get() ? 1 : 0;
    inside_waiting_task = false;
    return helped;
  });
  // The only worker was inside the parent's wait for every child.
  EXPECT_EQ(parent.get(), kChildren);
  pool->wait_idle();
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.executed(), kChildren + 1);
  ASSERT_EQ(stats.workers.size(), 1u);
  EXPECT_EQ(stats.workers[0].executed, kChildren + 1);
}

// The other worker is running the awaited task, so the waiter has nothing to help with: it
// naps on the future's futex (the sleeper bit says so) and must still see the completion.
TYPED_TEST(FutureWait, WorkerWaitingForATaskAnotherWorkerRunsNapsAndCompletes) {
  auto pool = TypeParam::make(2);
  test::Watchdog watchdog("a worker waiting for a running task", 60s);
  std::latch inner_started{1};
  std::latch release_inner{1};
  Future<int> inner = pool->submit([&] {
    inner_started.count_down();
    release_inner.wait();
    return 7;
  });
  inner_started.wait();  // running, not queued: the waiter cannot run it itself
  const detail::SharedState<int>& inner_state = *detail::FutureAccess::state(inner);
  Future<int> outer = pool->submit([&inner] { return inner.get() * 2; });
  wait_for_sleeper(inner_state);  // the outer task, on the other worker, naps on it
  release_inner.count_down();
  EXPECT_EQ(outer.get(), 14);
}

TYPED_TEST(FutureWait, WorkerWaitingOnAPromiseWakesWhenAnOutsideThreadFulfilsIt) {
  auto pool = TypeParam::make(1);
  test::Watchdog watchdog("a worker waiting on a promise", 60s);
  Promise<int> promise;
  Future<int> promised = promise.get_future();
  const detail::SharedState<int>& promised_state = *detail::FutureAccess::state(promised);
  Future<int> waiter =
      pool->submit([promised = std::move(promised)]() mutable { return promised.get() + 1; });
  std::thread producer([&] {
    wait_for_sleeper(promised_state);  // the only worker naps on it: nothing else to run
    promise.set_value(41);
  });
  EXPECT_EQ(waiter.get(), 42);
  producer.join();
}

std::chrono::nanoseconds thread_cpu_time() {
  timespec spent{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spent);
  return std::chrono::seconds(spent.tv_sec) + std::chrono::nanoseconds(spent.tv_nsec);
}

// As Pool.IdlePoolSleeps: a CPU-time assertion, not a wall-time one.
TYPED_TEST(FutureWait, WaitingOffAWorkerSleepsInsteadOfSpinning) {
  auto pool = TypeParam::make(1);
  test::Watchdog watchdog("an outside thread waiting", 60s);
  std::latch release{1};
  Future<int> blocked = pool->submit([&release] {
    release.wait();
    return 3;
  });
  std::latch waiting{1};
  std::chrono::nanoseconds waiter_cpu{-1};  // read after join()
  std::thread waiter([&] {
    const auto before = thread_cpu_time();
    waiting.count_down();
    blocked.wait();
    waiter_cpu = thread_cpu_time() - before;
  });
  waiting.wait();
  std::this_thread::sleep_for(200ms);  // how long the waiter waits; its CPU time is measured
  release.count_down();
  waiter.join();
  EXPECT_EQ(blocked.get(), 3);
  // Under 10% of one core over the ~200 ms wait.
  EXPECT_GE(waiter_cpu.count(), 0);
  EXPECT_LT(waiter_cpu, 20ms) << "the waiting thread used " << waiter_cpu.count()
                              << " ns of CPU while the task was blocked";
}

TYPED_TEST(FutureWait, WaitForOnAWorkerReturnsFalseWhileTheAwaitedTaskIsBlocked) {
  auto pool = TypeParam::make(2);
  test::Watchdog watchdog("wait_for on a worker", 60s);
  std::latch started{1};
  std::latch release{1};
  Future<int> blocked = pool->submit([&] {
    started.count_down();
    release.wait();
    return 5;
  });
  started.wait();  // running on one worker; the other cannot run it while it helps
  Future<std::array<bool, 4>> probe = pool->submit([&blocked] {
    return std::array<bool, 4>{
        blocked.wait_for(20ms), blocked.wait_until(std::chrono::steady_clock::now() + 20ms),
        blocked.wait_until(std::chrono::system_clock::now() + 20ms),
        blocked.wait_for(0ms),  // a poll
    };
  });
  const std::array<bool, 4> done = probe.get();
  EXPECT_FALSE(done[0]) << "wait_for";
  EXPECT_FALSE(done[1]) << "wait_until (steady_clock)";
  EXPECT_FALSE(done[2]) << "wait_until (system_clock)";
  EXPECT_FALSE(done[3]) << "wait_for(0)";
  EXPECT_FALSE(blocked.ready());
  release.count_down();
  // Once it completes, a deadline wait on a worker sees it.
  Future<bool> after = pool->submit([&blocked] { return blocked.wait_for(1h); });
  EXPECT_TRUE(after.get());
  EXPECT_EQ(blocked.get(), 5);
}

// Parks every worker of a pool in a task until release() (the pending tasks stay queued).
// The latches outlive the tasks that use them (count_down may still touch one after the
// waiter returned), so this object must outlive the pool's shutdown.
struct WorkerBlocker {
  explicit WorkerBlocker(std::size_t worker_count)
      : workers(worker_count), running(static_cast<std::ptrdiff_t>(worker_count)) {}

  template <class PoolType>
  void block(PoolType& pool) {
    for (std::size_t i = 0; i < workers; ++i) {
      pool.spawn([this] {
        running.count_down();
        released.wait();
      });
    }
    running.wait();
  }
  void release() { released.count_down(); }

  std::size_t workers;
  std::latch running;
  std::latch released{1};
};

// Futures of tasks that count their runs and return their index.
template <class PoolType>
std::vector<Future<std::size_t>> submit_counted(PoolType& pool, std::size_t count,
                                                std::atomic<std::size_t>& ran) {
  std::vector<Future<std::size_t>> futures;
  futures.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    futures.push_back(pool.submit([&ran, i] {
      // relaxed: a count read after the pool is shut down (its workers joined).
      ran.fetch_add(1, std::memory_order_relaxed);
      return i;
    }));
  }
  return futures;
}

struct Outcomes {
  std::size_t values = 0;
  std::size_t cancelled = 0;
  std::size_t wrong = 0;  // not done, a wrong value, or a cancelled one whose get() did not throw
};

Outcomes collect(std::vector<Future<std::size_t>>& futures) {
  Outcomes outcomes;
  for (std::size_t i = 0; i < futures.size(); ++i) {
    Future<std::size_t>& future = futures[i];
    if (!future.ready()) {
      ++outcomes.wrong;
    } else if (future.cancelled()) {
      ++outcomes.cancelled;
      try {
        future.get();
        ++outcomes.wrong;
      } catch (const Cancelled&) {
      }
    } else if (future.get() == i) {
      ++outcomes.values;
    } else {
      ++outcomes.wrong;
    }
  }
  return outcomes;
}

// Outside threads asleep in wait() on some of the futures; each records whether what woke
// it was a cancellation.
struct SleepingWaiters {
  static constexpr std::array<double, 3> kWhere = {0.0, 0.5, 1.0};  // first, middle, last

  explicit SleepingWaiters(std::vector<Future<std::size_t>>& futures) {
    for (std::size_t k = 0; k < kWhere.size(); ++k) {
      const auto index =
          static_cast<std::size_t>(kWhere[k] * static_cast<double>(futures.size() - 1));
      Future<std::size_t>& future = futures[index];
      threads.emplace_back([&future, this, k] {
        future.wait();
        saw_cancelled[k] = future.cancelled();  // read after join()
      });
      wait_for_sleeper(*detail::FutureAccess::state(future));  // asleep before we go on
    }
  }
  void join() {
    for (std::thread& thread : threads) thread.join();
  }

  std::vector<std::thread> threads;
  std::array<bool, kWhere.size()> saw_cancelled{};
};

TYPED_TEST(FutureWait, CancelPendingShutdownCancelsEveryPendingFutureAndWakesItsWaiters) {
  constexpr std::size_t kWorkers = 2;
  const std::size_t total = test::scaled(100'000);
  auto pool = TypeParam::make(kWorkers);
  test::Watchdog watchdog("shutdown(cancel_pending) with pending futures", 120s);
  WorkerBlocker blocker(kWorkers);
  blocker.block(*pool);
  std::atomic<std::size_t> ran{0};
  std::vector<Future<std::size_t>> futures = submit_counted(*pool, total, ran);
  SleepingWaiters waiters(futures);

  std::thread closer([&pool] { pool->shutdown(Shutdown::cancel_pending); });
  // Release the workers only once the shutdown has begun: every future is still pending
  // then, so every one must be cancelled.
  while (!pool->closed()) std::this_thread::yield();
  blocker.release();
  closer.join();
  waiters.join();  // woken by the cancellation (else the watchdog fires)

  const Outcomes outcomes = collect(futures);
  EXPECT_EQ(outcomes.wrong, 0u);
  EXPECT_EQ(outcomes.values + outcomes.cancelled, total);
  // relaxed: the workers were joined by shutdown().
  EXPECT_EQ(ran.load(std::memory_order_relaxed), outcomes.values);
  EXPECT_EQ(outcomes.cancelled, total) << "futures still pending when the shutdown began";
  for (bool cancelled : waiters.saw_cancelled) EXPECT_TRUE(cancelled);
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.cancelled(), outcomes.cancelled);
  EXPECT_EQ(stats.executed(), kWorkers + outcomes.values);  // the blockers and the values
}

TYPED_TEST(FutureWait, DrainShutdownRunsEveryPendingFuture) {
  constexpr std::size_t kWorkers = 2;
  const std::size_t total = test::scaled(100'000);
  auto pool = TypeParam::make(kWorkers);
  test::Watchdog watchdog("shutdown(drain) with pending futures", 120s);
  WorkerBlocker blocker(kWorkers);
  blocker.block(*pool);
  std::atomic<std::size_t> ran{0};
  std::vector<Future<std::size_t>> futures = submit_counted(*pool, total, ran);
  SleepingWaiters waiters(futures);

  std::thread closer([&pool] { pool->shutdown(Shutdown::drain); });
  while (!pool->closed()) std::this_thread::yield();
  blocker.release();
  closer.join();
  waiters.join();

  const Outcomes outcomes = collect(futures);
  EXPECT_EQ(outcomes.wrong, 0u);
  EXPECT_EQ(outcomes.values, total);
  EXPECT_EQ(outcomes.cancelled, 0u);
  // relaxed: the workers were joined by shutdown().
  EXPECT_EQ(ran.load(std::memory_order_relaxed), total);
  for (bool cancelled : waiters.saw_cancelled) EXPECT_FALSE(cancelled);
  EXPECT_EQ(pool->stats().cancelled(), 0u);
}

// The destructor drains: every future it leaves is done, and get() on each returns. A
// continuation registered while the pool lived ran on it; one that falls due after the pool
// is gone (then() without an executor on a future of the dead pool, or then(dead_pool, f) on
// a promise fulfilled later) is cancelled without calling f. on_done still runs (inline), and
// then(live_pool, f) runs on the live pool.
TYPED_TEST(FutureWait, DestroyingAPoolLeavesEveryFutureDoneAndLateContinuationsCancelled) {
  constexpr std::size_t kWorkers = 2;
  constexpr std::size_t kFutures = 1'000;
  auto pool = TypeParam::make(kWorkers);
  auto survivor = TypeParam::make(1);
  test::Watchdog watchdog("futures of a destroyed pool", 120s);
  WorkerBlocker blocker(kWorkers);
  blocker.block(*pool);

  std::atomic<std::size_t> ran{0};
  std::vector<Future<std::size_t>> futures = submit_counted(*pool, kFutures, ran);
  std::vector<Future<std::size_t>> early;  // then() registered while the pool lives
  for (std::size_t i = 0; i < kFutures; ++i) {
    early.push_back(pool->submit([i] { return i; }).then([](std::size_t v) { return 2 * v; }));
  }
  // Futures of the pool kept for after it is gone (values kKeptBase + k).
  constexpr std::size_t kKeptBase = 1'000'000;
  std::vector<Future<std::size_t>> kept;
  for (std::size_t k = 0; k < 4; ++k) kept.push_back(pool->submit([k] { return kKeptBase + k; }));
  std::atomic<int> late_calls{0};
  Promise<int> promise;
  Future<int> due_after_pool = promise.get_future().then(*pool, [&late_calls](int v) {
    // relaxed: a count read by this thread after the continuation's future is done.
    late_calls.fetch_add(1, std::memory_order_relaxed);
    return v;
  });

  // Let the workers go a little later, so the destructor usually starts with every task
  // still pending (nothing below depends on which comes first).
  std::thread releaser([&blocker] {
    std::this_thread::sleep_for(20ms);
    blocker.release();
  });
  pool.reset();
  releaser.join();

  const Outcomes outcomes = collect(futures);
  EXPECT_EQ(outcomes.wrong, 0u);
  EXPECT_EQ(outcomes.values, kFutures);  // the destructor drains
  // relaxed: the workers were joined by the destructor.
  EXPECT_EQ(ran.load(std::memory_order_relaxed), kFutures);
  for (std::size_t i = 0; i < kFutures; ++i) {
    ASSERT_TRUE(early[i].ready()) << i;
    ASSERT_EQ(early[i].get(), 2 * i) << i;
  }

  // A continuation that falls due after the pool is gone has nowhere to run: cancelled,
  // without calling f, and get() says so.
  Future<std::size_t> orphan = kept[0].then([&late_calls](std::size_t v) {
    // relaxed: a count read by this thread after the continuation's future is done.
    late_calls.fetch_add(1, std::memory_order_relaxed);
    return v;
  });
  ASSERT_TRUE(orphan.ready());
  EXPECT_TRUE(orphan.cancelled());
  EXPECT_THROW(orphan.get(), Cancelled);
  Future<std::size_t> shared_orphan = kept[1].share().then([&late_calls](const std::size_t& v) {
    late_calls.fetch_add(1, std::memory_order_relaxed);  // relaxed: as above
    return v;
  });
  ASSERT_TRUE(shared_orphan.ready());
  EXPECT_THROW(shared_orphan.get(), Cancelled);
  promise.set_value(1);  // due_after_pool's target pool is gone
  ASSERT_TRUE(due_after_pool.ready());
  EXPECT_THROW(due_after_pool.get(), Cancelled);
  // relaxed: every call would have been on this thread (inline) or not at all.
  EXPECT_EQ(late_calls.load(std::memory_order_relaxed), 0);

  // on_done needs no pool: it runs at once, here, with the value.
  std::size_t seen = 0;
  kept[2].on_done([&seen](Future<std::size_t>& done) { seen = done.get() + 1; });
  EXPECT_EQ(seen, kKeptBase + 2 + 1);
  // then() onto a live pool runs there.
  Future<std::size_t> moved = kept[3].then(*survivor, [](std::size_t v) { return v + 1; });
  EXPECT_EQ(moved.get(), kKeptBase + 3 + 1);
}

TYPED_TEST(FutureWait, StackSizeBelowTheMinimumThrowsInvalidArgument) {
  for (const std::size_t bytes : {std::size_t{1}, PoolOptions::kMinStackSize - 1}) {
    PoolOptions options;
    options.stack_size = bytes;
    EXPECT_THROW(TypeParam::make(1, options), InvalidArgument) << bytes << " bytes";
  }
}

// The size of the calling thread's stack, as the thread was created with.
std::size_t own_stack_size() {
  pthread_attr_t attributes;
  if (pthread_getattr_np(pthread_self(), &attributes) != 0) return 0;
  std::size_t bytes = 0;
  pthread_attr_getstacksize(&attributes, &bytes);
  pthread_attr_destroy(&attributes);
  return bytes;
}

TYPED_TEST(FutureWait, WorkersGetTheStackSizeAsked) {
  test::Watchdog watchdog("tasks on custom stacks", 60s);
  for (const std::size_t bytes : {PoolOptions::kMinStackSize, std::size_t{1} << 20}) {
    PoolOptions options;
    options.stack_size = bytes;
    auto pool = TypeParam::make(1, options);
    const std::size_t got = pool->submit(own_stack_size).get();
    // At least what was asked (sanitizers raise a small stack to their own minimum), and not
    // the default.
    EXPECT_GE(got, bytes);
    EXPECT_LT(got, PoolOptions::kDefaultStackSize) << "asked for " << bytes << " bytes";
  }
  auto pool = TypeParam::make(1);  // stack_size = 0: the default
  EXPECT_GE(pool->submit(own_stack_size).get(), PoolOptions::kDefaultStackSize);
}

}  // namespace
}  // namespace forage
