// Future<T> and SharedFuture<T> on the three schedulers: results, errors, empty futures,
// cancellation, on_done, polling and timed waits.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "future_test_support.hpp"
#include "test_support.hpp"

namespace forage {
namespace {

using namespace std::chrono_literals;
using namespace test;  // the helpers of test_support.hpp and future_test_support.hpp

using FutureFixture = WatchedTest;

template <class System>
class FutureTest : public FutureFixture {};

TYPED_TEST_SUITE(FutureTest, Systems);

// --- Results ---------------------------------------------------------------------------------

TYPED_TEST(FutureTest, SubmitDeliversTheValue) {
  auto pool = TypeParam::make(2);
  auto future = pool->submit([] { return 42; });
  static_assert(std::is_same_v<decltype(future), Future<int>>);
  ASSERT_TRUE(future.valid());
  EXPECT_EQ(future.get(), 42);
  EXPECT_FALSE(future.valid());
}

TYPED_TEST(FutureTest, SubmitOfVoidCompletesAfterTheTaskRan) {
  auto pool = TypeParam::make(2);
  std::atomic<bool> ran{false};
  // relaxed: get() synchronizes with the task's completion (the future's release).
  auto future = pool->submit([&ran] { ran.store(true, std::memory_order_relaxed); });
  static_assert(std::is_same_v<decltype(future), Future<void>>);
  future.get();
  // relaxed: get() ordered the task's store.
  EXPECT_TRUE(ran.load(std::memory_order_relaxed));
  EXPECT_FALSE(future.valid());
}

TYPED_TEST(FutureTest, MoveOnlyResultIsMovedOutByGet) {
  auto pool = TypeParam::make(2);
  auto future = pool->submit([] { return std::make_unique<int>(7); });
  static_assert(std::is_same_v<decltype(future), Future<std::unique_ptr<int>>>);
  std::unique_ptr<int> value = future.get();
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(*value, 7);
}

TYPED_TEST(FutureTest, ArgumentsAreForwardedToTheCallable) {
  auto pool = TypeParam::make(2);
  auto joined = pool->submit(
      [](int n, const std::string& text) { return text + std::to_string(n); }, 4, std::string("x"));
  EXPECT_EQ(joined.get(), "x4");
  // A move-only argument is moved into the task and handed to the callable as an rvalue,
  // as std::async does, so the callable may take it by value.
  auto doubled =
      pool->submit([](std::unique_ptr<int> p) { return *p * 2; }, std::make_unique<int>(21));
  EXPECT_EQ(doubled.get(), 42);
}

TYPED_TEST(FutureTest, GetRethrowsTheTaskExceptionExactlyOnce) {
  auto pool = TypeParam::make(2);
  auto future = pool->submit([]() -> int { throw std::runtime_error("task failed"); });
  let_workers_release(*pool);
  EXPECT_EQ(message_of<std::runtime_error>([&] { (void)future.get(); }), "task failed");
  EXPECT_FALSE(future.valid());
  const std::string second = message_of<AlreadyRetrieved>([&] { (void)future.get(); });
  EXPECT_NE(second.find("get() already took"), std::string::npos) << second;
}

// --- Empty futures ---------------------------------------------------------------------------

TEST_F(FutureFixture, DefaultConstructedFutureThrowsEmptyFutureNamingTheCause) {
  Future<int> future;
  EXPECT_FALSE(future.valid());
  const std::string message = message_of<EmptyFuture>([&] { (void)future.get(); });
  EXPECT_NE(message.find("default-constructed"), std::string::npos) << message;
  EXPECT_THROW((void)future.ready(), EmptyFuture);
  EXPECT_THROW((void)future.cancelled(), EmptyFuture);
  EXPECT_THROW((void)future.cancel(), EmptyFuture);
  EXPECT_THROW(future.wait(), EmptyFuture);
  EXPECT_THROW((void)future.wait_for(0s), EmptyFuture);
  EXPECT_THROW((void)future.wait_until(std::chrono::steady_clock::now()), EmptyFuture);
  SharedFuture<int> shared;
  EXPECT_FALSE(shared.valid());
  const std::string shared_message = message_of<EmptyFuture>([&] { (void)shared.get(); });
  EXPECT_NE(shared_message.find("default-constructed"), std::string::npos) << shared_message;
}

TYPED_TEST(FutureTest, MovedFromFutureThrowsEmptyFutureNamingTheCause) {
  auto pool = TypeParam::make(2);
  auto original = pool->submit([] { return 3; });
  Future<int> moved = std::move(original);
  EXPECT_FALSE(original.valid());  // NOLINT(bugprone-use-after-move): the behaviour under test
  const std::string message = message_of<EmptyFuture>([&] { (void)original.get(); });
  EXPECT_NE(message.find("moved from"), std::string::npos) << message;
  EXPECT_EQ(moved.get(), 3);
}

TYPED_TEST(FutureTest, SharedFutureTakesTheFutureAndSaysSo) {
  auto pool = TypeParam::make(2);
  auto future = pool->submit([] { return 3; });
  SharedFuture<int> shared = future.share();
  EXPECT_FALSE(future.valid());
  const std::string message = message_of<EmptyFuture>([&] { (void)future.get(); });
  EXPECT_NE(message.find("share()"), std::string::npos) << message;
  EXPECT_EQ(shared.get(), 3);
}

TYPED_TEST(FutureTest, ThenAndOnDoneTakeTheFutureAndSaySo) {
  auto pool = TypeParam::make(2);
  auto chained = pool->submit([] { return 3; });
  auto next = chained.then([](int v) { return v + 1; });
  EXPECT_FALSE(chained.valid());
  const std::string message = message_of<EmptyFuture>([&] { (void)chained.get(); });
  EXPECT_NE(message.find("then(), on_done(), when_all() or when_any() took this future"),
            std::string::npos)
      << message;
  EXPECT_EQ(next.get(), 4);

  auto observed = pool->submit([] { return 5; });
  std::latch called(1);
  observed.on_done([&called](Future<int>&) { called.count_down(); });
  EXPECT_FALSE(observed.valid());
  const std::string on_done_message = message_of<EmptyFuture>([&] { (void)observed.get(); });
  EXPECT_NE(on_done_message.find("took this future"), std::string::npos) << on_done_message;
  called.wait();
}

// --- Submission errors -----------------------------------------------------------------------

TYPED_TEST(FutureTest, SubmitAfterShutdownThrowsPoolClosed) {
  auto pool = TypeParam::make(2);
  pool->shutdown();
  EXPECT_THROW((void)pool->submit([] { return 1; }), PoolClosed);
}

TYPED_TEST(FutureTest, SubmitOfAnEmptyCallableThrowsInvalidArgument) {
  auto pool = TypeParam::make(1);
  int (*null_function)() = nullptr;
  EXPECT_THROW((void)pool->submit(null_function), InvalidArgument);
  std::function<int(int)> empty;
  const std::string message = message_of<InvalidArgument>([&] { (void)pool->submit(empty, 1); });
  EXPECT_NE(message.find("empty"), std::string::npos) << message;
}

// --- Cancellation ----------------------------------------------------------------------------

TYPED_TEST(FutureTest, CancelBeforeRunDropsTheCallableWithoutRunningIt) {
  std::atomic<bool> ran{false};
  std::atomic<int> destroyed{0};
  GatedPool<TypeParam> pool(1);
  pool.block_workers();
  // relaxed: read after shutdown() joined the worker.
  auto future = pool->submit([&ran, counter = DestructionCounter(destroyed)] {
    ran.store(true, std::memory_order_relaxed);
    return 1;
  });
  ASSERT_FALSE(future.ready());
  EXPECT_TRUE(future.cancel());
  EXPECT_TRUE(future.cancelled());
  EXPECT_TRUE(future.ready());
  EXPECT_FALSE(future.cancel()) << "a second cancel() found the task still pending";
  // The callable (and what it captured) is freed by cancel() itself, not when dequeued.
  // relaxed: cancel() ran the destructor on this thread.
  EXPECT_EQ(destroyed.load(std::memory_order_relaxed), 1);
  const std::string message = message_of<Cancelled>([&] { (void)future.get(); });
  EXPECT_NE(message.find("cancelled"), std::string::npos) << message;
  pool.open();
  pool->shutdown();
  // relaxed: shutdown() joined the worker.
  EXPECT_FALSE(ran.load(std::memory_order_relaxed));
  // relaxed: shutdown() joined the worker.
  EXPECT_EQ(destroyed.load(std::memory_order_relaxed), 1);
}

TYPED_TEST(FutureTest, CancelAfterRunReturnsFalseAndKeepsTheValue) {
  auto pool = TypeParam::make(2);
  auto future = pool->submit([] { return 5; });
  future.wait();
  EXPECT_FALSE(future.cancel());
  EXPECT_FALSE(future.cancelled());
  EXPECT_EQ(future.get(), 5);
}

TYPED_TEST(FutureTest, CancelWhileRunningReturnsFalse) {
  std::latch started(1);
  GatedPool<TypeParam> pool(1);
  auto future = pool->submit([&started, &gate = pool.gate()] {
    started.count_down();
    gate.wait();
    return 6;
  });
  started.wait();
  EXPECT_FALSE(future.cancel());
  EXPECT_FALSE(future.cancelled());
  EXPECT_FALSE(future.ready());
  pool.open();
  EXPECT_EQ(future.get(), 6);
}

// --- on_done ---------------------------------------------------------------------------------

TYPED_TEST(FutureTest, OnDoneAttachedBeforeCompletionRunsOnceWhenDone) {
  std::atomic<int> calls{0};
  int seen = 0;
  std::thread::id ran_on;
  std::latch called(1);
  GatedPool<TypeParam> pool(1);
  auto future = pool->submit([&gate = pool.gate()] {
    gate.wait();
    return 8;
  });
  future.on_done([&](Future<int>& done) {
    ran_on = std::this_thread::get_id();
    EXPECT_TRUE(done.ready());
    seen = done.get();
    // relaxed: read after shutdown() joined the worker.
    calls.fetch_add(1, std::memory_order_relaxed);
    called.count_down();
  });
  // relaxed: the only writer is still blocked.
  EXPECT_EQ(calls.load(std::memory_order_relaxed), 0) << "on_done ran before the task finished";
  pool.open();
  called.wait();
  pool->shutdown();
  // relaxed: shutdown() joined the worker.
  EXPECT_EQ(calls.load(std::memory_order_relaxed), 1);
  EXPECT_EQ(seen, 8);
  EXPECT_NE(ran_on, std::this_thread::get_id()) << "expected the completing worker";
}

// "Already done" is what the caller saw: wait() returned. Repeated, because the completing
// worker may still be finishing the completion when wait() returns.
TYPED_TEST(FutureTest, OnDoneAttachedAfterCompletionRunsImmediatelyOnTheCaller) {
  const std::size_t kRounds = test::scaled(200);
  auto pool = TypeParam::make(2);
  std::atomic<std::size_t> calls{0};
  std::size_t not_yet_run = 0;
  std::size_t ran_elsewhere = 0;
  for (std::size_t round = 0; round < kRounds; ++round) {
    auto future = pool->submit([] { return std::make_unique<int>(9); });
    future.wait();
    // Atomics: if the callback does run late on a worker, the test still has no data race.
    std::atomic<bool> ran{false};
    std::atomic<bool> on_caller{false};
    const std::thread::id caller = std::this_thread::get_id();
    future.on_done([&ran, &on_caller, &calls, caller](Future<std::unique_ptr<int>>& done) {
      EXPECT_EQ(*done.get(), 9);
      // relaxed: published by the release store of `ran` below.
      on_caller.store(std::this_thread::get_id() == caller, std::memory_order_relaxed);
      calls.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after shutdown()
      // release: pairs with the acquire loads below; if this runs late on a worker, the test
      // thread reuses these locals' storage only after seeing it.
      ran.store(true, std::memory_order_release);
    });
    if (!ran.load(std::memory_order_acquire)) {  // acquire: pairs with the store above
      ++not_yet_run;
      while (!ran.load(std::memory_order_acquire)) std::this_thread::yield();  // as above
    } else if (!on_caller.load(std::memory_order_relaxed)) {  // relaxed: after the acquire
      ++ran_elsewhere;
    }
  }
  pool->shutdown();
  EXPECT_EQ(not_yet_run, 0u) << "of " << kRounds
                             << " rounds, on_done() returned before the callback ran";
  EXPECT_EQ(ran_elsewhere, 0u) << "of " << kRounds << " rounds, the callback ran on a worker";
  // relaxed: shutdown() joined the workers.
  EXPECT_EQ(calls.load(std::memory_order_relaxed), kRounds);
}

TYPED_TEST(FutureTest, OnDoneExceptionGoesToOnErrorAndDoesNotTerminate) {
  std::mutex mutex;
  std::vector<std::string> errors;
  std::latch reported(2);
  PoolOptions options;
  options.on_error = [&](std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex);
      errors.emplace_back(e.what());
    }
    reported.count_down();
  };
  GatedPool<TypeParam> pool(2, options);  // one worker stays blocked until open()
  // Attached before completion: thrown on the worker that completes the future.
  auto pending = pool->submit([&gate = pool.gate()] { gate.wait(); });
  pending.on_done([](Future<void>&) { throw std::runtime_error("callback on worker"); });
  // Attached after completion: thrown on this thread, still reported to the future's pool.
  auto done = pool->submit([] { return 1; });
  done.wait();
  done.on_done([](Future<int>&) { throw std::runtime_error("callback on caller"); });
  pool.open();
  reported.wait();
  EXPECT_EQ(pool->submit([] { return 2; }).get(), 2) << "the pool stopped working";
  std::lock_guard lock(mutex);
  std::sort(errors.begin(), errors.end());  // the order is OnDoneAttachedAfterCompletion's
  EXPECT_EQ(errors, (std::vector<std::string>{"callback on caller", "callback on worker"}));
}

