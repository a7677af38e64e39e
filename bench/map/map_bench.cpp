// map_uniform and map_skewed: parallel_map over 10M doubles, against the same loop run
// serially. One source, two binaries: FORAGE_MAP_WORKLOAD_SKEWED (bench/CMakeLists.txt)
// picks the workload, so each suite is its own program.
//
// Every system computes out[i] = Work{}(in[i]) for the same input with the same function
// object, into a fresh vector of the results per run: forage's rows get parallel_map's
// MapResults<double>, each element built by the worker that computes it; the peers build
// std::vector<double>(n) on the calling thread, then fill it, inside the timed region. A run's
// result is freed outside it. After the warm-up run the result is compared
// with the serial one, element by element.
//
// Figures, higher is better:
//   speedup_vs_serial      serial time / system time. The serial time is std::transform into
//       a preallocated, already touched vector, timed once per benchmark run right before its
//       timed iterations, in the same process. It allocates nothing, so the parallel systems
//       are charged for building their result vector.
//   speedup_vs_serial_map  (serial time + result_alloc) / system time: against a serial map
//       that returns a fresh vector too. result_alloc is the time to build std::vector<double>
//       (n) on the calling thread, timed right after the serial run. The peers pay it
//       serially, before the parallel part; parallel_map does not (bench/map/map_cheap_bench.cpp
//       measures that with glibc's default malloc).
//
// Memory. glibc serves an 80 MB block with a fresh mmap and unmaps it on free, so every run's
// result vector would page-fault all its 20,000 pages, which on the VM forage is measured on
// cost 30 ms per run (15% of the serial time) at best and 10 times that when the host was
// short of memory: noise larger than the differences measured. main() therefore tells malloc
// to keep freed memory (no mmap, no trimming): a run's result reuses the previous run's pages,
// as with allocators that cache large blocks, and result_alloc is the zeroing alone.
//
// Work{}(x) (bench/common/map_work.hpp, shared with the scaling suite): the integer part of x
// is the iteration count, the fraction the seed; each iteration is v = v / 2 + sqrt(v), a
// dependent chain within an item (the core overlaps the chains of neighbouring items) that the
// compiler cannot vectorize across items because the trip count varies per item. v converges
// to 4 from any seed in [1, 2): no overflow, no denormals.
//   uniform: every item kMapIterations iterations (about 20 ns on the 2-core Xeon VM forage is
//            measured on: 10M items take about 0.2 s serially).
//   skewed:  item i gets 1 + (2 kMapIterations - 2) i / (n - 1) iterations, rounded: the
//            same mean, the last items 2 kMapIterations - 1 times as costly as the first. (Long
//            chains overlap less, so the skewed serial time is about 15% higher than the uniform.)
//
// Benchmarks "map_<workload>/<system>/workers:<n>/<chunking>":
//   forage, single_queue_locked, single_queue_lock_free: forage::parallel_map(pool, in,
//       Work{}, {chunking}) from the benchmark thread, with chunking
//         adaptive  Chunking::adaptive() (on a SingleQueuePool the same as python)
//         fixed     Chunking::fixed(1024): at ~20 ns per item a chunk is ~20 µs, so a chunk's
//                   scheduling (a queue push and pop, a join) stays around 1% of it, while
//                   10M items still make ~9,800 chunks, enough to even out skew on worker
//                   counts up to the hundreds
//         python    Chunking::python(): ceil(n / (4 workers)) items per chunk
//   onetbb/auto     tbb::parallel_for(blocked_range<size_t>(0, n), body, auto_partitioner())
//       inside a tbb::task_arena of `workers` slots (the calling thread takes one), under a
//       tbb::global_control capping the process at `workers` threads.
//   openmp/guided   `#pragma omp parallel for schedule(guided) num_threads(workers)`; the
//       compiler's runtime (g++: libgomp, clang++: libomp).
// Peers are compiled in where found (FORAGE_HAVE_ONETBB, FORAGE_HAVE_OPENMP); their threads
// are not pinned, forage's are (one per core, the default). With forage the benchmark thread
// builds the result vector and waits while `workers` workers compute; with oneTBB and OpenMP
// it builds the vector and is one of the `workers` threads.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"
#include "common/map_work.hpp"
#include "common/peers.hpp"
#include "forage/algorithm.hpp"
#include "forage/map_options.hpp"

#ifdef FORAGE_HAVE_ONETBB
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#endif

