// spawn_tree: a binary tree of tasks spawned from inside the pool.
//
// The benchmark thread spawns the root and waits with wait_idle(); every task of depth d > 0
// spawns its two children of depth d - 1, so all but the root are spawned by workers (forage:
// onto the spawning worker's deque, where idle workers steal them; SingleQueuePool: through
// its one shared queue). Only the leaves count, each into its worker's own counter (see
// WorkerCounters), so the count cannot become the bottleneck; the sum is checked after each
// run. Figure: ns per task = wall time / tasks (tasks = 2^(depth+1) - 1), lower is better.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"

namespace {

using forage::bench::Clock;
using forage::bench::WorkerCounters;

constexpr int kDepth = 20;       // 2^21 - 1 = 2,097,151 tasks per tree
constexpr int kQuickDepth = 16;  // 131,071 tasks
constexpr int kWarmDepth = 12;   // one tree of 8,191 tasks before timing

std::uint64_t tree_tasks(int depth) { return (std::uint64_t{2} << depth) - 1; }
std::uint64_t tree_leaves(int depth) { return std::uint64_t{1} << depth; }

template <class PoolType>
struct TreeTask {
  PoolType* pool;
  int depth;

  void operator()() const {
    if (depth == 0) {
      WorkerCounters::count_one();
      return;
    }
    pool->spawn(TreeTask{pool, depth - 1});
    pool->spawn(TreeTask{pool, depth - 1});
  }
};

template <class System>
void spawn_tree(benchmark::State& state, int depth) {
  using PoolType = typename System::PoolType;
  const auto workers = static_cast<std::size_t>(state.range(0));
  WorkerCounters leaves(workers);  // outlives the pool
  auto pool = forage::bench::make_pool<System>(state, workers, leaves);
  if (!pool) return;

  // Warm-up: threads running, deques and allocator caches grown.
  pool->spawn(TreeTask<PoolType>{pool.get(), kWarmDepth});
  pool->wait_idle();
  if (!forage::bench::check_count(state, "warm-up leaves", leaves.sum(), tree_leaves(kWarmDepth))) {
    return;
  }
  leaves.reset();
  const forage::PoolStats before = pool->stats();

  Clock::duration elapsed{};
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    pool->spawn(TreeTask<PoolType>{pool.get(), depth});
    pool->wait_idle();
    elapsed += Clock::now() - start;
  }

  const auto iterations = static_cast<std::uint64_t>(state.iterations());
  if (!forage::bench::check_count(state, "leaves", leaves.sum(), tree_leaves(depth) * iterations)) {
    return;
  }
  const forage::PoolStats after = pool->stats();
  const std::uint64_t tasks = tree_tasks(depth) * iterations;
  if (!forage::bench::check_count(state, "executed (pool stats)",
                                  after.executed() - before.executed(), tasks)) {
    return;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(tasks));
  state.counters["ns_per_task"] = forage::bench::to_ns(elapsed) / static_cast<double>(tasks);
  state.counters["tasks_per_tree"] = static_cast<double>(tree_tasks(depth));
  state.counters["stolen_per_tree"] =
      static_cast<double>(after.stolen() - before.stolen()) / static_cast<double>(iterations);
  state.counters["parks_per_tree"] =
      static_cast<double>(after.parks() - before.parks()) / static_cast<double>(iterations);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const int depth = forage::bench::quick_mode() ? kQuickDepth : kDepth;
  forage::bench::for_each_system([&](auto system) {
    using System = typename decltype(system)::type;
    auto* b = benchmark::RegisterBenchmark(
        forage::bench::benchmark_name<System>("spawn_tree").c_str(),
        [depth](benchmark::State& state) { spawn_tree<System>(state, depth); });
    b->UseRealTime()->Unit(benchmark::kMillisecond);
    forage::bench::sweep_workers(b);
  });
  return forage::bench::run_registered(argc, argv);
}