// --- Polling and timed waits -----------------------------------------------------------------

TYPED_TEST(FutureTest, ReadyAndNonPositiveWaitsOnlyPoll) {
  GatedPool<TypeParam> pool(1);
  auto future = pool->submit([&gate = pool.gate()] {
    gate.wait();
    return 1;
  });
  // Each of these returns at once while the task is blocked (a blocking one would hang the
  // test until the watchdog fires).
  EXPECT_FALSE(future.ready());
  EXPECT_FALSE(future.wait_for(0s));
  EXPECT_FALSE(future.wait_for(-1s));
  EXPECT_FALSE(future.wait_for(std::chrono::nanoseconds::min()));
  EXPECT_FALSE(future.wait_until(std::chrono::steady_clock::now()));
  EXPECT_FALSE(future.wait_until(std::chrono::steady_clock::now() - 1h));
  EXPECT_FALSE(future.wait_until(std::chrono::system_clock::now() - 1h));
  pool.open();
  future.wait();
  EXPECT_TRUE(future.ready());
  EXPECT_TRUE(future.wait_for(0s));
  EXPECT_TRUE(future.wait_for(-1s));
  EXPECT_TRUE(future.wait_until(std::chrono::steady_clock::now() - 1h));
  EXPECT_EQ(future.get(), 1);
}

