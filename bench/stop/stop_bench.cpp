// stop: how long a stop request takes to end a running parallel_for.
//
// Each round: a caller thread (outside the pool) starts parallel_for over 10^9 cheap items
// (--quick as well: the call is stopped long before it would end) with MapOptions::stop; the
// benchmark thread waits until items run, lets the pool settle into the loop for a moment,
// stamps the time and calls request_stop() on the source; the caller stamps the time when
// parallel_for returns (with Cancelled). Latency = return - request: a worker finishes its
// current block of kItemsPerBlock items, sees the stop between blocks, skips the rest, and the
// joins unwind. Figures: p50_us and p99_us over the rounds, lower is better; max_us and
// items_run_M (items that ran per round, millions) are diagnostics.
//
// Benchmarks "stop/<system>/workers:<n>": forage (Pool, adaptive splitting) and the two
// SingleQueuePools (Python chunking: 4 chunks per worker). Peers are left out: none has a
// stop token a parallel_for checks (oneTBB's task_group_context::cancel_group_execution would
// be the nearest; a later row).
//
// Manual timing: each iteration reports its latency, so Google Benchmark's time column is the
// mean.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"
#include <forage/forage.hpp>

namespace {

using forage::bench::Clock;
using forage::bench::percentile;

constexpr std::int64_t kRounds = 200;
constexpr std::int64_t kQuickRounds = 40;
constexpr std::uint64_t kItems = 1'000'000'000;
// How long the loop runs before the request: long enough for every worker to be in it.
constexpr auto kRunBeforeStop = std::chrono::milliseconds(2);

struct Round {
  double latency_ns = 0;
  std::size_t items_run = 0;
  bool cancelled = false;
};

template <class Pool>
Round one_round(Pool& pool) {
  std::stop_source source;
  forage::MapOptions options;
  options.stop = source.get_token();
  std::atomic<bool> started{false};
  Clock::time_point returned{};
  Round round;
  std::thread caller([&] {
    try {
      forage::parallel_for(
          pool, std::uint64_t{0}, kItems,
          [&started](std::uint64_t i) {
            benchmark::DoNotOptimize(i * 3);
            // relaxed: a go signal; nothing is published through it.
            if (i == 0) started.store(true, std::memory_order_relaxed);
          },
          options);
    } catch (const forage::Cancelled& stopped) {
      round.cancelled = true;
      round.items_run = stopped.items_run().value_or(0);
    }
    returned = Clock::now();
  });
  // relaxed: as above.
  while (!started.load(std::memory_order_relaxed)) std::this_thread::yield();
  std::this_thread::sleep_for(kRunBeforeStop);
  const Clock::time_point requested = Clock::now();
  source.request_stop();
  caller.join();  // publishes `returned` and `round`
  round.latency_ns = forage::bench::to_ns(returned - requested);
  return round;
}

template <class System>
void stop_latency(benchmark::State& state) {
  const auto workers = static_cast<std::size_t>(state.range(0));
  forage::PoolOptions options;
  options.name = "bench";
  auto pool = System::make(workers, options);
  std::vector<double> latencies;
  double items = 0;
  std::int64_t unstopped = 0;
  for (auto _ : state) {
    const Round round = one_round(*pool);
    if (!round.cancelled) ++unstopped;
    latencies.push_back(round.latency_ns);
    items += static_cast<double>(round.items_run);
    state.SetIterationTime(round.latency_ns * 1e-9);
  }
  if (unstopped != 0) {
    state.SkipWithError("a parallel_for ended without Cancelled: the stop did not reach it");
    return;
  }
  std::sort(latencies.begin(), latencies.end());
  state.counters["p50_us"] = percentile(latencies, 0.50) / 1e3;
  state.counters["p99_us"] = percentile(latencies, 0.99) / 1e3;
  state.counters["max_us"] = latencies.back() / 1e3;
  state.counters["items_run_M"] = items / static_cast<double>(latencies.size()) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const std::int64_t rounds = forage::bench::quick_mode() ? kQuickRounds : kRounds;
  forage::bench::for_each_system([rounds](auto system) {
    using System = typename decltype(system)::type;
    forage::bench::sweep_workers(
        benchmark::RegisterBenchmark(forage::bench::benchmark_name<System>("stop").c_str(),
                                     stop_latency<System>))
        ->Iterations(rounds)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  });
  return forage::bench::run_registered(argc, argv);
}
