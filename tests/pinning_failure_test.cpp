// Pinning refused for real, on both pools: a synthetic topology marked as this system
// (Topology::synthetic sets HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM) that names more PUs than the
// machine has, so the kernel refuses the workers planned on the PUs it lacks. The refusal is
// reported once through on_error and per worker in stats().pin_error; those workers run
// unpinned, the others are pinned, and the pool runs every task. (pool_test's
// FailedPinIsReportedOnceAndThePoolStillRuns is the Pool-only form of this.)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace forage {
namespace {

template <class System>
class PinningFailureTest : public ::testing::Test {};

using test::Systems;
TYPED_TEST_SUITE(PinningFailureTest, Systems);

TYPED_TEST(PinningFailureTest, APuTheMachineLacksIsReportedOnceAndThePoolRunsEveryTask) {
  const long configured = sysconf(_SC_NPROCESSORS_CONF);
  ASSERT_GT(configured, 0);
  // Worker i is planned on PU i (Pinning::pus): the last worker's PU is one past the machine.
  const std::size_t workers = static_cast<std::size_t>(configured) + 1;
  if (workers > Pool::kMaxWorkers) GTEST_SKIP() << "a machine with kMaxWorkers PUs or more";
  const int synthetic_pus = std::max(64, 2 * static_cast<int>(configured));

  std::mutex reports_mutex;
  std::vector<std::string> reports;
  PoolOptions options;
  options.pinning = Pinning::pus;
  options.on_error = [&](std::exception_ptr error) {
    std::string text = "not a forage::Error";
    try {
      std::rethrow_exception(error);
    } catch (const Error& e) {
      text = e.what();
    } catch (...) {
    }
    std::lock_guard lock(reports_mutex);
    reports.push_back(text);
  };
  options.topology =
      Topology::synthetic("package:1 core:" + std::to_string(synthetic_pus) + " pu:1");
  auto pool = TypeParam::make(workers, options);

  std::atomic<int> ran{0};
  for (int i = 0; i < 1000; ++i) {
    // relaxed: read after wait_idle, which orders the tasks before it.
    pool->spawn([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  }
  pool->wait_idle();
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 1000);

  const PoolStats stats = pool->stats();
  ASSERT_EQ(stats.workers.size(), workers);
  const WorkerStats& refused = stats.workers.back();
  EXPECT_FALSE(refused.pinned_cpu);
  EXPECT_NE(refused.pin_error.find("PU " + std::to_string(configured)), std::string::npos)
      << refused.pin_error;
  pool->shutdown();
  std::lock_guard lock(reports_mutex);
  ASSERT_EQ(reports.size(), 1u) << "one report per pool, however many workers failed";
  EXPECT_NE(reports.front().find("could not be pinned"), std::string::npos) << reports.front();
}

}  // namespace
}  // namespace forage