TYPED_TEST(FutureTest, WaitForOnABlockedTaskReturnsFalse) {
  GatedPool<TypeParam> pool(1);
  auto future = pool->submit([&gate = pool.gate()] {
    gate.wait();
    return 1;
  });
  EXPECT_FALSE(future.wait_for(5ms));
  EXPECT_FALSE(future.ready());
  pool.open();
  EXPECT_TRUE(future.wait_for(1h));
  EXPECT_EQ(future.get(), 1);
}

TYPED_TEST(FutureTest, WaitUntilAcceptsSystemAndSteadyClocks) {
  GatedPool<TypeParam> pool(1);
  auto future = pool->submit([&gate = pool.gate()] {
    gate.wait();
    return 1;
  });
  EXPECT_FALSE(future.wait_until(std::chrono::system_clock::now() + 5ms));
  EXPECT_FALSE(future.wait_until(std::chrono::steady_clock::now() + 5ms));
  // A far deadline: the waiter is woken by the completion, on either clock.
  bool steady_done = false;
  std::thread waiter(
      [&] { steady_done = future.wait_until(std::chrono::steady_clock::now() + 1h); });
  pool.open();
  waiter.join();
  EXPECT_TRUE(steady_done);
  EXPECT_TRUE(future.wait_until(std::chrono::system_clock::now() + 1h));
  EXPECT_EQ(future.get(), 1);
}

