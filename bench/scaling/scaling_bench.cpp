// scaling: what a task costs as the pool grows, with the work held fixed. forage's users run
// it on 16 to 256 cores; this machine has 2, so the pools here are oversubscribed (unpinned:
// the OS places the threads) and the figures that carry over to a big machine are the counts
// per task, not the times (docs/scaling.md). On a machine with a core per worker,
// FORAGE_SCALING_PINNING=cores (or pus) pins the workers as Pool does by default.
//
// Pool sizes: 2, 8, 64 and 256 workers by default, this suite's own list, because the
// runner's default sweep (1,2) says nothing about growth. FORAGE_BENCH_WORKERS (the runner's
// --workers) replaces it; the smallest count given is the base of time_vs_base.
//
// Workloads, each run from the benchmark thread on a pool built per benchmark and warmed by
// one untimed run; kRuns timed runs per benchmark, each result checked outside the timing:
//   fib           fib(28) (--quick: 24) by forage::join with no cutoff (bench/common/fib.hpp):
//                 tasks spawned and stolen inside the pool.
//   spawn         500k (--quick: 100k) empty pool.spawn() from the benchmark thread, then
//                 wait_idle(): every task goes through the injection queue.
//   parallel_for  parallel_for over 2·10^7 (--quick: 2·10^6) items, each a multiply and a
//                 store into a preallocated vector: adaptive splitting, few tasks.
//   skewed_map    parallel_map of the map_skewed suite's work over 10^6 (--quick: 2·10^5)
//                 items (bench/common/map_work.hpp): item cost grows with the index. A tenth
//                 of map_skewed's 10^7, which took 2 s per run here (about 200 ns per item on
//                 the shared VM) and would make this one suite run for ten minutes.
// Systems: forage (Pool) and single_queue_lock_free (SingleQueuePool, lock-free queue) for
// contrast; both unpinned.
//
// Benchmarks "scaling/<system>/workers:<n>/<workload>", counters:
//   ms_per_run, <workload>_ms   wall time of one run (the second name gives the runner one
//                               table per workload, each with forage as its baseline)
//   time_vs_base                ms_per_run / the median ms_per_run of the same system and
//                               workload at the smallest worker count, in this process. Google
//                               Benchmark runs benchmarks in registration order and the
//                               repetitions of one benchmark back to back, so the base's runs
//                               are all done before a bigger pool starts (at the base itself
//                               the ratio is to the base runs so far: about 1). Left out when
//                               the base did not run first (a filter, random interleaving).
//   tasks_per_run               PoolStats::executed() per run
//   <count>_per_task            a PoolStats total (steal attempts, steals, parks, ...) over the
//                               timed runs / the tasks executed in them: kPerTask below. The
//                               pool idles between runs (the check), so parks include up to
//                               one per worker per run.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"
#include "common/fib.hpp"
#include "common/map_work.hpp"
#include "forage/algorithm.hpp"
#include "forage/stats.hpp"

