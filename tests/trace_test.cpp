// PoolOptions::trace, Pool::trace() and write_chrome_trace (include/forage/trace.hpp).
#include "forage/trace.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "forage/errors.hpp"
#include "forage/pool.hpp"
#include "forage/single_queue_pool.hpp"

namespace {

using forage::Pool;
using forage::PoolOptions;
using forage::Trace;
using forage::TraceEvent;
using forage::TraceKind;

std::size_t count_of(const Trace& trace, TraceKind kind) {
  std::size_t count = 0;
  for (const TraceEvent& event : trace.events) count += event.kind == kind ? 1 : 0;
  return count;
}

// A binary tree of spawned tasks, each spawning its children onto its worker's deque.
void spawn_tree(Pool& pool, int depth, std::atomic<int>& nodes) {
  nodes.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after wait_idle()
  if (depth == 0) return;
  for (int child = 0; child < 2; ++child) {
    pool.spawn([&pool, depth, &nodes] { spawn_tree(pool, depth - 1, nodes); });
  }
}

TEST(Trace, PoolWithoutTraceRefusesToGiveOne) {
  Pool pool({.workers = 1});
  EXPECT_THROW(static_cast<void>(pool.trace()), forage::InvalidArgument);
}

TEST(Trace, SingleQueuePoolRefusesTheTraceOption) {
  PoolOptions options;
  options.trace = true;
  EXPECT_THROW(forage::SingleQueuePool(1, forage::QueueKind::locked, options),
               forage::InvalidArgument);
}

TEST(Trace, EveryTaskRunFromOutsideIsOneRunSpan) {
  Pool pool({.workers = 2, .trace = true});
  constexpr int kTasks = 1000;
  std::vector<forage::Future<int>> futures;
  for (int i = 0; i < kTasks; ++i) futures.push_back(pool.submit([i] { return i; }));
  for (auto& future : futures) future.get();
  pool.wait_idle();
  const Trace trace = pool.trace();
  EXPECT_EQ(trace.workers, 2u);
  EXPECT_EQ(trace.dropped, 0u);
  EXPECT_EQ(count_of(trace, TraceKind::run), static_cast<std::size_t>(kTasks));
  for (const TraceEvent& event : trace.events) {
    EXPECT_LT(event.worker, 2u);
    EXPECT_LE(event.start_ns, event.end_ns);
    EXPECT_GE(event.start_ns, 0);
  }
}

TEST(Trace, SpawnedTreeCountsEveryRunAndStealsNameTheirVictim) {
  Pool pool({.workers = 2, .trace = true});
  std::atomic<int> nodes{0};
  // Deep enough that the second worker, woken by the first spawns, finds work to steal.
  constexpr int kDepth = 14;
  pool.spawn([&pool, &nodes] { spawn_tree(pool, kDepth, nodes); });
  pool.wait_idle();
  const Trace trace = pool.trace();
  EXPECT_EQ(count_of(trace, TraceKind::run), static_cast<std::size_t>(nodes.load()));
  EXPECT_EQ(count_of(trace, TraceKind::steal), pool.stats().stolen());
  for (const TraceEvent& event : trace.events) {
    if (event.kind == TraceKind::steal) {
      EXPECT_NE(event.other, event.worker);
      EXPECT_LT(event.other, 2u);
    }
  }
}

TEST(Trace, AParkIsRecordedWhenTheWorkerWakes) {
  Pool pool({.workers = 2, .trace = true});
  // A park's span ends when its worker wakes: wait until both workers went to sleep (the
  // statistic counts a park as it starts), then wake one with a task.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (pool.stats().parks() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_GE(pool.stats().parks(), 2u);
  pool.submit([] {}).get();
  pool.wait_idle();
  const Trace trace = pool.trace();
  EXPECT_GE(count_of(trace, TraceKind::park), 1u);
}

TEST(Trace, AFullBufferDropsAndCountsTheRest) {
  Pool pool({.workers = 1, .trace = true, .trace_buffer_events = 10});
  for (int i = 0; i < 100; ++i) pool.spawn([] {});
  pool.wait_idle();
  const Trace trace = pool.trace();
  EXPECT_EQ(trace.events.size(), 10u);
  EXPECT_GE(trace.dropped, 90u);
}

TEST(Trace, SnapshotsWhileWorkersRecordAreConsistent) {
  Pool pool({.workers = 2, .trace = true});
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    // relaxed: a stop flag; nothing is published through it.
    while (!stop.load(std::memory_order_relaxed)) pool.spawn([] {});
  });
  std::size_t last = 0;
  for (int round = 0; round < 50; ++round) {
    const Trace trace = pool.trace();
    EXPECT_GE(trace.events.size() + trace.dropped, last);  // only ever grows
    last = trace.events.size() + trace.dropped;
    for (const TraceEvent& event : trace.events) EXPECT_LE(event.start_ns, event.end_ns);
  }
  stop.store(true, std::memory_order_relaxed);
  producer.join();
  pool.wait_idle();
}

TEST(Trace, ChromeJsonHasOneThreadPerWorkerAndTheEvents) {
  Pool pool({.workers = 2, .name = "traced", .trace = true});
  for (int i = 0; i < 100; ++i) pool.submit([] {}).get();
  pool.wait_idle();
  const Trace trace = pool.trace();
  std::ostringstream out;
  forage::write_chrome_trace(trace, out);
  const nlohmann::json document = nlohmann::json::parse(out.str());
  ASSERT_TRUE(document.contains("traceEvents"));
  std::set<int> named_threads;
  std::map<std::string, std::size_t> by_name;
  for (const nlohmann::json& event : document["traceEvents"]) {
    if (event["ph"] == "M") {
      if (event["name"] == "thread_name") named_threads.insert(event["tid"].get<int>());
      continue;
    }
    ++by_name[event["name"].get<std::string>()];
    EXPECT_TRUE(event.contains("ts"));
    if (event["ph"] == "X") {
      EXPECT_GE(event["dur"].get<double>(), 0.0);
    }
  }
  EXPECT_EQ(named_threads, (std::set<int>{0, 1}));
  EXPECT_EQ(by_name["run"], count_of(trace, TraceKind::run));
  EXPECT_EQ(document["otherData"]["pool"], "traced");
  EXPECT_EQ(document["otherData"]["dropped_events"], 0);
}

}  // namespace