// "Wait with no deadline" spelled as the largest time point or duration must wait, not
// overflow into a deadline in the past. `timed_wait` runs on another thread while the task is
// blocked; returns what it returned once the task was released.
template <class System, class TimedWait>
bool timed_wait_across_completion(TimedWait timed_wait) {
  GatedPool<System> pool(1);
  auto future = pool->submit([&gate = pool.gate()] {
    gate.wait();
    return 1;
  });
  bool result = false;
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    result = timed_wait(future);
    // release: pairs with the acquire below; `result` is read after join() anyway.
    returned.store(true, std::memory_order_release);
  });
  // Open only once the waiter sleeps on the future, or it returned early (the bug the
  // callers look for, which they then see in `result`).
  // acquire: pairs with the release above.
  test::wait_for_sleeper(*detail::FutureAccess::state(future),
                         [&] { return returned.load(std::memory_order_acquire); });
  pool.open();
  waiter.join();
  EXPECT_EQ(future.get(), 1);
  return result;
}

TYPED_TEST(FutureTest, WaitUntilSteadyClockMaxWaitsForCompletion) {
  EXPECT_TRUE(timed_wait_across_completion<TypeParam>([](const Future<int>& future) {
    return future.wait_until(std::chrono::steady_clock::time_point::max());
  })) << "returned false before the task completed";
}

