// external_submit: many tiny tasks spawned from outside the pool.
//
// The benchmark thread (not a worker) spawns 1M tasks that do nothing but count themselves
// into their worker's own counter, then waits with wait_idle(). This is the path of a server
// thread handing work to a pool: forage's injection queue, SingleQueuePool's shared queue.
// Figure: million tasks per second, wall time from the first spawn to wait_idle() returning,
// higher is better.
#include <chrono>
#include <cstddef>
#include <cstdint>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"

namespace {

using forage::bench::Clock;
using forage::bench::WorkerCounters;

constexpr std::uint64_t kTasks = 1'000'000;
constexpr std::uint64_t kQuickTasks = 100'000;
constexpr std::uint64_t kWarmTasks = 20'000;

template <class PoolType>
void submit(PoolType& pool, std::uint64_t tasks) {
  for (std::uint64_t i = 0; i < tasks; ++i) pool.spawn([] { WorkerCounters::count_one(); });
}

template <class System>
void external_submit(benchmark::State& state, std::uint64_t tasks) {
  const auto workers = static_cast<std::size_t>(state.range(0));
  WorkerCounters executed(workers);  // outlives the pool
  auto pool = forage::bench::make_pool<System>(state, workers, executed);
  if (!pool) return;

  submit(*pool, kWarmTasks);  // warm-up: queues and allocator caches grown
  pool->wait_idle();
  if (!forage::bench::check_count(state, "warm-up tasks", executed.sum(), kWarmTasks)) return;
  executed.reset();
  const forage::PoolStats before = pool->stats();

  Clock::duration elapsed{};
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    submit(*pool, tasks);
    pool->wait_idle();
    elapsed += Clock::now() - start;
  }

  const auto total = tasks * static_cast<std::uint64_t>(state.iterations());
  if (!forage::bench::check_count(state, "tasks", executed.sum(), total)) return;
  const forage::PoolStats after = pool->stats();
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
  // tasks per ns * 1e3 = million tasks per second
  state.counters["Mtasks_per_s"] = static_cast<double>(total) / forage::bench::to_ns(elapsed) * 1e3;
  state.counters["tasks_per_run"] = static_cast<double>(tasks);
  state.counters["parks_per_run"] =
      static_cast<double>(after.parks() - before.parks()) / static_cast<double>(state.iterations());
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const std::uint64_t tasks = forage::bench::quick_mode() ? kQuickTasks : kTasks;
  forage::bench::for_each_system([&](auto system) {
    using System = typename decltype(system)::type;
    auto* b = benchmark::RegisterBenchmark(
        forage::bench::benchmark_name<System>("external_submit").c_str(),
        [tasks](benchmark::State& state) { external_submit<System>(state, tasks); });
    b->UseRealTime()->Unit(benchmark::kMillisecond);
    forage::bench::sweep_workers(b);
  });
  return forage::bench::run_registered(argc, argv);
}
