// when_all and when_any: results in order, the first failure by position, cancellation,
// the variadic form, empty inputs, and that neither blocks a thread while it waits.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "future_test_support.hpp"
#include "test_support.hpp"

namespace forage {
namespace {

using namespace std::chrono_literals;
using namespace test;  // the helpers of test_support.hpp and future_test_support.hpp

using WhenFixture = WatchedTest;

template <class System>
class WhenTest : public WhenFixture {};

TYPED_TEST_SUITE(WhenTest, Systems);

// --- when_all --------------------------------------------------------------------------------

TYPED_TEST(WhenTest, WhenAllGivesTheValuesInInputOrder) {
  constexpr int kInputs = 16;
  auto pool = TypeParam::make(2);
  std::vector<Future<int>> inputs;
  for (int i = 0; i < kInputs; ++i) inputs.push_back(pool->submit([i] { return i * 10; }));
  auto all = when_all(std::move(inputs));
  static_assert(std::is_same_v<decltype(all), Future<std::vector<int>>>);
  const std::vector<int> values = all.get();
  ASSERT_EQ(values.size(), std::size_t{kInputs});
  for (int i = 0; i < kInputs; ++i) EXPECT_EQ(values[static_cast<std::size_t>(i)], i * 10);
}

TEST_F(WhenFixture, WhenAllKeepsInputOrderWhenInputsCompleteInReverse) {
  std::vector<Promise<std::string>> promises(3);
  std::vector<Future<std::string>> inputs;
  for (auto& promise : promises) inputs.push_back(promise.get_future());
  auto all = when_all(std::move(inputs));
  promises[2].set_value("c");
  promises[1].set_value("b");
  EXPECT_FALSE(all.ready());
  promises[0].set_value("a");
  ASSERT_TRUE(all.ready());
  EXPECT_EQ(all.get(), (std::vector<std::string>{"a", "b", "c"}));
}

TYPED_TEST(WhenTest, WhenAllOfVoidFuturesCompletesAfterEveryInput) {
  constexpr std::size_t kInputs = 32;
  auto pool = TypeParam::make(2);
  std::atomic<std::size_t> ran{0};
  std::vector<Future<void>> inputs;
  for (std::size_t i = 0; i < kInputs; ++i) {
    // relaxed: when_all completes after every input's completion, which get() orders.
    inputs.push_back(pool->submit([&ran] { ran.fetch_add(1, std::memory_order_relaxed); }));
  }
  auto all = when_all(std::move(inputs));
  static_assert(std::is_same_v<decltype(all), Future<void>>);
  all.get();
  // relaxed: get() ordered every input's task.
  EXPECT_EQ(ran.load(std::memory_order_relaxed), kInputs);
}

TEST_F(WhenFixture, WhenAllOfNothingIsReadyAndEmpty) {
  auto all = when_all(std::vector<Future<int>>{});
  ASSERT_TRUE(all.ready());
  EXPECT_TRUE(all.get().empty());
  auto all_void = when_all(std::vector<Future<void>>{});
  ASSERT_TRUE(all_void.ready());
  EXPECT_NO_THROW(all_void.get());
  auto tuple = when_all();
  static_assert(std::is_same_v<decltype(tuple), Future<std::tuple<>>>);
  EXPECT_TRUE(tuple.ready());
}

TYPED_TEST(WhenTest, WhenAllFailsWithTheInputsException) {
  auto pool = TypeParam::make(2);
  std::vector<Future<int>> inputs;
  inputs.push_back(pool->submit([] { return 1; }));
  inputs.push_back(pool->submit([]() -> int { throw std::runtime_error("input 1 failed"); }));
  inputs.push_back(pool->submit([] { return 3; }));
  auto all = when_all(std::move(inputs));
  let_workers_release(*pool);
  EXPECT_EQ(message_of<std::runtime_error>([&] { (void)all.get(); }), "input 1 failed");
}

TEST_F(WhenFixture, WhenAllTakesTheFirstFailureByPositionNotByTime) {
  std::vector<Promise<int>> promises(4);
  std::vector<Future<int>> inputs;
  for (auto& promise : promises) inputs.push_back(promise.get_future());
  auto all = when_all(std::move(inputs));
  promises[3].set_exception(std::make_exception_ptr(std::runtime_error("input 3")));
  promises[0].set_value(0);
  promises[1].set_exception(std::make_exception_ptr(std::logic_error("input 1")));
  EXPECT_FALSE(all.ready()) << "completed before every input was done";
  promises[2].set_value(2);
  EXPECT_EQ(message_of<std::logic_error>([&] { (void)all.get(); }), "input 1");
}

TYPED_TEST(WhenTest, WhenAllWithACancelledInputIsCancelled) {
  GatedPool<TypeParam> pool(1);
  pool.block_workers();
  std::vector<Future<int>> inputs;
  inputs.push_back(pool->submit([] { return 0; }));
  inputs.push_back(pool->submit([] { return 1; }));
  inputs.push_back(pool->submit([]() -> int { throw std::runtime_error("after the cancel"); }));
  ASSERT_TRUE(inputs[1].cancel());
  auto all = when_all(std::move(inputs));
  pool.open();
  all.wait();
  EXPECT_TRUE(all.cancelled());
  EXPECT_THROW((void)all.get(), Cancelled);
}

TYPED_TEST(WhenTest, VariadicWhenAllGivesATupleWithMonostateForVoid) {
  auto pool = TypeParam::make(2);
  auto all = when_all(pool->submit([] { return 7; }), pool->submit([] {}),
                      pool->submit([] { return std::string("text"); }),
                      pool->submit([] { return std::make_unique<int>(9); }));
  static_assert(
      std::is_same_v<decltype(all),
                     Future<std::tuple<int, std::monostate, std::string, std::unique_ptr<int>>>>);
  auto [number, nothing, text, pointer] = all.get();
  EXPECT_EQ(number, 7);
  EXPECT_EQ(nothing, std::monostate{});
  EXPECT_EQ(text, "text");
  ASSERT_NE(pointer, nullptr);
  EXPECT_EQ(*pointer, 9);
}

TEST_F(WhenFixture, VariadicWhenAllTakesTheFirstFailureByPosition) {
  Promise<int> first;
  Promise<void> second;
  Promise<std::string> third;
  auto all = when_all(first.get_future(), second.get_future(), third.get_future());
  third.set_exception(std::make_exception_ptr(std::runtime_error("third")));
  second.set_exception(std::make_exception_ptr(std::logic_error("second")));
  first.set_value(1);
  EXPECT_EQ(message_of<std::logic_error>([&] { (void)all.get(); }), "second");
}

// --- when_any --------------------------------------------------------------------------------

TYPED_TEST(WhenTest, WhenAnyGivesTheIndexAndValueOfTheFirstDone) {
  GatedPool<TypeParam> pool(3);
  std::vector<Future<int>> inputs;
  auto& gate = pool.gate();
  inputs.push_back(pool->submit([&gate] {
    gate.wait();
    return 0;
  }));
  inputs.push_back(pool->submit([] { return 11; }));
  inputs.push_back(pool->submit([&gate] {
    gate.wait();
    return 22;
  }));
  auto any = when_any(std::move(inputs));
  static_assert(std::is_same_v<decltype(any), Future<std::pair<std::size_t, int>>>);
  const auto [index, value] = any.get();
  EXPECT_EQ(index, 1u);
  EXPECT_EQ(value, 11);
  pool.open();
}

TYPED_TEST(WhenTest, WhenAnyOfVoidFuturesGivesTheIndex) {
  GatedPool<TypeParam> pool(3);
  std::vector<Future<void>> inputs;
  auto& gate = pool.gate();
  inputs.push_back(pool->submit([&gate] { gate.wait(); }));
  inputs.push_back(pool->submit([&gate] { gate.wait(); }));
  inputs.push_back(pool->submit([] {}));
  auto any = when_any(std::move(inputs));
  static_assert(std::is_same_v<decltype(any), Future<std::size_t>>);
  EXPECT_EQ(any.get(), 2u);
  pool.open();
}

TYPED_TEST(WhenTest, WhenAnyFailsWithTheFirstDoneInputsException) {
  GatedPool<TypeParam> pool(3);
  std::vector<Future<int>> inputs;
  auto& gate = pool.gate();
  inputs.push_back(pool->submit([&gate] {
    gate.wait();
    return 0;
  }));
  inputs.push_back(pool->submit([&gate] {
    gate.wait();
    return 1;
  }));
  inputs.push_back(pool->submit([]() -> int { throw std::runtime_error("first done failed"); }));
  auto any = when_any(std::move(inputs));
  EXPECT_EQ(message_of<std::runtime_error>([&] { (void)any.get(); }), "first done failed");
  pool.open();
}

TEST_F(WhenFixture, WhenAnyIgnoresInputsThatCompleteLater) {
  std::vector<Promise<int>> promises(3);
  std::vector<Future<int>> inputs;
  for (auto& promise : promises) inputs.push_back(promise.get_future());
  auto any = when_any(std::move(inputs));
  EXPECT_FALSE(any.ready());
  promises[2].set_value(2);
  promises[0].set_exception(std::make_exception_ptr(std::runtime_error("too late")));
  promises[1].set_value(1);
  const auto [index, value] = any.get();
  EXPECT_EQ(index, 2u);
  EXPECT_EQ(value, 2);
}

TEST_F(WhenFixture, WhenAnyOfNothingThrowsInvalidArgument) {
  const std::string message =
      message_of<InvalidArgument>([] { (void)when_any(std::vector<Future<int>>{}); });
  EXPECT_NE(message.find("no futures"), std::string::npos) << message;
  EXPECT_THROW((void)when_any(std::vector<Future<void>>{}), InvalidArgument);
}

TYPED_TEST(WhenTest, AnEmptyInputFutureThrowsEmptyFuture) {
  auto pool = TypeParam::make(1);
  {
    std::vector<Future<int>> inputs;
    inputs.push_back(pool->submit([] { return 1; }));
    inputs.emplace_back();
    const std::string message = message_of<EmptyFuture>([&] { (void)when_all(std::move(inputs)); });
    EXPECT_NE(message.find("default-constructed"), std::string::npos) << message;
  }
  {
    std::vector<Future<int>> inputs;
    auto taken = pool->submit([] { return 1; });
    (void)taken.get();
    inputs.push_back(std::move(taken));  // moved in after get(): empty, "retrieved"
    EXPECT_THROW((void)when_any(std::move(inputs)), AlreadyRetrieved);
  }
  {
    auto used = pool->submit([] { return 1; });
    auto follower = used.then([](int v) { return v; });
    const std::string message =
        message_of<EmptyFuture>([&] { (void)when_all(std::move(used), pool->submit([] {})); });
    EXPECT_NE(message.find("took this future"), std::string::npos) << message;
    EXPECT_EQ(follower.get(), 1);
  }
}

// --- Non-blocking ----------------------------------------------------------------------------

// The inputs are continuations on a 1-worker pool, released later by promises set from this
// thread. If when_all / when_any parked that worker, none of the other tasks could run.
TYPED_TEST(WhenTest, WhenAllAndWhenAnyDoNotBlockTheWorker) {
  constexpr int kInputs = 4;
  constexpr int kOtherTasks = 64;
  auto pool = TypeParam::make(1);
  std::vector<Promise<int>> releases(kInputs);
  std::vector<Future<int>> all_inputs;
  std::vector<Future<int>> any_inputs;
  std::vector<SharedFuture<int>> shared;
  for (auto& release : releases) {
    shared.push_back(release.get_future().then(*pool, [](int v) { return v * 2; }).share());
  }
  for (const auto& input : shared) {
    all_inputs.push_back(input.then([](const int& v) { return v; }));
    any_inputs.push_back(input.then([](const int& v) { return v; }));
  }
  auto sum = when_all(std::move(all_inputs)).then(*pool, [](std::vector<int> values) {
    int total = 0;
    for (int v : values) total += v;
    return total;
  });
  auto first = when_any(std::move(any_inputs));

  for (int i = 0; i < kOtherTasks; ++i) {
    EXPECT_EQ(pool->submit([i] { return i; }).get(), i) << "the worker is blocked";
  }
  EXPECT_FALSE(sum.ready());
  EXPECT_FALSE(first.ready());

  releases[2].set_value(5);
  const auto [index, value] = first.get();
  EXPECT_EQ(index, 2u);
  EXPECT_EQ(value, 10);
  EXPECT_FALSE(sum.ready());
  for (int i = 0; i < kOtherTasks; ++i) {
    EXPECT_EQ(pool->submit([i] { return -i; }).get(), -i) << "the worker is blocked";
  }
  releases[0].set_value(1);
  releases[1].set_value(2);
  releases[3].set_value(3);
  EXPECT_EQ(sum.get(), 2 * (1 + 2 + 5 + 3));
}

}  // namespace
}  // namespace forage
