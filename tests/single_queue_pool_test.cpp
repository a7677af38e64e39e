// SingleQueuePool-specific behaviour (the shared behaviour is in
// scheduler_conformance_test.cpp): a failed enqueue rolls back cleanly.
#include <atomic>
#include <chrono>
#include <new>

#include <gtest/gtest.h>

#include "failing_allocator.hpp"
#include "test_support.hpp"

namespace forage {
namespace {

using namespace std::chrono_literals;

// The locked queue is a std::deque of task pointers: a post that needs a new block of it can
// fail to allocate. The task must be told it was cancelled, and the pool must still reach
// idle and shut down (the admission count is rolled back).
TEST(SingleQueuePool, LockedQueueAllocationFailureCancelsTheTaskAndStaysConsistent) {
  SingleQueuePool pool(1, QueueKind::locked);
  std::atomic<std::size_t> ran{0};
  std::atomic<std::size_t> cancelled{0};
  std::size_t refused = 0;
  std::size_t accepted = 0;
  // The deque allocates one block per 64 pointers; arm a failure for each post until one of
  // them needed a block.
  for (int i = 0; i < 1000 && refused == 0; ++i) {
    auto* task = new test::CountingTask(ran, cancelled);
    test::FailAllocation fail(0);
    try {
      detail::SchedulerAccess::post(pool, task);
      ++accepted;
    } catch (const std::bad_alloc&) {
      ++refused;
    }
  }
  ASSERT_EQ(refused, 1u) << "no post needed an allocation";
  test::Watchdog watchdog("wait_idle after a failed post", 60s);
  pool.wait_idle();
  pool.shutdown();
  EXPECT_EQ(ran.load(std::memory_order_relaxed), accepted);
  EXPECT_EQ(cancelled.load(std::memory_order_relaxed), 1u);
}

}  // namespace
}  // namespace forage
