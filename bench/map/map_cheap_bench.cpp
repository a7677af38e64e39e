// map_cheap: a map whose items are too cheap to hide anything around them. 10M ints, each
// mapped to a double by 4 square roots (~6 ns per item): building and first-touching the
// 80 MB of results costs as much as computing them serially, so where and when the result
// storage is made decides the speedup.
//
// Memory is what a new user gets: glibc's default malloc (unlike map_uniform, no mallopt).
// A block of 80 MB is then a fresh mmap on every allocation and is unmapped on free, so every
// fresh result page-faults all of its pages. Results are freed outside the timed region.
//
// Benchmarks "map_cheap/<system>/workers:<n>/<variant>":
//   forage, single_queue_locked, single_queue_lock_free:
//     parallel_map       forage::parallel_map(pool, in, Work{}): a fresh result per call
//                        (MapResults<double>, each element built by the worker computing it)
//     parallel_map_into  forage::parallel_map_into(pool, in, out, Work{}) into a
//                        preallocated vector, already touched, the same one every run
//   onetbb/parallel_for_into  tbb::parallel_for(blocked_range(0, n), body, auto_partitioner())
//       into the same preallocated vector, inside a tbb::task_arena of `workers` slots (the
//       calling thread takes one) under a tbb::global_control capping the process at `workers`
//       threads (bench/common/peers.hpp). Compiled in where found (FORAGE_HAVE_ONETBB).
// With forage the benchmark thread waits while `workers` workers compute; with oneTBB it is
// one of the `workers` threads. The serial loops and every system use the same Work, inlined.
//
// Figures, higher is better, each against serial loops timed in the same benchmark run, right
// before its timed runs (the median of kSerialRuns each):
//   speedup_vs_serial_own_vector  (parallel_map rows) serial time of
//       `std::vector<double> out(n); for (i) out[i] = Work{}(in[i]);` / time per run: both
//       build a fresh result, the serial loop zeroing and faulting it on one thread.
//   speedup_vs_serial_into  (into rows) serial time of the same loop into the preallocated,
//       touched vector / time per run: nothing but the work itself.
// tools/forage-bench shows oneTBB's ratio to forage's parallel_map_into in the same table.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"
#include "common/peers.hpp"
#include "forage/algorithm.hpp"

#ifdef FORAGE_HAVE_ONETBB
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#endif