TYPED_TEST(FutureTest, WaitUntilSystemClockMaxWaitsForCompletion) {
  EXPECT_TRUE(timed_wait_across_completion<TypeParam>([](const Future<int>& future) {
    return future.wait_until(std::chrono::system_clock::time_point::max());
  })) << "returned false before the task completed";
}

TYPED_TEST(FutureTest, WaitForTheLargestDurationWaitsForCompletion) {
  EXPECT_TRUE(timed_wait_across_completion<TypeParam>([](const Future<int>& future) {
    return future.wait_for(std::chrono::steady_clock::duration::max());
  })) << "wait_for(steady_clock::duration::max()) returned false before the task completed";
  EXPECT_TRUE(timed_wait_across_completion<TypeParam>([](const Future<int>& future) {
    return future.wait_for(std::chrono::hours::max());
  })) << "wait_for(hours::max()) returned false before the task completed";
}

TYPED_TEST(FutureTest, WaitUntilTheSmallestTimePointOnlyPolls) {
  GatedPool<TypeParam> pool(1);
  auto future = pool->submit([&gate = pool.gate()] {
    gate.wait();
    return 1;
  });
  EXPECT_FALSE(future.wait_until(std::chrono::steady_clock::time_point::min()));
  EXPECT_FALSE(future.wait_until(std::chrono::system_clock::time_point::min()));
  pool.open();
  EXPECT_EQ(future.get(), 1);
}

// --- SharedFuture ----------------------------------------------------------------------------

