// WorkDeque, single-threaded: the owner's end is LIFO, the thieves' end FIFO, growth keeps
// every value, and the estimates agree with the contents. Concurrency is covered by
// stress/work_deque_stress_test.cpp and model/work_deque_model.cpp.
#include "deque/work_deque.hpp"

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "failing_allocator.hpp"

namespace forage::detail {
namespace {

std::vector<int> pop_all(WorkDeque<int>& deque) {
  std::vector<int> values;
  while (const auto value = deque.pop()) values.push_back(*value);
  return values;
}

std::vector<int> steal_all(WorkDeque<int>& deque) {
  std::vector<int> values;
  for (;;) {
    const Stolen<int> stolen = deque.steal();
    if (stolen.status != StealStatus::success) {
      // Single-threaded, nobody can win a race against us.
      EXPECT_EQ(stolen.status, StealStatus::empty);
      return values;
    }
    values.push_back(stolen.value);
  }
}

std::vector<int> range(int first, int last) {  // [first, last)
  std::vector<int> values;
  for (int value = first; value < last; ++value) values.push_back(value);
  return values;
}

std::vector<int> reversed(std::vector<int> values) { return {values.rbegin(), values.rend()}; }

TEST(WorkDeque, PopTakesTheMostRecentlyPushedValueFirst) {
  WorkDeque<int> deque(8);
  for (int value : {1, 2, 3}) deque.push(value);
  EXPECT_EQ(pop_all(deque), (std::vector<int>{3, 2, 1}));
}

TEST(WorkDeque, StealTakesTheOldestValueFirst) {
  WorkDeque<int> deque(8);
  for (int value : {1, 2, 3}) deque.push(value);
  EXPECT_EQ(steal_all(deque), (std::vector<int>{1, 2, 3}));
}

TEST(WorkDeque, PopOnANewDequeReturnsNothing) {
  WorkDeque<int> deque;
  EXPECT_EQ(deque.pop(), std::nullopt);
  EXPECT_EQ(deque.size_approx(), 0U);
}

TEST(WorkDeque, StealOnANewDequeReportsEmpty) {
  WorkDeque<int> deque;
  EXPECT_EQ(deque.steal().status, StealStatus::empty);
}

TEST(WorkDeque, PopAndStealReportEmptyAgainOnceDrained) {
  WorkDeque<int> deque(4);
  deque.push(1);
  deque.push(2);
  EXPECT_EQ(deque.pop(), 2);
  EXPECT_EQ(deque.pop(), 1);
  EXPECT_EQ(deque.pop(), std::nullopt);
  EXPECT_EQ(deque.pop(), std::nullopt);  // the failed pop restored bottom
  EXPECT_EQ(deque.steal().status, StealStatus::empty);
  deque.push(3);  // and the deque is usable again
  EXPECT_EQ(deque.steal().value, 3);
  EXPECT_EQ(deque.steal().status, StealStatus::empty);
  EXPECT_EQ(deque.pop(), std::nullopt);
}

TEST(WorkDeque, PopTakesTheLastValueThenStealFindsNothing) {
  WorkDeque<int> deque(4);
  deque.push(7);
  EXPECT_EQ(deque.pop(), 7);  // the last-element path: a CAS on top
  EXPECT_EQ(deque.steal().status, StealStatus::empty);
  EXPECT_EQ(deque.pop(), std::nullopt);
}

TEST(WorkDeque, StealTakesTheLastValueThenPopFindsNothing) {
  WorkDeque<int> deque(4);
  deque.push(7);
  const Stolen<int> stolen = deque.steal();
  EXPECT_EQ(stolen.status, StealStatus::success);
  EXPECT_EQ(stolen.value, 7);
  EXPECT_EQ(deque.pop(), std::nullopt);
  EXPECT_EQ(deque.steal().status, StealStatus::empty);
}

TEST(WorkDeque, CapacityIsRoundedUpToAPowerOfTwo) {
  EXPECT_EQ(WorkDeque<int>(1).capacity(), 1U);
  EXPECT_EQ(WorkDeque<int>(3).capacity(), 4U);
  EXPECT_EQ(WorkDeque<int>(256).capacity(), 256U);
  EXPECT_EQ(WorkDeque<int>(257).capacity(), 512U);
}

class WorkDequeGrowth : public testing::TestWithParam<std::size_t> {};

TEST_P(WorkDequeGrowth, GrowingKeepsEveryValueInPopOrder) {
  WorkDeque<int> deque(GetParam());
  for (int value = 0; value < 1000; ++value) deque.push(value);
  EXPECT_GE(deque.capacity(), 1000U);
  EXPECT_EQ(deque.size_approx(), 1000U);
  EXPECT_EQ(pop_all(deque), reversed(range(0, 1000)));
}

TEST_P(WorkDequeGrowth, GrowingKeepsEveryValueInStealOrder) {
  WorkDeque<int> deque(GetParam());
  for (int value = 0; value < 1000; ++value) deque.push(value);
  EXPECT_EQ(steal_all(deque), range(0, 1000));
}

TEST_P(WorkDequeGrowth, CapacityDoublesWhenAPushFindsTheRingFull) {
  const std::size_t initial = GetParam();
  WorkDeque<int> deque(initial);
  for (std::size_t i = 0; i < initial; ++i) deque.push(static_cast<int>(i));
  EXPECT_EQ(deque.capacity(), initial);
  deque.push(-1);
  EXPECT_EQ(deque.capacity(), 2 * initial);
}

// After steals, top is past 0, so the live values wrap around the ring when it grows: the
// copy must follow the indices, not the ring's slot 0.
TEST_P(WorkDequeGrowth, GrowingAfterStealsKeepsTheWrappedValues) {
  WorkDeque<int> deque(GetParam());
  std::deque<int> expected;
  int next = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 5; ++i) {
      deque.push(next);
      expected.push_back(next++);
    }
    for (int i = 0; i < 3; ++i) {
      const Stolen<int> stolen = deque.steal();
      ASSERT_EQ(stolen.status, StealStatus::success);
      EXPECT_EQ(stolen.value, expected.front());
      expected.pop_front();
    }
  }
  EXPECT_EQ(deque.size_approx(), expected.size());
  EXPECT_EQ(steal_all(deque), std::vector<int>(expected.begin(), expected.end()));
}

