// Promise<T>: results produced outside any pool, misuse errors, broken promises, cancellation
// by the reader, waking waiters, and a pool worker waiting on a promise (help-while-wait).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "future_test_support.hpp"
#include "test_support.hpp"

namespace forage {
namespace {

using namespace std::chrono_literals;
using namespace test;  // the helpers of test_support.hpp and future_test_support.hpp

using PromiseTest = WatchedTest;

template <class System>
class PromiseOnPoolTest : public PromiseTest {};

TYPED_TEST_SUITE(PromiseOnPoolTest, Systems);

// --- Results ---------------------------------------------------------------------------------

TEST_F(PromiseTest, SetValueCompletesTheFuture) {
  Promise<std::unique_ptr<int>> promise;
  Future<std::unique_ptr<int>> future = promise.get_future();
  EXPECT_FALSE(future.ready());
  EXPECT_FALSE(promise.cancelled());
  promise.set_value(std::make_unique<int>(5));
  ASSERT_TRUE(future.ready());
  EXPECT_EQ(*future.get(), 5);
}

TEST_F(PromiseTest, ValueSetBeforeGetFutureIsKept) {
  Promise<std::string> promise;
  promise.set_value(3, 'x');  // constructed in place from the arguments
  EXPECT_EQ(promise.get_future().get(), "xxx");
}

TEST_F(PromiseTest, VoidPromiseCompletesItsFuture) {
  Promise<void> promise;
  Future<void> future = promise.get_future();
  EXPECT_FALSE(future.ready());
  promise.set_value();
  ASSERT_TRUE(future.ready());
  EXPECT_NO_THROW(future.get());
}

TEST_F(PromiseTest, SetExceptionIsRethrownByGet) {
  Promise<int> promise;
  Future<int> future = promise.get_future();
  promise.set_exception(std::make_exception_ptr(std::runtime_error("producer failed")));
  EXPECT_EQ(message_of<std::runtime_error>([&] { (void)future.get(); }), "producer failed");
  Promise<void> void_promise;
  Future<void> void_future = void_promise.get_future();
  void_promise.set_exception(std::make_exception_ptr(std::logic_error("void failed")));
  EXPECT_EQ(message_of<std::logic_error>([&] { void_future.get(); }), "void failed");
}

struct ThrowingConstruction {
  explicit ThrowingConstruction(int) { throw std::runtime_error("construction failed"); }
};

TEST_F(PromiseTest, SetValueWhoseConstructionThrowsFailsTheFutureAndRethrows) {
  Promise<ThrowingConstruction> promise;
  Future<ThrowingConstruction> future = promise.get_future();
  EXPECT_EQ(message_of<std::runtime_error>([&] { promise.set_value(1); }), "construction failed");
  ASSERT_TRUE(future.ready());
  EXPECT_EQ(message_of<std::runtime_error>([&] { (void)future.get(); }), "construction failed");
}

// --- Misuse ----------------------------------------------------------------------------------

TEST_F(PromiseTest, SetExceptionWithANullPointerThrowsInvalidArgument) {
  Promise<int> promise;
  Future<int> future = promise.get_future();
  const std::string message =
      message_of<InvalidArgument>([&] { promise.set_exception(std::exception_ptr{}); });
  EXPECT_NE(message.find("null"), std::string::npos) << message;
  EXPECT_FALSE(future.ready()) << "a refused set_exception completed the future";
  promise.set_value(1);  // still usable
  EXPECT_EQ(future.get(), 1);
}

TEST_F(PromiseTest, GetFutureTwiceThrowsAlreadyRetrieved) {
  Promise<int> promise;
  Future<int> future = promise.get_future();
  const std::string message = message_of<AlreadyRetrieved>([&] { (void)promise.get_future(); });
  EXPECT_NE(message.find("already taken"), std::string::npos) << message;
  promise.set_value(2);
  EXPECT_EQ(future.get(), 2);
}

TEST_F(PromiseTest, SecondResultThrowsPromiseAlreadySatisfiedAndKeepsTheFirst) {
  Promise<int> value_first;
  Future<int> value_future = value_first.get_future();
  value_first.set_value(1);
  EXPECT_THROW(value_first.set_value(2), PromiseAlreadySatisfied);
  EXPECT_THROW(value_first.set_exception(std::make_exception_ptr(std::runtime_error("late"))),
               PromiseAlreadySatisfied);
  EXPECT_EQ(value_future.get(), 1);

  Promise<void> error_first;
  Future<void> error_future = error_first.get_future();
  error_first.set_exception(std::make_exception_ptr(std::runtime_error("first")));
  const std::string message = message_of<PromiseAlreadySatisfied>([&] { error_first.set_value(); });
  EXPECT_NE(message.find("already has a result"), std::string::npos) << message;
  EXPECT_EQ(message_of<std::runtime_error>([&] { error_future.get(); }), "first");
}

TEST_F(PromiseTest, DestroyedWithoutAResultBreaksThePromise) {
  Future<int> future;
  Future<int> chained;
  {
    Promise<int> promise;
    future = promise.get_future();
  }
  ASSERT_TRUE(future.ready());
  const std::string message = message_of<BrokenPromise>([&] { (void)future.get(); });
  EXPECT_NE(message.find("destroyed without a value"), std::string::npos) << message;
  {
    Promise<int> promise;
    chained = promise.get_future().then([](int v) { return v + 1; });
  }
  EXPECT_THROW((void)chained.get(), BrokenPromise);
}

TEST_F(PromiseTest, DestroyedAfterAResultDoesNotBreakIt) {
  Future<int> future;
  {
    Promise<int> promise;
    future = promise.get_future();
    promise.set_value(6);
  }
  EXPECT_EQ(future.get(), 6);
}

TEST_F(PromiseTest, MovedPromiseDeliversThroughTheNewObject) {
  Promise<int> original;
  Future<int> future = original.get_future();
  Promise<int> moved = std::move(original);
  // NOLINTNEXTLINE(bugprone-use-after-move): the behaviour under test
  const std::string message = message_of<EmptyFuture>([&] { original.set_value(1); });
  EXPECT_NE(message.find("moved from"), std::string::npos) << message;
  EXPECT_THROW((void)original.get_future(), EmptyFuture);
  EXPECT_THROW((void)moved.get_future(), AlreadyRetrieved) << "the move lost future_taken";
  moved.set_value(2);
  EXPECT_EQ(future.get(), 2);
}

TEST_F(PromiseTest, MoveAssigningOverAPendingPromiseBreaksItsFuture) {
  Promise<int> target;
  Future<int> abandoned = target.get_future();
  Promise<int> source;
  Future<int> kept = source.get_future();
  target = std::move(source);
  ASSERT_TRUE(abandoned.ready());
  EXPECT_THROW((void)abandoned.get(), BrokenPromise);
  target.set_value(3);
  EXPECT_EQ(kept.get(), 3);
}

// --- Cancellation by the reader --------------------------------------------------------------

TEST_F(PromiseTest, SetValueAfterTheReaderCancelledIsANoOp) {
  Promise<int> promise;
  Future<int> future = promise.get_future();
  EXPECT_FALSE(promise.cancelled());
  ASSERT_TRUE(future.cancel());
  EXPECT_TRUE(promise.cancelled());
  EXPECT_NO_THROW(promise.set_value(1));
  EXPECT_NO_THROW(promise.set_exception(std::make_exception_ptr(std::runtime_error("late"))));
  EXPECT_TRUE(future.cancelled());
  EXPECT_THROW((void)future.get(), Cancelled);
}

TEST_F(PromiseTest, CancelAfterTheValueWasSetFails) {
  Promise<int> promise;
  Future<int> future = promise.get_future();
  promise.set_value(1);
  EXPECT_FALSE(future.cancel());
  EXPECT_FALSE(promise.cancelled());
  EXPECT_EQ(future.get(), 1);
}

// --- Waiting ---------------------------------------------------------------------------------

TEST_F(PromiseTest, WaitersOnOtherThreadsAreWokenBySetValue) {
  constexpr std::size_t kWaiters = 3;
  Promise<int> promise;
  SharedFuture<int> shared = promise.get_future().share();
  std::vector<int> seen(kWaiters, 0);
  std::latch started(kWaiters);
  std::vector<std::thread> waiters;
  for (std::size_t i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      started.count_down();
      seen[i] = shared.get();
    });
  }
  started.wait();
  test::wait_for_sleeper_on(shared);  // at least one of them sleeps on the future
  EXPECT_FALSE(shared.ready());
  promise.set_value(8);
  for (std::thread& waiter : waiters) waiter.join();
  for (std::size_t i = 0; i < kWaiters; ++i) EXPECT_EQ(seen[i], 8) << "waiter " << i;
}

