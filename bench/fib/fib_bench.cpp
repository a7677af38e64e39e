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
// the `workers` threads.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"
#include "common/peers.hpp"
#include "forage/join.hpp"

#ifdef FORAGE_HAVE_ONETBB
#include <tbb/parallel_invoke.h>
#include <tbb/task_group.h>
#endif

#ifdef FORAGE_HAVE_OPENMP
#include <omp.h>
#endif

namespace {

using forage::bench::Clock;
using forage::bench::WorkerCounters;

constexpr int kN = 30;           // 1,346,268 joins
constexpr int kQuickN = 25;      // 121,392 joins
constexpr int kSerialFibN = 93;  // the largest n whose F(n) fits in 64 bits

// F(n): F(0) = 0, F(1) = 1.
std::uint64_t fibonacci(int n) {
  std::uint64_t a = 0;
  std::uint64_t b = 1;
  for (int i = 0; i < n && i < kSerialFibN; ++i) {
    const std::uint64_t next = a + b;
    a = b;
    b = next;
  }
  return a;
}

// The non-leaf calls of fib(n): calls in all are 2 F(n + 1) - 1, leaves F(n + 1).
std::uint64_t joins_of(int n) { return n < 2 ? 0 : fibonacci(n + 1) - 1; }

// --- The recursions ---------------------------------------------------------------------------

std::uint64_t fib_join(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  const auto [a, b] =
      forage::join([n] { return fib_join(n - 1); }, [n] { return fib_join(n - 2); });
  return a + b;
}

#ifdef FORAGE_HAVE_ONETBB
std::uint64_t fib_task_group(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  std::uint64_t x = 0;
  std::uint64_t y = 0;
  tbb::task_group group;
  group.run([&x, n] { x = fib_task_group(n - 1); });
  group.run([&y, n] { y = fib_task_group(n - 2); });
  group.wait();
  return x + y;
}

std::uint64_t fib_parallel_invoke(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  std::uint64_t x = 0;
  std::uint64_t y = 0;
  tbb::parallel_invoke([&x, n] { x = fib_parallel_invoke(n - 1); },
                       [&y, n] { y = fib_parallel_invoke(n - 2); });
  return x + y;
}
#endif

#ifdef FORAGE_HAVE_OPENMP
std::uint64_t fib_omp_task(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  std::uint64_t x = 0;
  std::uint64_t y = 0;
#pragma omp task shared(x) firstprivate(n)
  x = fib_omp_task(n - 1);
#pragma omp task shared(y) firstprivate(n)
  y = fib_omp_task(n - 2);
#pragma omp taskwait
  return x + y;
}
#endif

// --- The systems ------------------------------------------------------------------------------
//
// A Runner owns what one system needs for one benchmark: start() builds it (false, with the
// benchmark skipped, on failure), fib(n) computes fib(n) from the benchmark thread.

template <class System>
class ForageRunner {
 public:
  static constexpr const char* kSystem = System::kName;
  static constexpr const char* kVariant = "join";

  explicit ForageRunner(std::size_t workers) : workers_(workers), counters_(workers) {}

  bool start(benchmark::State& state) {
    pool_ = forage::bench::make_pool<System>(state, workers_, counters_);
    return pool_ != nullptr;
  }

  std::uint64_t fib(int n) {
    if (n < 2) return static_cast<std::uint64_t>(n);
    const auto [a, b] = forage::join(
        *pool_, [n] { return fib_join(n - 1); }, [n] { return fib_join(n - 2); });
    return a + b;
  }

  // Pool counters, for the diagnostics: tasks other workers stole (Pool) or ran from the
  // queue (SingleQueuePool), and how often workers slept.
  bool has_stats() const { return true; }
  forage::PoolStats stats() const { return pool_->stats(); }

 private:
  std::size_t workers_;
  WorkerCounters counters_;  // the pool's options hook it; declared before the pool: outlives it
  std::unique_ptr<typename System::PoolType> pool_;
};

#ifdef FORAGE_HAVE_ONETBB
template <bool kInvoke>
class OneTbbRunner {
 public:
  static constexpr const char* kSystem = "onetbb";
  static constexpr const char* kVariant = kInvoke ? "parallel_invoke" : "task_group";

  explicit OneTbbRunner(std::size_t workers) : workers_(workers) {}

  bool start(benchmark::State& state) { return tbb_.start(state, workers_); }

  std::uint64_t fib(int n) {
    return tbb_.arena().execute(
        [n] { return kInvoke ? fib_parallel_invoke(n) : fib_task_group(n); });
  }

  bool has_stats() const { return false; }
  forage::PoolStats stats() const { return {}; }

 private:
  std::size_t workers_;
  forage::bench::TbbArena tbb_;
};
#endif

#ifdef FORAGE_HAVE_OPENMP
class OpenMpRunner {
 public:
  static constexpr const char* kSystem = "openmp";
  static constexpr const char* kVariant = "task";

  explicit OpenMpRunner(std::size_t workers) : workers_(static_cast<int>(workers)) {}

  bool start(benchmark::State& state) {
    return forage::bench::openmp_team_matches(state, workers_);
  }

  std::uint64_t fib(int n) const {
    std::uint64_t result = 0;
#pragma omp parallel num_threads(workers_)
    {
#pragma omp single
      result = fib_omp_task(n);
    }
    return result;
  }

  bool has_stats() const { return false; }
  forage::PoolStats stats() const { return {}; }

 private:
  int workers_;
};
#endif

// Calls fn(std::type_identity<Runner>{}) for each system, in table order.
template <class Fn>
void for_each_runner(Fn&& fn) {
  fn(std::type_identity<ForageRunner<forage::bench::ForageSystem>>{});
  fn(std::type_identity<ForageRunner<forage::bench::SingleQueueLockedSystem>>{});
  fn(std::type_identity<ForageRunner<forage::bench::SingleQueueLockFreeSystem>>{});
#ifdef FORAGE_HAVE_ONETBB
  fn(std::type_identity<OneTbbRunner<false>>{});
  fn(std::type_identity<OneTbbRunner<true>>{});
#endif
#ifdef FORAGE_HAVE_OPENMP
  fn(std::type_identity<OpenMpRunner>{});
#endif
}

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

  Clock::duration elapsed{};
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    const std::uint64_t result = runner.fib(n);
    elapsed += Clock::now() - start;
    if (!forage::bench::check_count(state, "fib", result, expected)) return;
  }

  const auto iterations = static_cast<std::uint64_t>(state.iterations());
  const std::uint64_t joins = joins_of(n) * iterations;
  state.SetItemsProcessed(static_cast<std::int64_t>(joins));
  state.counters["ns_per_spawn"] = forage::bench::to_ns(elapsed) / static_cast<double>(joins);
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
  for_each_runner([n](auto runner) {
    using Runner = typename decltype(runner)::type;
    for (const std::size_t workers : forage::bench::worker_counts()) {
      const std::string name = std::string("fib/") + Runner::kSystem +
                               "/workers:" + std::to_string(workers) + "/" + Runner::kVariant;
      auto* b = benchmark::RegisterBenchmark(
          name.c_str(), [workers, n](benchmark::State& state) { fib<Runner>(state, workers, n); });
      b->UseRealTime()->Unit(benchmark::kMillisecond);
    }
  });
  return forage::bench::run_registered(argc, argv);
}