INSTANTIATE_TEST_SUITE_P(InitialCapacity, WorkDequeGrowth, testing::Values(1, 2),
                         [](const testing::TestParamInfo<std::size_t>& param) {
                           return "Capacity" + std::to_string(param.param);
                         });

TEST(WorkDeque, InterleavedPushPopStealTakeFromTheRightEnds) {
  WorkDeque<int> deque(2);
  deque.push(1);
  deque.push(2);
  deque.push(3);                      // [1 2 3]
  EXPECT_EQ(deque.steal().value, 1);  // [2 3]
  EXPECT_EQ(deque.pop(), 3);          // [2]
  deque.push(4);
  deque.push(5);                      // [2 4 5]
  EXPECT_EQ(deque.steal().value, 2);  // [4 5]
  EXPECT_EQ(deque.pop(), 5);          // [4]
  EXPECT_EQ(deque.pop(), 4);          // []
  EXPECT_EQ(deque.pop(), std::nullopt);
  deque.push(6);
  EXPECT_EQ(deque.steal().value, 6);
  EXPECT_EQ(deque.steal().status, StealStatus::empty);
}

// Many times around a ring that never needs to grow: indices keep increasing, slots are
// reused through the mask.
TEST(WorkDeque, ReusingSlotsAroundTheRingDoesNotGrowIt) {
  WorkDeque<int> deque(4);
  for (int round = 0; round < 10'000; ++round) {
    deque.push(round);
    deque.push(round + 1);
    EXPECT_EQ(deque.steal().value, round);
    EXPECT_EQ(deque.pop(), round + 1);
  }
  EXPECT_EQ(deque.capacity(), 4U);
  EXPECT_EQ(deque.size_approx(), 0U);
}

TEST(WorkDeque, SizeApproxCountsPushedMinusTaken) {
  WorkDeque<int> deque(2);
  EXPECT_TRUE(deque.empty_approx());
  for (int value = 0; value < 10; ++value) deque.push(value);
  EXPECT_EQ(deque.size_approx(), 10U);
  EXPECT_FALSE(deque.empty_approx());
  (void)deque.pop();
  (void)deque.steal();
  (void)deque.steal();
  EXPECT_EQ(deque.size_approx(), 7U);
  pop_all(deque);
  EXPECT_EQ(deque.size_approx(), 0U);
  EXPECT_TRUE(deque.empty_approx());
  (void)deque.pop();  // a failed pop leaves the estimate at zero, not at -1
  EXPECT_EQ(deque.size_approx(), 0U);
}

// The scheduler stores task pointers: any trivially copyable type works.
TEST(WorkDeque, HoldsPointers) {
  int a = 1;
  int b = 2;
  WorkDeque<const int*> deque(1);
  deque.push(&a);
  deque.push(&b);
  EXPECT_EQ(deque.steal().value, &a);
  EXPECT_EQ(deque.pop(), &b);
  EXPECT_EQ(deque.pop(), std::nullopt);
}

// Growing allocates twice (the bigger ring, then the retired-ring list's slot). If either
// fails, push throws and the deque is exactly as before: the new ring is never installed.
TEST(WorkDeque, FailedGrowthLeavesTheDequeUnchanged) {
  for (long succeed_first : {0L, 1L}) {
    WorkDeque<int> deque(2);
    deque.push(1);
    deque.push(2);
    {
      test::FailAllocation fail(succeed_first);
      EXPECT_THROW(deque.push(3), std::bad_alloc) << "allocation " << succeed_first;
    }
    EXPECT_EQ(deque.capacity(), 2u);
    EXPECT_EQ(deque.size_approx(), 2u);
    deque.push(3);  // grows now
    EXPECT_EQ(steal_all(deque), (std::vector<int>{1, 2, 3}));
  }
}

}  // namespace
}  // namespace forage::detail