namespace {

using forage::bench::Clock;

constexpr std::size_t kItems = 10'000'000;
constexpr std::size_t kQuickItems = 1'000'000;
constexpr std::size_t kFixedChunk = 1024;
constexpr std::int64_t kRuns = 3;  // timed runs per benchmark run (after one warm-up run)

using Work = forage::bench::MapWork;
using Workload = forage::bench::MapWorkload;
using forage::bench::workload_name;

#if !defined(FORAGE_MAP_WORKLOAD_SKEWED)
#error "define FORAGE_MAP_WORKLOAD_SKEWED to 0 (map_uniform) or 1 (map_skewed)"
#endif
constexpr Workload kWorkload = FORAGE_MAP_WORKLOAD_SKEWED ? Workload::skewed : Workload::uniform;

// The input of one workload and its serial result. Built at the first use and kept while the
// benchmarks of that workload run (they are registered together): building it takes longer
// than a run. The serial runs write into `expected` again (the same values), so the serial
// baseline writes to memory that is already mapped and touched.
struct Dataset {
  Workload workload = Workload::uniform;
  std::vector<double> input;
  std::vector<double> expected;
};

double serial_ns(const std::vector<double>& input, std::vector<double>& out) {
  const Clock::time_point start = Clock::now();
  std::transform(input.begin(), input.end(), out.begin(), Work{});
  const Clock::duration elapsed = Clock::now() - start;
  benchmark::DoNotOptimize(out.data());
  benchmark::ClobberMemory();
  return forage::bench::to_ns(elapsed);
}

Dataset& dataset_for(Workload workload, std::size_t n) {
  static Dataset dataset;
  if (dataset.workload != workload || dataset.input.size() != n) {
    dataset.workload = workload;
    dataset.expected.clear();
    dataset.expected.shrink_to_fit();
    dataset.input = forage::bench::make_map_input(workload, n);
    dataset.expected.resize(n);
    serial_ns(dataset.input, dataset.expected);
  }
  return dataset;
}

// --- The systems ------------------------------------------------------------------------------
//
// A Runner owns what one system needs for one benchmark: start() builds it (false, with the
// benchmark skipped, on failure), map(input) returns the vector of work(item).

template <class System>
class ForageRunner : public forage::bench::ForagePoolRunner<System> {
 public:
  static constexpr const char* kSystem = System::kName;

  ForageRunner(std::size_t workers, forage::Chunking chunking)
      : forage::bench::ForagePoolRunner<System>(workers) {
    options_.chunking = chunking;
  }

  forage::MapResults<double> map(const std::vector<double>& input) {
    return forage::parallel_map(*this->pool_, input, Work{}, options_);
  }

 private:
  forage::MapOptions options_;
};

#ifdef FORAGE_HAVE_ONETBB
class OneTbbRunner : public forage::bench::TbbArenaRunner {
 public:
  static constexpr const char* kSystem = "onetbb";

  using TbbArenaRunner::TbbArenaRunner;

  std::vector<double> map(const std::vector<double>& input) {
    std::vector<double> out(input.size());
    arena().execute([&input, &out] {
      tbb::parallel_for(
          tbb::blocked_range<std::size_t>(0, input.size()),
          [&input, &out](const tbb::blocked_range<std::size_t>& range) {
            for (std::size_t i = range.begin(); i != range.end(); ++i) out[i] = Work{}(input[i]);
          },
          tbb::auto_partitioner());
    });
    return out;
  }
};
#endif

#ifdef FORAGE_HAVE_OPENMP
class OpenMpRunner : public forage::bench::OpenMpTeamRunner {
 public:
  static constexpr const char* kSystem = "openmp";

  using OpenMpTeamRunner::OpenMpTeamRunner;

  std::vector<double> map(const std::vector<double>& input) const {
    std::vector<double> out(input.size());
    const auto count = static_cast<std::ptrdiff_t>(input.size());
    const double* in = input.data();
    double* result = out.data();
#pragma omp parallel for schedule(guided) num_threads(workers_)
    for (std::ptrdiff_t i = 0; i < count; ++i) result[i] = Work{}(in[i]);
    return out;
  }
};
#endif

// --- The benchmark ----------------------------------------------------------------------------

// What every system here pays to return its result: std::vector<double>(n) built on the
// calling thread (see speedup_vs_serial_map above).
double result_allocation_ns(std::size_t n) {
  const Clock::time_point start = Clock::now();
  std::vector<double> out(n);
  const Clock::duration elapsed = Clock::now() - start;
  benchmark::DoNotOptimize(out.data());
  return forage::bench::to_ns(elapsed);
}

// Builds the runner with make(), warms it up and checks its result against the serial one,
// times the serial map, then times state's iterations of the runner's map.
template <class Make>
void map_benchmark(benchmark::State& state, Workload workload, std::size_t n, Make make) {
  Dataset& dataset = dataset_for(workload, n);
  const std::vector<double>& input = dataset.input;

  auto runner = make();
  if (!runner.start(state)) return;
  {
    // Warm-up: threads running, the allocator's and the kernel's caches as a run leaves them.
    const auto out = runner.map(input);
    if (out != dataset.expected) {
      state.SkipWithError("the results differ from the serial map's");
      return;
    }
  }
  const forage::PoolStats before = runner.stats();
  const double serial = serial_ns(input, dataset.expected);
  const double result_alloc = result_allocation_ns(n);

  Clock::duration elapsed{};
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    const auto out = runner.map(input);
    const Clock::duration run = Clock::now() - start;
    elapsed += run;
    state.SetIterationTime(std::chrono::duration<double>(run).count());
    benchmark::DoNotOptimize(out.data());
    if (out.size() != n) {
      state.SkipWithError("wrong result size");
      return;
    }
    // `out` is freed here, outside the timed region.
  }