TEST_F(PromiseTest, SingleWaiterIsWokenBySetExceptionAndByDestruction) {
  auto promise = std::make_unique<Promise<int>>();
  Future<int> future = promise->get_future();
  bool broken = false;
  std::thread waiter([&] {
    try {
      (void)future.get();
    } catch (const BrokenPromise&) {
      broken = true;
    }
  });
  test::wait_for_sleeper_on(future);  // it sleeps on the future before the promise goes
  promise.reset();
  waiter.join();
  EXPECT_TRUE(broken);
}

// A worker blocked in get() on a promise keeps running the pool's other tasks meanwhile: with
// one worker, the second task can only run inside the first one's get().
TYPED_TEST(PromiseOnPoolTest, WorkerWaitingOnAPromiseRunsOtherTasks) {
  auto pool = TypeParam::make(1);
  Promise<int> promise;
  Future<int> from_outside = promise.get_future();
  std::latch waiting(1);
  auto outer = pool->submit([&] {
    waiting.count_down();
    return from_outside.get() + 1;
  });
  waiting.wait();
  auto inner = pool->submit([] { return 5; });
  EXPECT_EQ(inner.get(), 5) << "the waiting worker did not help";
  EXPECT_FALSE(outer.ready());
  std::thread producer([&promise] { promise.set_value(41); });
  EXPECT_EQ(outer.get(), 42);
  producer.join();
}

}  // namespace
}  // namespace forage
