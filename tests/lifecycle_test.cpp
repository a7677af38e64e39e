// The lifecycle both pools share (lib/lifecycle/): the admission word and its decoder, and the
// checked contracts: an owner-only operation called off the pool's workers, and a corrupted
// admission count, stop the process with a message that names the contract.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "forage/detail/assert.hpp"
#include "forage/pool.hpp"
#include "forage/single_queue_pool.hpp"
#include "lifecycle/idle_tracker.hpp"
#include "lifecycle/scheduler.hpp"

namespace forage {
namespace {

using detail::IdleTracker;

TEST(IdleTrackerDecode, NamesTheAdmittedCountAndTheClosedFlag) {
  EXPECT_EQ(IdleTracker::decode(0), "admitted=0 open");
  EXPECT_EQ(IdleTracker::decode(IdleTracker::kClosedBit), "admitted=0 closed");
  EXPECT_EQ(IdleTracker::decode(5 * IdleTracker::kOne), "admitted=5 open");
  EXPECT_EQ(IdleTracker::decode((5 << IdleTracker::kCountShift) | IdleTracker::kClosedBit),
            "admitted=5 closed");
}

TEST(IdleTracker, AdmitsUntilClosedAndRetractsAnAdmission) {
  IdleTracker tracker;
  EXPECT_TRUE(tracker.try_admit());
  tracker.retract();
  EXPECT_TRUE(tracker.quiescent({}));
  EXPECT_TRUE(tracker.close());
  EXPECT_FALSE(tracker.close());  // only the first close closes
  EXPECT_TRUE(tracker.closed());
  EXPECT_FALSE(tracker.try_admit());
}

// The core behind a pool handle, as the futures layer finds it.
template <class Handle>
std::shared_ptr<detail::Scheduler> scheduler_of(const Handle& pool) {
  return detail::find_scheduler(detail::SchedulerAccess::id(pool));
}

#if FORAGE_ASSERTS

// Death tests run in a child process; "threadsafe" re-executes the binary for it, so the
// pool's worker threads are the child's own (the style TSan supports as well).
TEST(LifecycleDeathTest, RunOneTaskOffThePoolStopsWithTheContract) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Pool pool({.workers = 1, .name = "off-pool"});
        scheduler_of(pool)->run_one_task();
      },
      "forage::Pool 'off-pool': run_one_task\\(\\) runs only on a worker of this pool");
}

TEST(LifecycleDeathTest, TakeBackOffThePoolStopsWithTheContract) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Pool pool({.workers = 1});
        scheduler_of(pool)->take_back(nullptr);
      },
      "take_back\\(\\) runs only on a worker of this pool");
}

TEST(LifecycleDeathTest, SingleQueuePoolOwnerOperationsOffThePoolStopWithTheContract) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (QueueKind kind : {QueueKind::locked, QueueKind::lock_free}) {
    SCOPED_TRACE(kind == QueueKind::locked ? "locked" : "lock_free");
    EXPECT_DEATH(
        {
          SingleQueuePool pool(1, kind);
          scheduler_of(pool)->run_one_task();
        },
        "forage::SingleQueuePool '.*': run_one_task\\(\\) runs only on a worker of this pool");
    EXPECT_DEATH(
        {
          SingleQueuePool pool(1, kind);
          scheduler_of(pool)->take_steal_request();
        },
        "take_steal_request\\(\\) runs only on a worker of this pool");
  }
}

// A pool on another pool's worker is still "off the pool": the check compares schedulers,
// not "is this any worker".
TEST(LifecycleDeathTest, OwnerOperationOnAnotherPoolsWorkerStopsWithTheContract) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Pool target({.workers = 1, .name = "target"});
        SingleQueuePool other(1);
        std::shared_ptr<detail::Scheduler> core = scheduler_of(target);
        other.spawn([core] { core->take_steal_request(); });
        other.wait_idle();
      },
      "forage::Pool 'target': take_steal_request\\(\\) runs only on a worker of this pool");
}

TEST(LifecycleDeathTest, RetractWithoutAdmissionStopsWithTheDecodedWord) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        IdleTracker tracker;
        tracker.retract();
      },
      "retract without a matching try_admit.*admitted=0 open");
}

#endif  // FORAGE_ASSERTS

}  // namespace
}  // namespace forage
