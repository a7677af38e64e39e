// idle_cost: the CPU an idle pool burns.
//
// Build the pool, run a burst of tasks so every worker has been busy, let it go idle and
// park, then measure the CPU time of the whole process (getrusage(RUSAGE_SELF), user + system,
// all threads) over a window of wall time while the benchmark thread sleeps (its own share is
// ~0). Figure: cpu_percent_of_core = CPU time / wall time * 100, lower is better; a pool that
// spins or wakes on a timer shows up here. "parks_in_window" counts how often workers went
// back to sleep during the window (0 for a pool that stays asleep).
#include <sys/resource.h>
#include <sys/time.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"

namespace {

using forage::bench::Clock;
using forage::bench::WorkerCounters;

constexpr auto kWindow = std::chrono::milliseconds(1000);
constexpr auto kQuickWindow = std::chrono::milliseconds(250);
constexpr auto kSettle = std::chrono::milliseconds(100);  // idle before the window opens
constexpr std::uint64_t kWarmTasks = 10'000;
constexpr int kDefaultRepetitions = 3;

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

template <class System>
void idle_cost(benchmark::State& state, Clock::duration window) {
  const auto workers = static_cast<std::size_t>(state.range(0));
  WorkerCounters executed(workers);  // outlives the pool
  auto pool = forage::bench::make_pool<System>(state, workers, executed);
  if (!pool) return;

  for (std::uint64_t i = 0; i < kWarmTasks; ++i) {
    pool->spawn([] { WorkerCounters::count_one(); });
  }
  pool->wait_idle();
  if (!forage::bench::check_count(state, "warm-up tasks", executed.sum(), kWarmTasks)) return;
  std::this_thread::sleep_for(kSettle);

  double cpu_seconds = 0;
  double wall_seconds = 0;
  std::uint64_t parks = 0;
  for (auto _ : state) {
    const std::uint64_t parks_before = pool->stats().parks();
    const double cpu_before = process_cpu_seconds();
    const Clock::time_point wall_before = Clock::now();
    std::this_thread::sleep_for(window);
    cpu_seconds += process_cpu_seconds() - cpu_before;
    wall_seconds += std::chrono::duration<double>(Clock::now() - wall_before).count();
    parks += pool->stats().parks() - parks_before;
  }

  state.counters["cpu_percent_of_core"] = cpu_seconds / wall_seconds * 100;
  state.counters["cpu_ms"] = cpu_seconds * 1e3;
  state.counters["parks_in_window"] = static_cast<double>(parks);
}

}  // namespace

int main(int argc, char** argv) {
  const bool repetitions_given = forage::bench::repetitions_on_command_line(argc, argv);
  benchmark::Initialize(&argc, argv);
  const Clock::duration window =
      forage::bench::quick_mode() ? Clock::duration(kQuickWindow) : Clock::duration(kWindow);
  forage::bench::for_each_system([&](auto system) {
    using System = typename decltype(system)::type;
    auto* b = benchmark::RegisterBenchmark(
        forage::bench::benchmark_name<System>("idle_cost").c_str(),
        [window](benchmark::State& state) { idle_cost<System>(state, window); });
    b->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
    // A per-benchmark Repetitions() would override --benchmark_repetitions; set it only when
    // the command line does not choose.
    if (!repetitions_given) b->Repetitions(kDefaultRepetitions);
    forage::bench::sweep_workers(b);
  });
  return forage::bench::run_registered(argc, argv);
}