  const auto iterations = static_cast<std::uint64_t>(state.iterations());
  const double per_run_ns = forage::bench::to_ns(elapsed) / static_cast<double>(iterations);
  state.SetItemsProcessed(static_cast<std::int64_t>(n * iterations));
  state.counters["speedup_vs_serial"] = serial / per_run_ns;
  state.counters["serial_ms"] = serial * 1e-6;
  state.counters["ms_per_run"] = per_run_ns * 1e-6;
  state.counters["ns_per_item"] = per_run_ns / static_cast<double>(n);
  state.counters["items"] = static_cast<double>(n);
  state.counters["speedup_vs_serial_map"] = (serial + result_alloc) / per_run_ns;
  state.counters["result_alloc_ms"] = result_alloc * 1e-6;
  if (runner.has_stats()) {
    const forage::PoolStats after = runner.stats();
    state.counters["stolen_per_run"] =
        static_cast<double>(after.stolen() - before.stolen()) / static_cast<double>(iterations);
    state.counters["executed_per_run"] =
        static_cast<double>(after.executed() - before.executed()) / static_cast<double>(iterations);
  }
}

void register_one(std::string_view system, std::size_t workers, Workload workload,
                  std::string_view variant, std::size_t n,
                  std::function<void(benchmark::State&, Workload, std::size_t)> run) {
  const std::string name = "map_" + std::string(workload_name(workload)) + "/" +
                           std::string(system) + "/workers:" + std::to_string(workers) + "/" +
                           std::string(variant);
  auto* b = benchmark::RegisterBenchmark(
      name.c_str(),
      [run = std::move(run), workload, n](benchmark::State& state) { run(state, workload, n); });
  b->UseManualTime()->Iterations(kRuns)->Unit(benchmark::kMillisecond);
}

template <class System>
void register_forage(std::size_t workers, Workload workload, std::size_t n) {
  const std::pair<const char*, forage::Chunking> chunkings[] = {
      {"adaptive", forage::Chunking::adaptive()},
      {"fixed", forage::Chunking::fixed(kFixedChunk)},
      {"python", forage::Chunking::python()},
  };
  for (const auto& [variant, chunking] : chunkings) {
    register_one(
        System::kName, workers, workload, variant, n,
        [workers, chunking = chunking](benchmark::State& state, Workload w, std::size_t items) {
          map_benchmark(state, w, items,
                        [workers, chunking] { return ForageRunner<System>(workers, chunking); });
        });
  }
}

}  // namespace

int main(int argc, char** argv) {
  // See "Memory" at the top. Both calls return 0 under ASan, whose allocator ignores them.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  benchmark::Initialize(&argc, argv);
  const std::size_t n = forage::bench::quick_mode() ? kQuickItems : kItems;
  const Workload workload = kWorkload;
  for (const std::size_t workers : forage::bench::worker_counts()) {
    register_forage<forage::bench::ForageSystem>(workers, workload, n);
    register_forage<forage::bench::SingleQueueLockedSystem>(workers, workload, n);
    register_forage<forage::bench::SingleQueueLockFreeSystem>(workers, workload, n);
#ifdef FORAGE_HAVE_ONETBB
    register_one(OneTbbRunner::kSystem, workers, workload, "auto", n,
                 [workers](benchmark::State& state, Workload w, std::size_t items) {
                   map_benchmark(state, w, items, [workers] { return OneTbbRunner(workers); });
                 });
#endif
#ifdef FORAGE_HAVE_OPENMP
    register_one(OpenMpRunner::kSystem, workers, workload, "guided", n,
                 [workers](benchmark::State& state, Workload w, std::size_t items) {
                   map_benchmark(state, w, items, [workers] { return OpenMpRunner(workers); });
                 });
#endif
  }
  return forage::bench::run_registered(argc, argv);
}