namespace {

using forage::bench::Clock;

constexpr std::int64_t kRuns = 3;  // timed runs per benchmark (after one warm-up run)

struct Sizes {
  int fib_n;
  std::uint64_t spawns;
  std::size_t for_items;
  std::size_t map_items;
};
constexpr Sizes kFullSizes{28, 500'000, 20'000'000, 1'000'000};
constexpr Sizes kQuickSizes{24, 100'000, 2'000'000, 200'000};

const Sizes& sizes() { return forage::bench::quick_mode() ? kQuickSizes : kFullSizes; }

// The PoolStats totals reported per executed task. A new counter is one line here and one in
// tools/forage-bench's SUITES entry for "scaling".
struct PerTask {
  const char* counter;
  std::uint64_t (forage::PoolStats::*total)() const noexcept;
};
constexpr PerTask kPerTask[] = {
    {"steal_attempts_per_task", &forage::PoolStats::steal_attempts},
    {"steals_per_task", &forage::PoolStats::stolen},
    {"parks_per_task", &forage::PoolStats::parks},
    {"wakes_per_task", &forage::PoolStats::wakes},
    {"searches_per_task", &forage::PoolStats::searches},
};

// FORAGE_SCALING_PINNING=cores|pus|none (default none): on a machine with as many cores as
// workers, pinned pools measure what the victim tiers save (docs/scaling.md, experiments).
forage::Pinning scaling_pinning() {
  const char* env = std::getenv("FORAGE_SCALING_PINNING");
  const std::string_view value = env != nullptr ? env : "";
  if (value == "cores") return forage::Pinning::cores;
  if (value == "pus") return forage::Pinning::pus;
  if (value.empty() || value == "none") return forage::Pinning::none;
  std::fprintf(stderr, "FORAGE_SCALING_PINNING='%s': expected cores, pus or none\n", env);
  std::exit(2);
}

// A System whose pinning is scaling_pinning(): by default none, so that 256 workers on 2
// cores are placed by the OS.
template <class Base>
struct ScalingSystem : Base {
  static std::unique_ptr<typename Base::PoolType> make(std::size_t workers,
                                                       forage::PoolOptions options) {
    options.pinning = scaling_pinning();
    return Base::make(workers, std::move(options));
  }
};

// --- The workloads ------------------------------------------------------------------------------
//
// A workload prepares what its runs need once (prepare), then run() does one run on the pool
// and check() says, outside the timing, whether that run's result is right (an empty string)
// or what is wrong.

template <class System>
using Runner = forage::bench::ForagePoolRunner<ScalingSystem<System>>;

template <class System>
class FibWorkload : public Runner<System> {
 public:
  static constexpr const char* kVariant = "fib";
  using Runner<System>::Runner;

  void prepare() {}
  void run() {
    const int n = sizes().fib_n;
    const auto [left, right] = forage::join(
        *this->pool_, [n] { return forage::bench::fib_join(n - 1); },
        [n] { return forage::bench::fib_join(n - 2); });
    result_ = left + right;
  }
  std::string check() const {
    const std::uint64_t expected = forage::bench::fibonacci(sizes().fib_n);
    return result_ == expected ? "" : "fib: expected " + std::to_string(expected);
  }

 private:
  std::uint64_t result_ = 0;
};

template <class System>
class SpawnWorkload : public Runner<System> {
 public:
  static constexpr const char* kVariant = "spawn";
  using Runner<System>::Runner;

  void prepare() {}
  void run() {
    const std::uint64_t tasks = sizes().spawns;
    for (std::uint64_t i = 0; i < tasks; ++i) {
      this->pool_->spawn([] { forage::bench::WorkerCounters::count_one(); });
    }
    this->pool_->wait_idle();
  }
  std::string check() {
    const std::uint64_t ran = this->counters_.sum();
    this->counters_.reset();
    return ran == sizes().spawns ? "" : "spawn: " + std::to_string(ran) + " tasks ran";
  }
};

template <class System>
class ParallelForWorkload : public Runner<System> {
 public:
  static constexpr const char* kVariant = "parallel_for";
  using Runner<System>::Runner;

  void prepare() { out_.assign(sizes().for_items, 0); }
  void run() {
    ++generation_;  // a new value per run, so a skipped item shows
    const std::uint32_t generation = generation_;
    std::uint32_t* out = out_.data();
    forage::parallel_for(*this->pool_, std::size_t{0}, out_.size(),
                         [out, generation](std::size_t i) {
                           out[i] = static_cast<std::uint32_t>(i) * 2654435761u + generation;
                         });
  }
  std::string check() const {
    for (std::size_t i = 0; i < out_.size(); ++i) {
      if (out_[i] != static_cast<std::uint32_t>(i) * 2654435761u + generation_) {
        return "parallel_for: item " + std::to_string(i) + " not written";
      }
    }
    return "";
  }

 private:
  std::vector<std::uint32_t> out_;
  std::uint32_t generation_ = 0;
};

// The input and the serial result of the skewed map: built once, shared by every pool size.
struct MapData {
  std::vector<double> input;
  std::vector<double> expected;
};

const MapData& map_data() {
  static const MapData data = [] {
    MapData built;
    built.input =
        forage::bench::make_map_input(forage::bench::MapWorkload::skewed, sizes().map_items);
    built.expected.resize(built.input.size());
    std::transform(built.input.begin(), built.input.end(), built.expected.begin(),
                   forage::bench::MapWork{});
    return built;
  }();
  return data;
}

template <class System>
class SkewedMapWorkload : public Runner<System> {
 public:
  static constexpr const char* kVariant = "skewed_map";
  using Runner<System>::Runner;

  void prepare() { (void)map_data(); }
  void run() {
    out_ = forage::parallel_map(*this->pool_, map_data().input, forage::bench::MapWork{});
  }
  std::string check() {
    const bool right = out_ == map_data().expected;
    out_ = {};  // freed outside the timing
    return right ? "" : "skewed_map: the results differ from the serial map's";
  }

 private:
  forage::MapResults<double> out_;  // what parallel_map returns
};

// --- The benchmark --------------------------------------------------------------------------

// ms_per_run at the base worker count, per "<system>/<workload>", in this process.
std::map<std::string, std::vector<double>>& base_runs() {
  static std::map<std::string, std::vector<double>> runs;
  return runs;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

// `key` names the system and workload ("forage/fib"): the base runs it is compared with.
template <class Workload>
void scaling_benchmark(benchmark::State& state, const std::string& key, std::size_t workers,
                       std::size_t base_workers) {
  Workload workload(workers);
  if (!workload.start(state)) return;
  workload.prepare();
  workload.run();  // warm-up: threads started, allocator and caches as a run leaves them
  if (const std::string error = workload.check(); !error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }

  const forage::PoolStats before = workload.stats();
  Clock::duration elapsed{};
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    workload.run();
    const Clock::duration run = Clock::now() - start;
    elapsed += run;
    state.SetIterationTime(std::chrono::duration<double>(run).count());
    if (const std::string error = workload.check(); !error.empty()) {
      state.SkipWithError(error.c_str());
      return;
    }
  }
  const forage::PoolStats after = workload.stats();

  const auto runs = static_cast<double>(state.iterations());
  const double ms = forage::bench::to_ns(elapsed) * 1e-6 / runs;
  state.counters["ms_per_run"] = ms;
  state.counters[std::string(Workload::kVariant) + "_ms"] = ms;

  std::vector<double>& base = base_runs()[key];
  if (workers == base_workers) base.push_back(ms);
  if (!base.empty()) state.counters["time_vs_base"] = ms / median(base);

  const auto tasks = static_cast<double>(after.executed() - before.executed());
  state.counters["tasks_per_run"] = tasks / runs;
  for (const PerTask& per_task : kPerTask) {
    const std::uint64_t count = (after.*per_task.total)() - (before.*per_task.total)();
    state.counters[per_task.counter] = tasks > 0 ? static_cast<double>(count) / tasks : 0.0;
  }
}

// The pool sizes: FORAGE_BENCH_WORKERS when set, else this suite's own, ascending.
std::vector<std::size_t> pool_sizes() {
  const char* env = std::getenv("FORAGE_BENCH_WORKERS");
  std::vector<std::size_t> counts = (env != nullptr && *env != '\0')
                                        ? forage::bench::worker_counts()
                                        : std::vector<std::size_t>{2, 8, 64, 256};
  std::sort(counts.begin(), counts.end());
  return counts;
}

template <template <class> class Workload, class System>
void register_workload(const std::vector<std::size_t>& counts) {
  using Bench = Workload<System>;
  const std::string key = std::string(System::kName) + "/" + Bench::kVariant;
  for (const std::size_t workers : counts) {
    const std::size_t base = counts.front();
    benchmark::RegisterBenchmark(
        forage::bench::run_name("scaling", System::kName, workers, Bench::kVariant).c_str(),
        [key, workers, base](benchmark::State& state) {
          scaling_benchmark<Bench>(state, key, workers, base);
        })
        ->UseManualTime()
        ->Iterations(kRuns)
        ->Unit(benchmark::kMillisecond);
  }
}

template <template <class> class Workload>
void register_systems(const std::vector<std::size_t>& counts) {
  register_workload<Workload, forage::bench::ForageSystem>(counts);
  register_workload<Workload, forage::bench::SingleQueueLockFreeSystem>(counts);
}

}  // namespace

int main(int argc, char** argv) {
  // As in bench/map/map_bench.cpp: keep freed memory, so the map's 80 MB result reuses the
  // previous run's pages instead of faulting in fresh ones on every run.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  benchmark::Initialize(&argc, argv);
  (void)scaling_pinning();  // a bad value stops here, before any benchmark runs
  const std::vector<std::size_t> counts = pool_sizes();
  register_systems<FibWorkload>(counts);
  register_systems<SpawnWorkload>(counts);
  register_systems<ParallelForWorkload>(counts);
  register_systems<SkewedMapWorkload>(counts);
  return forage::bench::run_registered(argc, argv);
}