namespace {

using forage::bench::Clock;

constexpr std::size_t kItems = 10'000'000;
constexpr std::size_t kQuickItems = 1'000'000;
constexpr std::int64_t kRuns = 5;       // timed runs per benchmark run (after one warm-up)
constexpr std::size_t kSerialRuns = 3;  // each serial baseline: the median of this many

// 4 independent square roots: ~6 ns per item, as a function object so that every system
// gets it inlined.
struct Work {
  double operator()(int x) const noexcept {
    const auto v = static_cast<double>(x);
    return std::sqrt(v) + std::sqrt(v + 1.0) + std::sqrt(v + 2.0) + std::sqrt(v + 3.0);
  }
};

enum class Variant { parallel_map, parallel_map_into };

const char* variant_name(Variant variant) {
  return variant == Variant::parallel_map ? "parallel_map" : "parallel_map_into";
}

// The input, its serial result, and the preallocated vector the into rows write (touched when
// built). Kept across the benchmarks: building them takes longer than a run.
struct Dataset {
  std::vector<int> input;
  std::vector<double> expected;
  std::vector<double> preallocated;
};

Dataset& dataset_for(std::size_t n) {
  static Dataset dataset;
  if (dataset.input.size() != n) {
    dataset.input.resize(n);
    for (std::size_t i = 0; i < n; ++i) dataset.input[i] = static_cast<int>(i);
    dataset.expected.resize(n);
    std::transform(dataset.input.begin(), dataset.input.end(), dataset.expected.begin(), Work{});
    dataset.preallocated.assign(n, 0.0);
  }
  return dataset;
}

template <class Run>
double median_ns(Run run) {
  std::vector<double> times;
  for (std::size_t k = 0; k < kSerialRuns; ++k) times.push_back(run());
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// The serial loop that builds its own result, as a new user writes it.
double serial_own_vector_ns(const std::vector<int>& input) {
  const Clock::time_point start = Clock::now();
  std::vector<double> out(input.size());
  for (std::size_t i = 0; i < input.size(); ++i) out[i] = Work{}(input[i]);
  const Clock::duration elapsed = Clock::now() - start;
  benchmark::DoNotOptimize(out.data());
  benchmark::ClobberMemory();
  return forage::bench::to_ns(elapsed);  // `out` is freed after the clock stopped
}

// The serial loop into the preallocated, touched vector.
double serial_into_ns(const std::vector<int>& input, std::vector<double>& out) {
  const Clock::time_point start = Clock::now();
  for (std::size_t i = 0; i < input.size(); ++i) out[i] = Work{}(input[i]);
  const Clock::duration elapsed = Clock::now() - start;
  benchmark::DoNotOptimize(out.data());
  benchmark::ClobberMemory();
  return forage::bench::to_ns(elapsed);
}

// --- The systems ------------------------------------------------------------------------------

template <class System>
class ForageRunner : public forage::bench::ForagePoolRunner<System> {
 public:
  static constexpr const char* kSystem = System::kName;

  using forage::bench::ForagePoolRunner<System>::ForagePoolRunner;

  forage::MapResults<double> map(const std::vector<int>& input) {
    return forage::parallel_map(*this->pool_, input, Work{});
  }

  void map_into(const std::vector<int>& input, std::vector<double>& out) {
    forage::parallel_map_into(*this->pool_, input, out, Work{});
  }
};

#ifdef FORAGE_HAVE_ONETBB
class OneTbbRunner : public forage::bench::TbbArenaRunner {
 public:
  static constexpr const char* kSystem = "onetbb";

  using TbbArenaRunner::TbbArenaRunner;

  void map_into(const std::vector<int>& input, std::vector<double>& out) {
    arena().execute([&input, &out] {
      tbb::parallel_for(
          tbb::blocked_range<std::size_t>(0, input.size()),
          [&input, &out](const tbb::blocked_range<std::size_t>& range) {
            for (std::size_t i = range.begin(); i != range.end(); ++i) out[i] = Work{}(input[i]);
          },
          tbb::auto_partitioner());
    });
  }
};
#endif

// --- The benchmark ----------------------------------------------------------------------------

// One run of the runner's variant, timed; false (with the benchmark skipped) on a wrong result
// when `check` is set.
template <class Runner>
bool timed_run(benchmark::State& state, Runner& runner, Variant variant, Dataset& dataset,
               bool check, Clock::duration& elapsed) {
  if (variant == Variant::parallel_map) {
    if constexpr (requires { runner.map(dataset.input); }) {
      const Clock::time_point start = Clock::now();
      const forage::MapResults<double> out = runner.map(dataset.input);
      elapsed = Clock::now() - start;
      benchmark::DoNotOptimize(out.data());
      if (check && !(out == dataset.expected)) {
        state.SkipWithError("the results differ from the serial loop's");
        return false;
      }
      return true;  // `out` is freed here, outside the timed region
    }
  }
  if (check) std::fill(dataset.preallocated.begin(), dataset.preallocated.end(), -1.0);
  const Clock::time_point start = Clock::now();
  runner.map_into(dataset.input, dataset.preallocated);
  elapsed = Clock::now() - start;
  benchmark::ClobberMemory();
  if (check && dataset.preallocated != dataset.expected) {
    state.SkipWithError("the results differ from the serial loop's");
    return false;
  }
  return true;
}

template <class Make>
void map_benchmark(benchmark::State& state, std::size_t n, Variant variant, Make make) {
  Dataset& dataset = dataset_for(n);
  auto runner = make();
  if (!runner.start(state)) return;
  Clock::duration ignored{};
  // Warm-up: threads running, the allocator and the kernel as a run leaves them; checked.
  if (!timed_run(state, runner, variant, dataset, true, ignored)) return;

  const forage::PoolStats before = runner.stats();
  const double serial_own = median_ns([&] { return serial_own_vector_ns(dataset.input); });
  const double serial_into =
      median_ns([&] { return serial_into_ns(dataset.input, dataset.preallocated); });

  Clock::duration elapsed{};
  for (auto _ : state) {
    Clock::duration run{};
    if (!timed_run(state, runner, variant, dataset, false, run)) return;
    elapsed += run;
    state.SetIterationTime(std::chrono::duration<double>(run).count());
  }

  const auto iterations = static_cast<std::uint64_t>(state.iterations());
  const double per_run_ns = forage::bench::to_ns(elapsed) / static_cast<double>(iterations);
  state.SetItemsProcessed(static_cast<std::int64_t>(n * iterations));
  if (variant == Variant::parallel_map) {
    state.counters["speedup_vs_serial_own_vector"] = serial_own / per_run_ns;
  } else {
    state.counters["speedup_vs_serial_into"] = serial_into / per_run_ns;
  }
  state.counters["ms_per_run"] = per_run_ns * 1e-6;
  state.counters["serial_own_ms"] = serial_own * 1e-6;
  state.counters["serial_into_ms"] = serial_into * 1e-6;
  state.counters["ns_per_item"] = per_run_ns / static_cast<double>(n);
  state.counters["items"] = static_cast<double>(n);
  if (runner.has_stats()) {
    const forage::PoolStats after = runner.stats();
    state.counters["stolen_per_run"] =
        static_cast<double>(after.stolen() - before.stolen()) / static_cast<double>(iterations);
  }
}

template <class Make>
void register_one(std::string_view system, std::size_t workers, Variant variant,
                  std::string_view variant_label, std::size_t n, Make make) {
  const std::string name = forage::bench::run_name("map_cheap", system, workers, variant_label);
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [n, variant, make](benchmark::State& state) {
    map_benchmark(state, n, variant, make);
  });
  b->UseManualTime()->Iterations(kRuns)->Unit(benchmark::kMillisecond);
}

template <class System>
void register_forage(std::size_t workers, std::size_t n) {
  for (Variant variant : {Variant::parallel_map, Variant::parallel_map_into}) {
    register_one(System::kName, workers, variant, variant_name(variant), n,
                 [workers] { return ForageRunner<System>(workers); });
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const std::size_t n = forage::bench::quick_mode() ? kQuickItems : kItems;
  for (const std::size_t workers : forage::bench::worker_counts()) {
    register_forage<forage::bench::ForageSystem>(workers, n);
    register_forage<forage::bench::SingleQueueLockedSystem>(workers, n);
    register_forage<forage::bench::SingleQueueLockFreeSystem>(workers, n);
#ifdef FORAGE_HAVE_ONETBB
    register_one(OneTbbRunner::kSystem, workers, Variant::parallel_map_into, "parallel_for_into", n,
                 [workers] { return OneTbbRunner(workers); });
#endif
  }
  return forage::bench::run_registered(argc, argv);
}
