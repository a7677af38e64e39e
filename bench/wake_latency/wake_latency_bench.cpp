// wake_latency: how long a task spawned into an idle, parked pool waits before it starts.
//
// Each round: make sure every worker is parked, take a steady_clock timestamp, spawn one task
// that takes its own timestamp as it starts, wait_idle(). Latency = start - submit, so it
// includes the spawn itself (allocation, enqueue, the futex or condition-variable wake) and
// the woken thread being scheduled. Both timestamps come from CLOCK_MONOTONIC, which Linux
// keeps consistent across cores.
//
// "Parked" is read from PoolStats::parks(): before the round every worker was parked, so the
// worker that ran the task has parked again once parks() exceeds its value from before the
// spawn; we then wait one more poll with no change (a worker counts its park just before it
// sleeps). If that takes over kSettleCap (a noisy machine), the round still counts and
// "unsettled_rounds" says how many did. Sleeping here is fine: this is a benchmark.
//
// "same_cpu_pct" is the share of rounds in which the task ran on the CPU the spawn was made
// from: waking a thread on another, idle CPU costs an inter-processor interrupt (and, in a
// virtual machine, the host scheduling that vCPU), which is often most of the latency.
//
// Manual timing: each iteration reports its latency, so Google Benchmark's time column is the
// mean; the counters p50_us and p99_us are the figures (lower is better).
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"

namespace {

using forage::bench::Clock;
using forage::bench::WorkerCounters;

constexpr std::int64_t kRounds = 10'000;
constexpr std::int64_t kQuickRounds = 2'000;
constexpr int kWarmRounds = 200;
constexpr auto kSettlePoll = std::chrono::microseconds(20);
constexpr auto kSettleCap = std::chrono::milliseconds(2);

// Waits until parks() reaches `target` and then stays unchanged for one poll. Returns false
// if kSettleCap passed first.
template <class PoolType>
bool wait_until_parked(const PoolType& pool, std::uint64_t target) {
  const Clock::time_point deadline = Clock::now() + kSettleCap;
  std::uint64_t last = pool.stats().parks();
  for (;;) {
    std::this_thread::sleep_for(kSettlePoll);
    const std::uint64_t now = pool.stats().parks();
    if (last >= target && now == last) return true;
    if (Clock::now() > deadline) return false;
    last = now;
  }
}

struct Round {
  double latency_ns = 0;  // negative if the clock went backwards
  bool same_cpu = false;  // the task ran on the CPU the spawn was made from
  bool settled = false;   // the pool parked again within kSettleCap
};

template <class PoolType>
Round one_round(PoolType& pool) {
  std::atomic<Clock::rep> started{0};
  std::atomic<int> task_cpu{-1};
  const std::uint64_t parks_before = pool.stats().parks();
  const int submit_cpu = sched_getcpu();
  const Clock::time_point submit = Clock::now();
  pool.spawn([&started, &task_cpu] {
    // relaxed: read after wait_idle(), which happens-after this task.
    started.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    task_cpu.store(sched_getcpu(), std::memory_order_relaxed);
    WorkerCounters::count_one();
  });
  pool.wait_idle();
  const Clock::time_point start{Clock::duration{started.load(std::memory_order_relaxed)}};
  Round round;
  round.latency_ns = forage::bench::to_ns(start - submit);
  round.same_cpu = task_cpu.load(std::memory_order_relaxed) == submit_cpu;
  round.settled = wait_until_parked(pool, parks_before + 1);
  return round;
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

template <class System>
void wake_latency(benchmark::State& state) {
  const auto workers = static_cast<std::size_t>(state.range(0));
  WorkerCounters executed(workers);  // outlives the pool
  auto pool = forage::bench::make_pool<System>(state, workers, executed);
  if (!pool) return;

  for (int i = 0; i < kWarmRounds; ++i) one_round(*pool);
  if (!forage::bench::check_count(state, "warm-up tasks", executed.sum(), kWarmRounds)) return;
  executed.reset();
  wait_until_parked(*pool, 0);

  std::vector<double> latencies_ns;
  latencies_ns.reserve(static_cast<std::size_t>(state.max_iterations));
  std::int64_t unsettled = 0;
  std::int64_t same_cpu = 0;
  for (auto _ : state) {
    const Round round = one_round(*pool);
    if (round.latency_ns < 0) {
      state.SkipWithError("steady_clock went backwards between submit and start");
      break;
    }
    state.SetIterationTime(round.latency_ns * 1e-9);
    latencies_ns.push_back(round.latency_ns);
    if (!round.settled) ++unsettled;
    if (round.same_cpu) ++same_cpu;
  }
  if (state.error_occurred()) return;
  if (latencies_ns.empty()) {
    state.SkipWithError("no rounds ran");
    return;
  }
  if (!forage::bench::check_count(state, "tasks", executed.sum(), latencies_ns.size())) return;

  std::sort(latencies_ns.begin(), latencies_ns.end());
  state.counters["p50_us"] = percentile(latencies_ns, 0.50) / 1e3;
  state.counters["p90_us"] = percentile(latencies_ns, 0.90) / 1e3;
  state.counters["p99_us"] = percentile(latencies_ns, 0.99) / 1e3;
  state.counters["p999_us"] = percentile(latencies_ns, 0.999) / 1e3;
  state.counters["max_us"] = latencies_ns.back() / 1e3;
  state.counters["unsettled_rounds"] = static_cast<double>(unsettled);
  state.counters["same_cpu_pct"] =
      100.0 * static_cast<double>(same_cpu) / static_cast<double>(latencies_ns.size());
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const std::int64_t rounds = forage::bench::quick_mode() ? kQuickRounds : kRounds;
  forage::bench::for_each_system([&](auto system) {
    using System = typename decltype(system)::type;
    auto* b = benchmark::RegisterBenchmark(
        forage::bench::benchmark_name<System>("wake_latency").c_str(), wake_latency<System>);
    b->UseManualTime()->Iterations(rounds)->Unit(benchmark::kMicrosecond);
    forage::bench::sweep_workers(b);
  });
  return forage::bench::run_registered(argc, argv);
}
