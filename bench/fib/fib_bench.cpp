// fib: fork-join overhead. fib(30) computed by recursive fork-join with no cutoff: every call
// with n >= 2 forks fib(n - 1) and fib(n - 2) and adds them, every call with n < 2 returns n.
// The work per task is an add, so the figure is the cost of the fork-join itself.
//
// Figure: ns per spawn = wall time of one fib(30) / its non-leaf calls (F(31) - 1 = 1,346,268,
// one join each), lower is better. Every system is divided by that same count, whatever it
// spawns per call. tools/forage-bench also derives the speedup over 1 worker from the medians.
//
// Benchmarks "fib/<system>/workers:<n>/<variant>":
//   forage/join, single_queue_locked/join, single_queue_lock_free/join
//       forage::join(pool, ...) enters the pool once per run; below that, forage::join(a, b)
//       on the worker. On Pool b goes to the worker's deque (idle workers steal it) and is
//       taken back if nobody did; on a SingleQueuePool b goes through the one shared queue
//       and the joiner helps run queued tasks until b is done (the baseline: no take-back).
//   onetbb/task_group        oneTBB's own Fib example (task_group reference): two
//       task_group::run per call, then wait(). Two tasks per non-leaf call.
//   onetbb/parallel_invoke   tbb::parallel_invoke(fib(n - 1), fib(n - 2)).
//       Both inside a tbb::task_arena of `workers` slots (the calling thread takes one) under a
//       tbb::global_control capping the process at `workers` threads.
//   openmp/task              the OpenMP Examples' fib: `omp task` for each half (two tasks per
//       non-leaf call, shared results) and `omp taskwait`, under `omp parallel
//       num_threads(workers)` + `omp single`; the runtime is the compiler's (g++: libgomp,
//       clang++: libomp). libgomp runs a task inline once a team has more than 64 queued
//       tasks per thread: its own throttle, not a cutoff in this code.
// Peers are compiled in where found (FORAGE_HAVE_ONETBB, FORAGE_HAVE_OPENMP). Their threads
// are not pinned; forage's are (one per core, the default). With forage the benchmark thread
// waits while `workers` workers compute; with oneTBB and OpenMP the calling thread is one of
// the `workers` threads. The recursions and the runners are bench/common/fib.hpp's (the alloc
// suite counts the same recursions' allocations).
#include <cstddef>
#include <cstdint>
#include <optional>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"
#include "common/fib.hpp"

namespace {

using forage::bench::Clock;
using forage::bench::fibonacci;
using forage::bench::joins_of;

constexpr int kN = 30;       // 1,346,268 joins
constexpr int kQuickN = 25;  // 121,392 joins

// --- The benchmark ----------------------------------------------------------------------------

template <class Runner>
void fib(benchmark::State& state, std::size_t workers, int n) {
  Runner runner(workers);
  if (!runner.start(state)) return;
  // Warm-up of the measured size: threads running, deques, task pools and allocator caches
  // grown, and the worker stacks touched as deep as a run goes.
  const std::uint64_t expected = fibonacci(n);
  if (!forage::bench::check_count(state, "warm-up fib", runner.fib(n), expected)) return;
  const forage::PoolStats before = runner.stats();

  const std::optional<Clock::duration> elapsed = forage::bench::time_checked_runs(
      state, "fib", expected, [&runner, n] { return runner.fib(n); });
  if (!elapsed) return;

  const auto iterations = static_cast<std::uint64_t>(state.iterations());
  const std::uint64_t joins = joins_of(n) * iterations;
  state.SetItemsProcessed(static_cast<std::int64_t>(joins));
  state.counters["ns_per_spawn"] = forage::bench::to_ns(*elapsed) / static_cast<double>(joins);
  state.counters["joins_per_run"] = static_cast<double>(joins_of(n));
  if (runner.has_stats()) {
    const forage::PoolStats after = runner.stats();
    const auto per_run = [iterations](std::uint64_t count) {
      return static_cast<double>(count) / static_cast<double>(iterations);
    };
    state.counters["stolen_per_run"] = per_run(after.stolen() - before.stolen());
    state.counters["executed_per_run"] = per_run(after.executed() - before.executed());
    state.counters["parks_per_run"] = per_run(after.parks() - before.parks());
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const int n = forage::bench::quick_mode() ? kQuickN : kN;
  forage::bench::for_each_fib_runner([n](auto runner) {
    using Runner = typename decltype(runner)::type;
    forage::bench::register_per_worker_count(
        "fib", Runner::kSystem, Runner::kVariant,
        [n](benchmark::State& state, std::size_t workers) { fib<Runner>(state, workers, n); },
        [](benchmark::internal::Benchmark* b) { b->UseRealTime()->Unit(benchmark::kMillisecond); });
  });
  return forage::bench::run_registered(argc, argv);
}
