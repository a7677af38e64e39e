// CountLatch and Signal (forage/detail/wait_word.hpp): their packed words, what decode() says of
// them, and the contract checks on every update.
#include "forage/detail/wait_word.hpp"

#include <thread>

#include <gtest/gtest.h>

namespace forage {
namespace {

using detail::CountLatch;
using detail::Signal;

TEST(CountLatch, DecodeNamesTheCountAndTheSleeperBit) {
  EXPECT_EQ(CountLatch::decode(0), "count 0");
  EXPECT_EQ(CountLatch::decode(3 << 1), "count 3");
  EXPECT_EQ(CountLatch::decode((5 << 1) | detail::kWordSleeper), "count 5 +sleeper");
  EXPECT_EQ(CountLatch::decode(~std::uint32_t{0}), "count 2147483647 +sleeper");
}

TEST(CountLatch, CountsDownToDoneAndIsReusable) {
  CountLatch latch(2);
  EXPECT_FALSE(latch.done());
  latch.count_down();
  latch.count_down();
  EXPECT_TRUE(latch.done());
  latch.add(1);
  EXPECT_FALSE(latch.done());
  std::thread other([&latch] { latch.count_down(); });
  latch.wait();
  EXPECT_TRUE(latch.done());
  other.join();
}

TEST(Signal, DecodeNamesTheSequenceAndTheSleeperBit) {
  EXPECT_EQ(Signal::decode(0), "sequence 0");
  EXPECT_EQ(Signal::decode((7 << 1) | detail::kWordSleeper), "sequence 7 +sleeper");
}

TEST(Signal, WaitPastReturnsOnceNotified) {
  Signal signal;
  const std::uint32_t seen = signal.sequence();
  std::thread notifier([&signal] { signal.notify(); });
  signal.wait_past(seen);
  EXPECT_NE(signal.sequence(), seen);
  notifier.join();
}

#if FORAGE_ASSERTS
TEST(CountLatchDeathTest, CountDownBelowZeroFailsWithTheDecodedWord) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        CountLatch latch(0);
        latch.count_down();
      },
      "contract violated: CountLatch::count_down below zero \\(more count_downs than adds\\): "
      "the word was count 0");
}

TEST(CountLatchDeathTest, AddBeyondTheCountRangeFails) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        CountLatch latch(CountLatch::kMaxCount);
        latch.add(1);
      },
      "contract violated: CountLatch::add\\(1\\) overflows: the word was count 2147483647");
}
#endif

}  // namespace
}  // namespace forage
