// Topology: pinning plans and victim tiers are checked exactly on synthetic machines; discovery
// and binding are checked against what Linux itself reports for this process.

#include "forage/topology.hpp"

#include <sched.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "forage/errors.hpp"

namespace forage {
namespace {

using Tiers = std::vector<std::vector<std::size_t>>;

// The CPUs this thread may run on, as Linux reports them (a cpu_set_t holds 1024 CPUs, which
// is plenty for any machine these tests run on).
std::vector<int> affinity_of_this_thread() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  EXPECT_EQ(sched_getaffinity(0, sizeof mask, &mask), 0);
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &mask)) cpus.push_back(cpu);
  }
  return cpus;
}

std::size_t affinity_count() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  EXPECT_EQ(sched_getaffinity(0, sizeof mask, &mask), 0);
  return static_cast<std::size_t>(CPU_COUNT(&mask));
}

// Runs `f` on a fresh thread, so the test thread's affinity is never changed.
template <class F>
auto on_fresh_thread(F f) {
  decltype(f()) result{};
  std::thread thread([&] { result = f(); });
  thread.join();
  return result;
}

// ---- Synthetic machines: cores, cache groups, NUMA nodes --------------------------------

TEST(Topology, SyntheticCoresListTheirPusInOsOrder) {
  const Topology topology = Topology::synthetic("package:2 core:2 pu:2");
  EXPECT_TRUE(topology.is_synthetic());
  ASSERT_EQ(topology.core_count(), 4u);
  EXPECT_EQ(topology.pu_count(), 8u);
  EXPECT_EQ(topology.cores()[0].pus, (std::vector<int>{0, 1}));
  EXPECT_EQ(topology.cores()[3].pus, (std::vector<int>{6, 7}));
  EXPECT_EQ(topology.allowed_pus(), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(Topology, CacheGroupIsTheL3AndNumaNodeIsThePackagesNode) {
  const Topology topology = Topology::synthetic("package:2 [numa] l3:2 core:2 pu:2");
  ASSERT_EQ(topology.core_count(), 8u);
  std::vector<std::size_t> caches;
  std::vector<std::size_t> nodes;
  for (const Core& core : topology.cores()) {
    caches.push_back(core.cache_group);
    nodes.push_back(core.numa_node);
  }
  EXPECT_EQ(caches, (std::vector<std::size_t>{0, 0, 1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(nodes, (std::vector<std::size_t>{0, 0, 0, 0, 1, 1, 1, 1}));
}

TEST(Topology, CacheGroupFallsBackToTheL2WithoutAnL3) {
  const Topology topology = Topology::synthetic("package:1 l2:2 core:2 pu:1");
  std::vector<std::size_t> caches;
  for (const Core& core : topology.cores()) caches.push_back(core.cache_group);
  EXPECT_EQ(caches, (std::vector<std::size_t>{0, 0, 1, 1}));
}

TEST(Topology, CoreWithoutASharedCacheIsItsOwnCacheGroup) {
  const Topology topology = Topology::synthetic("package:1 core:3 pu:1");
  std::vector<std::size_t> caches;
  for (const Core& core : topology.cores()) caches.push_back(core.cache_group);
  EXPECT_EQ(caches, (std::vector<std::size_t>{0, 1, 2}));
}

TEST(Topology, MalformedSyntheticThrowsInvalidArgumentShowingAValidExample) {
  for (const char* bad : {"bogus:3", "package:2 core", "", "core:0 pu:1"}) {
    SCOPED_TRACE(bad);
    try {
      (void)Topology::synthetic(bad);
      FAIL() << "no exception";
    } catch (const InvalidArgument& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find('"' + std::string(bad) + '"'), std::string::npos) << message;
      EXPECT_NE(message.find("package:1 core:4 pu:2"), std::string::npos) << message;
    }
  }
}

TEST(Topology, CopiesShareTheHwlocTopologyAndOutliveTheOriginal) {
  auto original = std::make_unique<Topology>(Topology::synthetic("package:1 core:2 pu:1"));
  const Topology copy = *original;
  original.reset();
  EXPECT_NE(copy.describe().find("synthetic"), std::string::npos);
  EXPECT_EQ(on_fresh_thread([&] { return copy.bind_current_thread(0); }), "");
}

// ---- Pinning plans ------------------------------------------------------------------------

TEST(Topology, CoresPlanSpreadsOverCoresBeforeSiblings) {
  const Topology topology = Topology::synthetic("package:1 core:4 pu:2");
  EXPECT_EQ(topology.pinning_plan(4, Pinning::cores), (std::vector<int>{0, 2, 4, 6}));
  EXPECT_EQ(topology.pinning_plan(8, Pinning::cores), (std::vector<int>{0, 2, 4, 6, 1, 3, 5, 7}));
}

TEST(Topology, CoresPlanWrapsAroundWhenWorkersOutnumberPus) {
  const Topology topology = Topology::synthetic("package:1 core:4 pu:2");
  EXPECT_EQ(topology.pinning_plan(11, Pinning::cores),
            (std::vector<int>{0, 2, 4, 6, 1, 3, 5, 7, 0, 2, 4}));
}

TEST(Topology, CoresPlanFillsCoresInTopologyOrderAcrossPackages) {
  const Topology topology = Topology::synthetic("package:2 core:2 pu:2");
  EXPECT_EQ(topology.pinning_plan(5, Pinning::cores), (std::vector<int>{0, 2, 4, 6, 1}));
}

TEST(Topology, PusPlanFollowsOsOrderAndWraps) {
  const Topology topology = Topology::synthetic("package:1 core:2 pu:2");
  EXPECT_EQ(topology.pinning_plan(3, Pinning::pus), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(topology.pinning_plan(6, Pinning::pus), (std::vector<int>{0, 1, 2, 3, 0, 1}));
}

TEST(Topology, NonePlanIsEmpty) {
  const Topology topology = Topology::synthetic("package:1 core:4 pu:2");
  EXPECT_TRUE(topology.pinning_plan(4, Pinning::none).empty());
}

TEST(Topology, ZeroWorkersGetAnEmptyPlan) {
  const Topology topology = Topology::synthetic("package:1 core:4 pu:2");
  EXPECT_TRUE(topology.pinning_plan(0, Pinning::cores).empty());
  EXPECT_TRUE(topology.pinning_plan(0, Pinning::pus).empty());
}

// ---- Victim tiers -------------------------------------------------------------------------

TEST(Topology, VictimTiersGoSameCoreThenCacheThenNumaThenTheRest) {
  // 2 packages, each a NUMA node with 2 L3s of 2 cores of 2 PUs: 16 workers fill every PU,
  // worker w on core w % 8.
  const Topology topology = Topology::synthetic("package:2 [numa] l3:2 core:2 pu:2");
  const std::vector<int> plan = topology.pinning_plan(16, Pinning::cores);
  EXPECT_EQ(topology.victim_tiers(16, plan, 0),
            (Tiers{{8}, {1, 9}, {2, 3, 10, 11}, {4, 5, 6, 7, 12, 13, 14, 15}}));
  EXPECT_EQ(topology.victim_tiers(16, plan, 13),
            (Tiers{{5}, {4, 12}, {6, 7, 14, 15}, {0, 1, 2, 3, 8, 9, 10, 11}}));
}

TEST(Topology, VictimTiersOmitEmptyTiers) {
  // One worker per core, no shared cache, one NUMA node: only the NUMA tier has anyone.
  const Topology topology = Topology::synthetic("package:1 core:4 pu:1");
  const std::vector<int> plan = topology.pinning_plan(4, Pinning::cores);
  EXPECT_EQ(topology.victim_tiers(4, plan, 2), (Tiers{{0, 1, 3}}));
}

TEST(Topology, VictimTiersPutWorkersOnTheSamePuFirst) {
  const Topology topology = Topology::synthetic("package:1 core:2 pu:1");
  const std::vector<int> plan = topology.pinning_plan(5, Pinning::cores);
  ASSERT_EQ(plan, (std::vector<int>{0, 1, 0, 1, 0}));
  EXPECT_EQ(topology.victim_tiers(5, plan, 0), (Tiers{{2, 4}, {1, 3}}));
}

TEST(Topology, UnpinnedVictimTiersAreOneTierOfAllOthers) {
  const Topology topology = Topology::synthetic("package:2 [numa] l3:2 core:2 pu:2");
  EXPECT_EQ(topology.victim_tiers(4, {}, 1), (Tiers{{0, 2, 3}}));
  EXPECT_TRUE(topology.victim_tiers(1, {}, 0).empty());
}

TEST(Topology, VictimTiersRejectAWorkerOrPlanThatDoNotFit) {
  const Topology topology = Topology::synthetic("package:1 core:2 pu:1");
  const std::vector<int> plan = topology.pinning_plan(2, Pinning::cores);
  EXPECT_THROW((void)topology.victim_tiers(2, plan, 2), InvalidArgument);
  EXPECT_THROW((void)topology.victim_tiers(3, plan, 0), InvalidArgument);
  EXPECT_THROW((void)topology.victim_tiers(2, std::vector<int>{0, 7}, 0), InvalidArgument);
}

// ---- This machine -------------------------------------------------------------------------

TEST(Topology, DiscoverSeesExactlyTheAffinityMask) {
  const Topology topology = Topology::discover();
  EXPECT_FALSE(topology.is_synthetic());
  EXPECT_GE(topology.core_count(), 1u);
  EXPECT_EQ(topology.pu_count(), topology.allowed_pus().size());
  EXPECT_EQ(topology.allowed_pus(), affinity_of_this_thread());
}

// What `taskset -a -p -c CPU PID` does: narrows every thread of this process. The process
// binding is the union over its threads (a sanitizer's helper thread counts too).
bool bind_every_thread_of_this_process_to(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", error)) {
    const pid_t tid = static_cast<pid_t>(std::stol(task.path().filename().string()));
    if (sched_setaffinity(tid, sizeof one, &one) != 0) return false;
  }
  return !error;
}

TEST(Topology, DiscoverRespectsANarrowedProcessBinding) {
  const std::vector<int> cpus = affinity_of_this_thread();
  if (cpus.size() < 2) GTEST_SKIP() << "needs two allowed CPUs to narrow the binding";
  // In a child process, so this process's affinity stays as it is; "threadsafe" re-runs the
  // test binary instead of forking a process that may have threads.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        if (!bind_every_thread_of_this_process_to(cpus.back())) std::_Exit(2);
        const std::vector<int> seen = Topology::discover().allowed_pus();
        std::_Exit(seen == std::vector<int>{cpus.back()} ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(Topology, DescribeReportsTheMachineAndNamesThePlan) {
  const Topology topology = Topology::discover();
  const std::string text = topology.describe();
  EXPECT_NE(text.find("allowed PUs"), std::string::npos) << text;
  EXPECT_NE(text.find("pinning plan"), std::string::npos) << text;
  EXPECT_NE(text.find("worker 0 -> PU " + std::to_string(topology.cores()[0].pus[0])),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("synthetic"), std::string::npos) << text;
}

TEST(Topology, DescribeSaysWhenTheTopologyIsSynthetic) {
  const std::string text = Topology::synthetic("package:1 core:4 pu:2").describe();
  EXPECT_NE(text.find("synthetic"), std::string::npos) << text;
  EXPECT_NE(text.find("package:1 core:4 pu:2"), std::string::npos) << text;
  EXPECT_NE(text.find("worker 3 -> PU 6"), std::string::npos) << text;
}

TEST(Topology, BindingToAnAllowedPuSucceeds) {
  const Topology topology = Topology::discover();
  const int pu = topology.allowed_pus().back();
  const std::vector<int> after = on_fresh_thread([&] {
    const std::string error = topology.bind_current_thread(pu);
    EXPECT_EQ(error, "");
    return affinity_of_this_thread();
  });
  EXPECT_EQ(after, std::vector<int>{pu});
}

TEST(Topology, ThreadsOfOnePoolCanBindThroughOneTopologyAtOnce) {
  // A pool's workers all pin themselves through the same Topology as they start.
  const Topology topology = Topology::discover();
  const std::vector<int> pus = topology.allowed_pus();
  constexpr std::size_t kThreads = 8;
  std::vector<std::string> errors(kThreads);
  std::vector<std::vector<int>> affinities(kThreads);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      errors[i] = topology.bind_current_thread(pus[i % pus.size()]);
      affinities[i] = affinity_of_this_thread();
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (std::size_t i = 0; i < kThreads; ++i) {
    EXPECT_EQ(errors[i], "") << "thread " << i;
    EXPECT_EQ(affinities[i], std::vector<int>{pus[i % pus.size()]}) << "thread " << i;
  }
}

TEST(Topology, BindingToAPuTheMachineLacksReturnsAnErrorInsteadOfThrowing) {
  // A synthetic machine bigger than this one: its last PU exists in hwloc's eyes only.
  const long configured = sysconf(_SC_NPROCESSORS_CONF);
  const int pus = std::max(64, static_cast<int>(configured) * 2);
  const Topology topology = Topology::synthetic("package:1 core:" + std::to_string(pus) + " pu:1");
  const int missing = pus - 1;
  std::string error;
  const std::vector<int> before = affinity_of_this_thread();
  EXPECT_NO_THROW(error = on_fresh_thread([&] { return topology.bind_current_thread(missing); }));
  EXPECT_NE(error, "");
  EXPECT_NE(error.find("PU " + std::to_string(missing)), std::string::npos) << error;
  EXPECT_EQ(error.find("not in the topology"), std::string::npos)
      << "the PU is in the synthetic topology, so the bind must really be attempted: " << error;
  EXPECT_EQ(affinity_of_this_thread(), before);
}

TEST(Topology, BindingToAPuOutsideTheTopologyReturnsAnError) {
  const Topology topology = Topology::synthetic("package:1 core:2 pu:1");
  for (int pu : {-1, 2, 1000}) {
    SCOPED_TRACE(pu);
    const std::string error = on_fresh_thread([&] { return topology.bind_current_thread(pu); });
    EXPECT_NE(error.find("not in the topology"), std::string::npos) << error;
  }
}

TEST(Topology, DefaultBuiltTopologyPlansNothingAndRefusesToBind) {
  const Topology empty;
  EXPECT_TRUE(empty.pinning_plan(3, Pinning::cores).empty());
  EXPECT_NE(empty.bind_current_thread(0), "");
  EXPECT_NE(empty.describe(), "");
}

// ctest runs this under `taskset -c 0` with FORAGE_EXPECT_ALLOWED_PUS=1 (tests/CMakeLists.txt).
TEST(TopologyUnderTaskset, SeesExactlyTheAffinityMask) {
  const Topology topology = Topology::discover();
  EXPECT_EQ(topology.allowed_pus().size(), affinity_count());
  if (const char* expected = std::getenv("FORAGE_EXPECT_ALLOWED_PUS")) {
    EXPECT_EQ(topology.allowed_pus().size(), std::stoul(expected))
        << "FORAGE_EXPECT_ALLOWED_PUS=" << expected << "\n"
        << topology.describe();
  }
}

}  // namespace
}  // namespace forage
