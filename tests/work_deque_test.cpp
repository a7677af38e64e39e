// The deque through its two handles (DequeOwner, DequeStealer), single-threaded: the owner's
// end is LIFO, the thieves' end FIFO, growth keeps every value, and the estimates agree with
// the contents. Also what each handle can do, and the owner-only check (FORAGE_ASSERTS
// builds). Concurrency is covered by stress/work_deque_stress_test.cpp and
// model/work_deque_model.cpp.
#include "deque/work_deque.hpp"

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "failing_allocator.hpp"

namespace forage::detail {
namespace {

std::vector<int> pop_all(DequeOwner<int>& deque) {
  std::vector<int> values;
  while (const auto value = deque.pop()) values.push_back(*value);
  return values;
}

std::vector<int> steal_all(DequeStealer<int> thief) {
  std::vector<int> values;
  for (;;) {
    const Stolen<int> stolen = thief.steal();
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
  DequeOwner<int> deque(8);
  for (int value : {1, 2, 3}) deque.push(value);
  EXPECT_EQ(pop_all(deque), (std::vector<int>{3, 2, 1}));
}

TEST(WorkDeque, StealTakesTheOldestValueFirst) {
  DequeOwner<int> deque(8);
  for (int value : {1, 2, 3}) deque.push(value);
  EXPECT_EQ(steal_all(deque.stealer()), (std::vector<int>{1, 2, 3}));
}

TEST(WorkDeque, PopOnANewDequeReturnsNothing) {
  DequeOwner<int> deque;
  EXPECT_EQ(deque.pop(), std::nullopt);
  EXPECT_EQ(deque.size_approx(), 0U);
}

TEST(WorkDeque, StealOnANewDequeReportsEmpty) {
  DequeOwner<int> deque;
  const DequeStealer<int> thief = deque.stealer();
  EXPECT_EQ(thief.steal().status, StealStatus::empty);
}

TEST(WorkDeque, PopAndStealReportEmptyAgainOnceDrained) {
  DequeOwner<int> deque(4);
  const DequeStealer<int> thief = deque.stealer();
  deque.push(1);
  deque.push(2);
  EXPECT_EQ(deque.pop(), 2);
  EXPECT_EQ(deque.pop(), 1);
  EXPECT_EQ(deque.pop(), std::nullopt);
  EXPECT_EQ(deque.pop(), std::nullopt);  // the failed pop restored bottom
  EXPECT_EQ(thief.steal().status, StealStatus::empty);
  deque.push(3);  // and the deque is usable again
  EXPECT_EQ(thief.steal().value, 3);
  EXPECT_EQ(thief.steal().status, StealStatus::empty);
  EXPECT_EQ(deque.pop(), std::nullopt);
}

TEST(WorkDeque, PopTakesTheLastValueThenStealFindsNothing) {
  DequeOwner<int> deque(4);
  const DequeStealer<int> thief = deque.stealer();
  deque.push(7);
  EXPECT_EQ(deque.pop(), 7);  // the last-element path: a CAS on top
  EXPECT_EQ(thief.steal().status, StealStatus::empty);
  EXPECT_EQ(deque.pop(), std::nullopt);
}

TEST(WorkDeque, StealTakesTheLastValueThenPopFindsNothing) {
  DequeOwner<int> deque(4);
  const DequeStealer<int> thief = deque.stealer();
  deque.push(7);
  const Stolen<int> stolen = thief.steal();
  EXPECT_EQ(stolen.status, StealStatus::success);
  EXPECT_EQ(stolen.value, 7);
  EXPECT_EQ(deque.pop(), std::nullopt);
  EXPECT_EQ(thief.steal().status, StealStatus::empty);
}

TEST(WorkDeque, CapacityIsRoundedUpToAPowerOfTwo) {
  EXPECT_EQ(DequeOwner<int>(1).capacity(), 1U);
  EXPECT_EQ(DequeOwner<int>(3).capacity(), 4U);
  EXPECT_EQ(DequeOwner<int>(256).capacity(), 256U);
  EXPECT_EQ(DequeOwner<int>(257).capacity(), 512U);
}

class WorkDequeGrowth : public testing::TestWithParam<std::size_t> {};

TEST_P(WorkDequeGrowth, GrowingKeepsEveryValueInPopOrder) {
  DequeOwner<int> deque(GetParam());
  for (int value = 0; value < 1000; ++value) deque.push(value);
  EXPECT_GE(deque.capacity(), 1000U);
  EXPECT_EQ(deque.size_approx(), 1000U);
  EXPECT_EQ(pop_all(deque), reversed(range(0, 1000)));
}

TEST_P(WorkDequeGrowth, GrowingKeepsEveryValueInStealOrder) {
  DequeOwner<int> deque(GetParam());
  for (int value = 0; value < 1000; ++value) deque.push(value);
  EXPECT_EQ(steal_all(deque.stealer()), range(0, 1000));
}

TEST_P(WorkDequeGrowth, CapacityDoublesWhenAPushFindsTheRingFull) {
  const std::size_t initial = GetParam();
  DequeOwner<int> deque(initial);
  for (std::size_t i = 0; i < initial; ++i) deque.push(static_cast<int>(i));
  EXPECT_EQ(deque.capacity(), initial);
  deque.push(-1);
  EXPECT_EQ(deque.capacity(), 2 * initial);
}

// After steals, top is past 0, so the live values wrap around the ring when it grows: the
// copy must follow the indices, not the ring's slot 0.
TEST_P(WorkDequeGrowth, GrowingAfterStealsKeepsTheWrappedValues) {
  DequeOwner<int> deque(GetParam());
  const DequeStealer<int> thief = deque.stealer();
  std::deque<int> expected;
  int next = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 5; ++i) {
      deque.push(next);
      expected.push_back(next++);
    }
    for (int i = 0; i < 3; ++i) {
      const Stolen<int> stolen = thief.steal();
      ASSERT_EQ(stolen.status, StealStatus::success);
      EXPECT_EQ(stolen.value, expected.front());
      expected.pop_front();
    }
  }
  EXPECT_EQ(deque.size_approx(), expected.size());
  EXPECT_EQ(steal_all(deque.stealer()), std::vector<int>(expected.begin(), expected.end()));
}

INSTANTIATE_TEST_SUITE_P(InitialCapacity, WorkDequeGrowth, testing::Values(1, 2),
                         [](const testing::TestParamInfo<std::size_t>& param) {
                           return "Capacity" + std::to_string(param.param);
                         });

TEST(WorkDeque, InterleavedPushPopStealTakeFromTheRightEnds) {
  DequeOwner<int> deque(2);
  const DequeStealer<int> thief = deque.stealer();
  deque.push(1);
  deque.push(2);
  deque.push(3);                      // [1 2 3]
  EXPECT_EQ(thief.steal().value, 1);  // [2 3]
  EXPECT_EQ(deque.pop(), 3);          // [2]
  deque.push(4);
  deque.push(5);                      // [2 4 5]
  EXPECT_EQ(thief.steal().value, 2);  // [4 5]
  EXPECT_EQ(deque.pop(), 5);          // [4]
  EXPECT_EQ(deque.pop(), 4);          // []
  EXPECT_EQ(deque.pop(), std::nullopt);
  deque.push(6);
  EXPECT_EQ(thief.steal().value, 6);
  EXPECT_EQ(thief.steal().status, StealStatus::empty);
}

// Many times around a ring that never needs to grow: indices keep increasing, slots are
// reused through the mask.
TEST(WorkDeque, ReusingSlotsAroundTheRingDoesNotGrowIt) {
  DequeOwner<int> deque(4);
  const DequeStealer<int> thief = deque.stealer();
  for (int round = 0; round < 10'000; ++round) {
    deque.push(round);
    deque.push(round + 1);
    EXPECT_EQ(thief.steal().value, round);
    EXPECT_EQ(deque.pop(), round + 1);
  }
  EXPECT_EQ(deque.capacity(), 4U);
  EXPECT_EQ(deque.size_approx(), 0U);
}

TEST(WorkDeque, SizeApproxCountsPushedMinusTaken) {
  DequeOwner<int> deque(2);
  const DequeStealer<int> thief = deque.stealer();
  EXPECT_TRUE(deque.empty_approx());
  for (int value = 0; value < 10; ++value) deque.push(value);
  EXPECT_EQ(deque.size_approx(), 10U);
  EXPECT_FALSE(deque.empty_approx());
  (void)deque.pop();
  (void)thief.steal();
  (void)thief.steal();
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
  DequeOwner<const int*> deque(1);
  const DequeStealer<const int*> thief = deque.stealer();
  deque.push(&a);
  deque.push(&b);
  EXPECT_EQ(thief.steal().value, &a);
  EXPECT_EQ(deque.pop(), &b);
  EXPECT_EQ(deque.pop(), std::nullopt);
}

// Growing allocates twice (the bigger ring, then the retired-ring list's slot). If either
// fails, push throws and the deque is exactly as before: the new ring is never installed.
TEST(WorkDeque, FailedGrowthLeavesTheDequeUnchanged) {
  for (long succeed_first : {0L, 1L}) {
    DequeOwner<int> deque(2);
    deque.push(1);
    deque.push(2);
    {
      test::FailAllocation fail(succeed_first);
      EXPECT_THROW(deque.push(3), std::bad_alloc) << "allocation " << succeed_first;
    }
    EXPECT_EQ(deque.capacity(), 2u);
    EXPECT_EQ(deque.size_approx(), 2u);
    deque.push(3);  // grows now
    EXPECT_EQ(steal_all(deque.stealer()), (std::vector<int>{1, 2, 3}));
  }
}

TEST(WorkDeque, ReserveGrowsOnceSoThatTheReservedPushesDoNotGrow) {
  DequeOwner<int> deque(4);
  const DequeStealer<int> thief = deque.stealer();
  deque.push(0);
  deque.push(1);
  EXPECT_EQ(thief.steal().value, 0);  // a stolen slot counts as free again
  deque.reserve(100);                 // 1 held + 100: one ring of 128
  EXPECT_EQ(deque.capacity(), 128u);
  for (int value = 2; value < 102; ++value) deque.push(value);
  EXPECT_EQ(deque.capacity(), 128u);
  deque.reserve(27);  // fits: nothing changes
  EXPECT_EQ(deque.capacity(), 128u);
  EXPECT_EQ(steal_all(thief), range(1, 102));
}

TEST(WorkDeque, FailedReserveLeavesTheDequeUnchanged) {
  DequeOwner<int> deque(2);
  deque.push(1);
  {
    test::FailAllocation fail(0);
    EXPECT_THROW(deque.reserve(10), std::bad_alloc);
  }
  EXPECT_EQ(deque.capacity(), 2u);
  EXPECT_EQ(pop_all(deque), (std::vector<int>{1}));
}

// The split is in the types: a stealer can steal and estimate, never push or pop; the owner
// is the deque itself, so it is neither copied nor moved, while stealers copy freely.
template <class Handle>
concept CanPushOrPop = requires(Handle handle) {
  handle.push(1);
}
|| requires(Handle handle) { handle.pop(); };
template <class Handle>
concept CanSteal = requires(Handle handle) {
  handle.steal();
};

static_assert(!CanPushOrPop<DequeStealer<int>>);
static_assert(!CanPushOrPop<const DequeStealer<int>>);
static_assert(CanSteal<const DequeStealer<int>>);
static_assert(CanPushOrPop<DequeOwner<int>>);
static_assert(!CanSteal<DequeOwner<int>>);
static_assert(!std::is_copy_constructible_v<DequeOwner<int>>);
static_assert(!std::is_move_constructible_v<DequeOwner<int>>);
static_assert(std::is_trivially_copyable_v<DequeStealer<int>>);
static_assert(sizeof(DequeStealer<int>) == sizeof(void*));

// A policy the owner check does not know (it is on only for StdAtomics and SeqCstAtomics):
// its DequeOwner carries the empty check member, which takes no space.
struct UncheckedAtomics : StdAtomics {};
static_assert(sizeof(DequeOwner<int, UncheckedAtomics>) ==
              sizeof(WorkDeque<int, UncheckedAtomics>));

TEST(WorkDeque, StealersCopiedFromOneOwnerShareItsDeque) {
  DequeOwner<int> deque(4);
  const DequeStealer<int> first = deque.stealer();
  const DequeStealer<int> second = first;  // a copy reaches the same deque
  deque.push(1);
  deque.push(2);
  EXPECT_EQ(second.size_approx(), 2U);
  EXPECT_EQ(first.steal().value, 1);
  EXPECT_EQ(second.steal().value, 2);
  EXPECT_TRUE(first.empty_approx());
  EXPECT_TRUE(deque.empty_approx());
}

// The pool's pattern: the deque is built on one thread, then pushed and popped only by
// another (its worker). The first push or pop claims it, so this is not a violation.
TEST(WorkDeque, TheFirstThreadToPushBecomesTheOwnerWhoeverBuiltTheDeque) {
  DequeOwner<int> deque(4);
  EXPECT_EQ(deque.stealer().steal().status, StealStatus::empty);  // stealing claims nothing
  std::optional<int> popped;
  std::thread worker([&] {
    deque.push(1);
    deque.push(2);
    popped = deque.pop();
  });
  worker.join();
  EXPECT_EQ(popped, 2);
  EXPECT_EQ(deque.stealer().steal().value, 1);  // any thread may still steal
}

#if FORAGE_ASSERTS
// The owner-only contract is checked: once a thread has pushed or popped, another thread that
// pushes or pops fails the assertion, with the contract in the message.
TEST(WorkDequeDeathTest, PopFromAThreadThatIsNotTheOwnerFailsTheOwnerCheck) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        DequeOwner<int> deque(4);
        deque.push(1);  // this thread is now the owner
        std::thread thief([&deque] { (void)deque.pop(); });
        thief.join();
      },
      "DequeOwner::pop is owner only: called from a thread that is not the deque's owner");
}

TEST(WorkDequeDeathTest, PushFromAThreadThatIsNotTheOwnerFailsTheOwnerCheck) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        DequeOwner<int> deque(4);
        std::thread owner([&deque] { (void)deque.pop(); });  // that thread is now the owner
        owner.join();
        deque.push(1);
      },
      "DequeOwner::push is owner only: called from a thread that is not the deque's owner");
}
#endif

}  // namespace
}  // namespace forage::detail
