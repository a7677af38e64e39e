// test::Watchdog (tests/test_support.hpp): a hung test fails with the state of its pool and
// of every thread printed, instead of a CI timeout.
#include <chrono>
#include <latch>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace forage {
namespace {

using namespace std::chrono_literals;

template <class System>
class WatchdogTest : public ::testing::Test {};

using test::Systems;
TYPED_TEST_SUITE(WatchdogTest, Systems);

TYPED_TEST(WatchdogTest, AHangPrintsThePoolsWorkersAndEveryThreadBeforeFailing) {
  // "threadsafe": the child re-runs the binary rather than forking this threaded process.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto pool = TypeParam::make(2);
        std::latch never(1);
        pool->spawn([&never] { never.wait(); });  // one worker hangs; the other parks
        test::Watchdog watchdog("a task that never ends", 1s);
        watchdog.on_expiry(test::pool_state_dump(*pool));
        pool->wait_idle();
      },
      "did not finish in 1 s(.|\n)*pool state \\(2 workers\\)(.|\n)*worker 0: executed "
      "(.|\n)*worker 1: executed (.|\n)*threads:(.|\n)*forage-");
}

TEST(Watchdog, DisarmedInTimeItPrintsNothingAndRunsNoDump) {
  bool dumped = false;
  {
    test::Watchdog watchdog("quick", 60s);
    watchdog.on_expiry([&dumped] { dumped = true; });
  }
  EXPECT_FALSE(dumped);
}

}  // namespace
}  // namespace forage