TYPED_TEST(FutureTest, SharedFutureGivesEveryReaderTheSameValue) {
  constexpr std::size_t kReaders = 4;
  GatedPool<TypeParam> pool(1);
  SharedFuture<std::string> shared = pool->submit([&gate = pool.gate()] {
                                           gate.wait();
                                           return std::string("shared value");
                                         })
                                         .share();
  std::vector<std::string> seen(kReaders);
  std::vector<const std::string*> addresses(kReaders);
  std::vector<std::thread> readers;
  for (std::size_t i = 0; i < kReaders; ++i) {
    readers.emplace_back([copy = shared, &seen, &addresses, i] {
      const std::string& value = copy.get();
      seen[i] = value;
      addresses[i] = &value;
      EXPECT_EQ(&copy.get(), &value) << "a second get() returned another object";
    });
  }
  pool.open();
  for (std::thread& reader : readers) reader.join();
  for (std::size_t i = 0; i < kReaders; ++i) {
    EXPECT_EQ(seen[i], "shared value") << "reader " << i;
    EXPECT_EQ(addresses[i], &shared.get()) << "reader " << i;
  }
  EXPECT_TRUE(shared.valid());
}

TYPED_TEST(FutureTest, SharedFutureRethrowsTheSameExceptionToEveryReader) {
  constexpr std::size_t kReaders = 4;
  GatedPool<TypeParam> pool(1);
  SharedFuture<int> shared = pool->submit([&gate = pool.gate()]() -> int {
                                   gate.wait();
                                   throw std::runtime_error("shared failure");
                                 })
                                 .share();
  std::vector<std::string> seen(kReaders);
  std::vector<std::thread> readers;
  for (std::size_t i = 0; i < kReaders; ++i) {
    readers.emplace_back([copy = shared, &seen, i] {
      seen[i] = message_of<std::runtime_error>([&] { (void)copy.get(); });
    });
  }
  pool.open();
  for (std::thread& reader : readers) reader.join();
  for (std::size_t i = 0; i < kReaders; ++i) EXPECT_EQ(seen[i], "shared failure") << i;
  EXPECT_EQ(message_of<std::runtime_error>([&] { (void)shared.get(); }), "shared failure");
  EXPECT_EQ(message_of<std::runtime_error>([&] { (void)shared.get(); }), "shared failure");
}

TYPED_TEST(FutureTest, SharedFutureOnDoneAndThenDoNotConsumeIt) {
  std::atomic<int> calls{0};
  std::latch called(2);
  GatedPool<TypeParam> pool(1);
  SharedFuture<int> shared = pool->submit([&gate = pool.gate()] {
                                   gate.wait();
                                   return 10;
                                 })
                                 .share();
  auto on_done = [&](const SharedFuture<int>& done) {
    EXPECT_EQ(done.get(), 10);
    // relaxed: read after the latch, which orders it.
    calls.fetch_add(1, std::memory_order_relaxed);
    called.count_down();
  };
  shared.on_done(on_done);
  EXPECT_TRUE(shared.valid());
  auto plus_one = shared.then([](const int& v) { return v + 1; });
  EXPECT_TRUE(shared.valid());
  auto times_two = shared.then([](const int& v) { return v * 2; });
  shared.on_done(on_done);
  EXPECT_TRUE(shared.valid());
  pool.open();
  EXPECT_EQ(plus_one.get(), 11);
  EXPECT_EQ(times_two.get(), 20);
  called.wait();
  // relaxed: the latch orders both callbacks.
  EXPECT_EQ(calls.load(std::memory_order_relaxed), 2);
  EXPECT_EQ(shared.get(), 10);
  EXPECT_EQ(shared.get(), 10);
}

TYPED_TEST(FutureTest, SharedFutureOfVoidCanBeWaitedByEveryCopy) {
  auto pool = TypeParam::make(2);
  std::atomic<bool> ran{false};
  // relaxed: get() synchronizes with the task's completion.
  SharedFuture<void> shared =
      pool->submit([&ran] { ran.store(true, std::memory_order_relaxed); }).share();
  const SharedFuture<void> copy = shared;
  copy.get();
  shared.get();
  // relaxed: get() ordered the task's store.
  EXPECT_TRUE(ran.load(std::memory_order_relaxed));
  EXPECT_TRUE(copy.ready());
  EXPECT_TRUE(shared.valid());
}

}  // namespace
}  // namespace forage
