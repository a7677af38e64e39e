// futures: submit() and Future<T>::get() from outside the pool, against a std::future pool.
//
// Three benchmarks per system and worker count, all from the benchmark thread (not a worker),
// all with the same empty task returning int (ReturnOne), each result checked through get():
//   futures/<system>/workers:<n>/round_trip  submit one task, get() it, again. Latency of the
//       whole trip: the submit (allocation, enqueue, waking a worker), the task, completing the
//       future and waking the waiting benchmark thread. Manual time per round trip; figure:
//       ns_per_round_trip (mean), lower is better; p50/p99 as diagnostics.
//   futures/<system>/workers:<n>/throughput  submit 1M tasks, keeping the futures in a
//       vector reserved beforehand, then get() each in order. Figure: million futures per
//       second, wall time from the first submit to the last get() returning, higher is better.
//   futures/<system>/workers:<n>/allocs  operator new calls per submitted future: every
//       allocation in the process from the first submit until the last get() returned (so it
//       includes what the workers allocate to run and complete the tasks), after a warm-up of
//       the same size. forage's submit makes the task and the future's state one block, so 1.0
//       is its target; lower is better.
//
// The systems: forage (forage::Pool), single_queue_locked and single_queue_lock_free
// (forage::SingleQueuePool), and, where Debian's libthread-pool-dev is installed (the build
// defines FORAGE_HAVE_RVASER_THREAD_POOL), rvaser_thread_pool: Robert Vaser's
// thread_pool::ThreadPool, whose Submit wraps the task in a std::packaged_task behind a
// std::shared_ptr, queues it as a std::function on one of its per-thread locked queues
// (round robin, try_lock first) and returns a std::future. Its threads are not pinned;
// forage's are (one worker per core, the default).
//
// Waiting: forage's get() off a worker sleeps on the future's futex; std::future's get()
// sleeps on its own futex (libstdc++). Neither spins. So a round trip's tail is mostly
// wake-ups: cheap when the waiting thread and the worker share a CPU, tens of µs when the
// waiter's CPU went idle (on a VM, waking an idle vCPU goes through the host). Unpinned
// threads (rvaser's) are moved next to each other by the kernel; pinned workers are not.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"

#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
#include <future>

#include <thread_pool/thread_pool.hpp>
#endif

// --- Counting allocations -------------------------------------------------------------------
//
// This binary replaces the global operator new/delete: every allocation goes to malloc (or
// aligned_alloc), and while g_count_allocations is set it is also counted. The flag is set
// only inside the allocs benchmark's measured window, so the other benchmarks pay one relaxed
// load of a read-only flag per allocation and nothing else.

namespace {

// Written by the benchmark thread only (on at the start of the measured window, off at its
// end); read by every allocating thread.
std::atomic<bool> g_count_allocations{false};
// Incremented by any allocating thread while counting; zeroed and read by the benchmark thread
// only while the pool is idle (see allocs()).
std::atomic<std::uint64_t> g_allocations{0};
std::atomic<std::uint64_t> g_allocated_bytes{0};

void note_allocation(std::size_t size) noexcept {
  // relaxed: the flag orders nothing. A worker allocates for a task only after taking it
  // from a queue, which happens-after the submit that followed the flag going on, so it sees
  // the flag on; the same holds for the allocation count, read after the pool is idle.
  if (!g_count_allocations.load(std::memory_order_relaxed)) return;
  // relaxed: only the totals matter; they are read after the pool is idle, which
  // happens-after every counted allocation (wait_idle's acquire or get()'s).
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  g_allocated_bytes.fetch_add(size, std::memory_order_relaxed);
}

constexpr std::size_t kDefaultAlignment = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

void* try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  if (alignment <= kDefaultAlignment) return std::malloc(bytes);
  // aligned_alloc wants a size that is a multiple of the alignment.
  return std::aligned_alloc(alignment, (bytes + alignment - 1) / alignment * alignment);
}

// operator new's contract: retry through the new-handler, else throw bad_alloc.
void* allocate(std::size_t size, std::size_t alignment) {
  note_allocation(size);
  const std::size_t bytes = size == 0 ? 1 : size;
  for (;;) {
    if (void* block = try_allocate(bytes, alignment)) return block;
    const std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* allocate_nothrow(std::size_t size, std::size_t alignment) noexcept {
  try {
    return allocate(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

void* operator new(std::size_t size) { return allocate(size, kDefaultAlignment); }
void* operator new[](std::size_t size) { return allocate(size, kDefaultAlignment); }
void* operator new(std::size_t size, std::align_val_t alignment) {
  return allocate(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return allocate(size, static_cast<std::size_t>(alignment));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, kDefaultAlignment);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, kDefaultAlignment);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, static_cast<std::size_t>(alignment));
}

void operator delete(void* block) noexcept { std::free(block); }
void operator delete[](void* block) noexcept { std::free(block); }
void operator delete(void* block, std::size_t) noexcept { std::free(block); }
void operator delete[](void* block, std::size_t) noexcept { std::free(block); }
void operator delete(void* block, std::align_val_t) noexcept { std::free(block); }
void operator delete[](void* block, std::align_val_t) noexcept { std::free(block); }
void operator delete(void* block, std::size_t, std::align_val_t) noexcept { std::free(block); }
void operator delete[](void* block, std::size_t, std::align_val_t) noexcept { std::free(block); }
void operator delete(void* block, const std::nothrow_t&) noexcept { std::free(block); }
void operator delete[](void* block, const std::nothrow_t&) noexcept { std::free(block); }
void operator delete(void* block, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(block);
}
void operator delete[](void* block, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(block);
}

namespace {

using forage::bench::Clock;
using forage::bench::WorkerCounters;

constexpr std::uint64_t kFutures = 1'000'000;
constexpr std::uint64_t kQuickFutures = 100'000;
constexpr std::int64_t kRoundTrips = 20'000;
constexpr std::int64_t kQuickRoundTrips = 5'000;
constexpr int kWarmRoundTrips = 500;
constexpr std::uint64_t kAllocFutures = 100'000;
constexpr std::uint64_t kQuickAllocFutures = 20'000;

// The task: empty, returning int (the 1s are summed to check that every future delivered).
struct ReturnOne {
  int operator()() const noexcept { return 1; }
};

// --- The systems ----------------------------------------------------------------------------
//
// A Runner owns one system's pool for one benchmark: start() builds it (false, with the
// benchmark skipped, on failure), submit() returns the system's future, and settle() returns
// once the pool is idle, so counts written by its threads can be read.

// forage::Pool and SingleQueuePool, built as every suite builds them (bench_support's
// make_pool). make_pool hooks a WorkerCounters that this suite does not count into (get()
// is the check); it must outlive the pool all the same.
template <class System>
class ForageRunner {
 public:
  static constexpr const char* kName = System::kName;

  explicit ForageRunner(std::size_t workers) : workers_(workers), counters_(workers) {}

  bool start(benchmark::State& state) {
    pool_ = forage::bench::make_pool<System>(state, workers_, counters_);
    return pool_ != nullptr;
  }
  auto submit() { return pool_->submit(ReturnOne{}); }
  void settle() { pool_->wait_idle(); }

 private:
  std::size_t workers_;
  WorkerCounters counters_;  // declared before the pool: outlives it
  std::unique_ptr<typename System::PoolType> pool_;
};

#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
class RvaserRunner {
 public:
  static constexpr const char* kName = "rvaser_thread_pool";

  explicit RvaserRunner(std::size_t workers) : workers_(workers) {}

  bool start(benchmark::State& state) {
    try {
      pool_ = std::make_unique<thread_pool::ThreadPool>(workers_);
    } catch (const std::exception& error) {
      state.SkipWithError((std::string("cannot build the pool: ") + error.what()).c_str());
      return false;
    }
    return true;
  }
  std::future<int> submit() { return pool_->Submit(ReturnOne{}); }
  // No wait_idle(): every task this suite submits has been waited for with get(), which
  // happens-after the task's result was set (what its thread does after that, freeing the
  // task, allocates nothing).
  void settle() {}

 private:
  std::size_t workers_;
  std::unique_ptr<thread_pool::ThreadPool> pool_;
};
#endif

// Calls fn(std::type_identity<Runner>{}) for each system, in table order.
template <class Fn>
void for_each_runner(Fn&& fn) {
  fn(std::type_identity<ForageRunner<forage::bench::ForageSystem>>{});
  fn(std::type_identity<ForageRunner<forage::bench::SingleQueueLockedSystem>>{});
  fn(std::type_identity<ForageRunner<forage::bench::SingleQueueLockFreeSystem>>{});
#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
  fn(std::type_identity<RvaserRunner>{});
#endif
}

template <class Runner>
using FutureOf = decltype(std::declval<Runner&>().submit());

// Submits `count` tasks into `pending` (reserved by the caller), then gets each in order;
// returns the sum of their results (count, when every future delivered its 1).
template <class Runner>
std::uint64_t submit_then_get(Runner& runner, std::vector<FutureOf<Runner>>& pending,
                              std::uint64_t count) {
  for (std::uint64_t i = 0; i < count; ++i) pending.push_back(runner.submit());
  std::uint64_t sum = 0;
  for (auto& future : pending) sum += static_cast<std::uint64_t>(future.get());
  return sum;
}

// Submits and gets `count` tasks as a warm-up (threads running, queues and allocator caches
// grown); false, with the benchmark skipped, if a result is missing.
template <class Runner>
bool warm_up(benchmark::State& state, Runner& runner, std::vector<FutureOf<Runner>>& pending,
             std::uint64_t count) {
  const std::uint64_t sum = submit_then_get(runner, pending, count);
  pending.clear();
  runner.settle();
  return forage::bench::check_count(state, "warm-up results", sum, count);
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

// --- The benchmarks ---------------------------------------------------------------------------

template <class Runner>
void round_trip(benchmark::State& state, std::size_t workers) {
  Runner runner(workers);
  if (!runner.start(state)) return;
  std::uint64_t sum = 0;
  for (int i = 0; i < kWarmRoundTrips; ++i)
    sum += static_cast<std::uint64_t>(runner.submit().get());
  if (!forage::bench::check_count(state, "warm-up results", sum, kWarmRoundTrips)) return;

  std::vector<double> latencies_ns;
  latencies_ns.reserve(static_cast<std::size_t>(state.max_iterations));
  sum = 0;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    sum += static_cast<std::uint64_t>(runner.submit().get());
    const double latency_ns = forage::bench::to_ns(Clock::now() - start);
    state.SetIterationTime(latency_ns * 1e-9);
    latencies_ns.push_back(latency_ns);
  }
  if (latencies_ns.empty()) {
    state.SkipWithError("no round trips ran");
    return;
  }
  if (!forage::bench::check_count(state, "results", sum, latencies_ns.size())) return;

  double total_ns = 0;
  for (const double latency_ns : latencies_ns) total_ns += latency_ns;
  std::sort(latencies_ns.begin(), latencies_ns.end());
  state.SetItemsProcessed(static_cast<std::int64_t>(latencies_ns.size()));
  state.counters["ns_per_round_trip"] = total_ns / static_cast<double>(latencies_ns.size());
  state.counters["p50_round_trip_ns"] = percentile(latencies_ns, 0.50);
  state.counters["p99_round_trip_ns"] = percentile(latencies_ns, 0.99);
}

template <class Runner>
void throughput(benchmark::State& state, std::size_t workers, std::uint64_t futures) {
  Runner runner(workers);
  if (!runner.start(state)) return;
  std::vector<FutureOf<Runner>> pending;
  pending.reserve(static_cast<std::size_t>(futures));
  // Warm-up of the measured size: the heap grown to hold `futures` live futures (otherwise
  // the first timed run pays the kernel's page faults for it), queues as deep as a run.
  if (!warm_up(state, runner, pending, futures)) return;

  Clock::duration elapsed{};
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    const std::uint64_t sum = submit_then_get(runner, pending, futures);
    elapsed += Clock::now() - start;
    pending.clear();  // empty futures: nothing to free
    if (!forage::bench::check_count(state, "results", sum, futures)) return;
  }
  runner.settle();

  const auto total = futures * static_cast<std::uint64_t>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
  // futures per ns * 1e3 = million futures per second
  state.counters["Mfutures_per_s"] =
      static_cast<double>(total) / forage::bench::to_ns(elapsed) * 1e3;
  state.counters["futures_per_run"] = static_cast<double>(futures);
}

template <class Runner>
void allocs(benchmark::State& state, std::size_t workers, std::uint64_t futures) {
  Runner runner(workers);
  if (!runner.start(state)) return;
  std::vector<FutureOf<Runner>> pending;
  pending.reserve(static_cast<std::size_t>(futures));
  // Warm-up of the measured size: queues and allocator caches as deep as the window needs.
  if (!warm_up(state, runner, pending, futures)) return;

  std::uint64_t counted = 0;
  std::uint64_t counted_bytes = 0;
  std::uint64_t submitted = 0;
  for (auto _ : state) {
    // relaxed: the pool is idle (warm-up or the previous iteration settled), so no other
    // thread allocates; the submits below publish the zeros and the flag to the workers.
    g_allocations.store(0, std::memory_order_relaxed);
    g_allocated_bytes.store(0, std::memory_order_relaxed);
    g_count_allocations.store(true, std::memory_order_relaxed);
    const std::uint64_t sum = submit_then_get(runner, pending, futures);
    // relaxed: a worker allocating after this (for nothing of ours) may still be counted;
    // everything the window's tasks allocated happens-before the last get() returned.
    g_count_allocations.store(false, std::memory_order_relaxed);
    runner.settle();
    // relaxed: settle() (wait_idle's acquire, or the gets) ordered every counted increment
    // before these loads.
    counted += g_allocations.load(std::memory_order_relaxed);
    counted_bytes += g_allocated_bytes.load(std::memory_order_relaxed);
    submitted += futures;
    pending.clear();
    if (!forage::bench::check_count(state, "results", sum, futures)) return;
  }
  if (submitted == 0) {
    state.SkipWithError("no submits ran");
    return;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(submitted));
  state.counters["allocs_per_submit"] =
      static_cast<double>(counted) / static_cast<double>(submitted);
  state.counters["bytes_per_submit"] =
      static_cast<double>(counted_bytes) / static_cast<double>(submitted);
  state.counters["alloc_futures_per_run"] = static_cast<double>(futures);
}

// Registers "futures/<system>/workers:<n>/<variant>" for each worker count: the worker
// count sits before the variant, so tools/forage-bench reads every variant's counters into
// the same (system, workers) cell. `run(state, workers)` runs one benchmark.
template <class Runner, class Run, class Configure>
void register_sweep(std::string_view variant, Run run, Configure configure) {
  for (const std::size_t workers : forage::bench::worker_counts()) {
    const std::string name = std::string("futures/") + Runner::kName +
                             "/workers:" + std::to_string(workers) + "/" + std::string(variant);
    auto* b = benchmark::RegisterBenchmark(
        name.c_str(), [run, workers](benchmark::State& state) { run(state, workers); });
    configure(b);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const bool quick = forage::bench::quick_mode();
  const std::int64_t round_trips = quick ? kQuickRoundTrips : kRoundTrips;
  const std::uint64_t futures = quick ? kQuickFutures : kFutures;
  const std::uint64_t alloc_futures = quick ? kQuickAllocFutures : kAllocFutures;

  for_each_runner([&](auto runner) {
    using Runner = typename decltype(runner)::type;
    register_sweep<Runner>(
        "round_trip",
        [](benchmark::State& state, std::size_t workers) { round_trip<Runner>(state, workers); },
        [round_trips](benchmark::internal::Benchmark* b) {
          b->UseManualTime()->Iterations(round_trips)->Unit(benchmark::kMicrosecond);
        });
  });
  for_each_runner([&](auto runner) {
    using Runner = typename decltype(runner)::type;
    register_sweep<Runner>(
        "throughput",
        [futures](benchmark::State& state, std::size_t workers) {
          throughput<Runner>(state, workers, futures);
        },
        [](benchmark::internal::Benchmark* b) { b->UseRealTime()->Unit(benchmark::kMillisecond); });
  });
  for_each_runner([&](auto runner) {
    using Runner = typename decltype(runner)::type;
    register_sweep<Runner>(
        "allocs",
        [alloc_futures](benchmark::State& state, std::size_t workers) {
          allocs<Runner>(state, workers, alloc_futures);
        },
        [](benchmark::internal::Benchmark* b) {
          b->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
        });
  });
  return forage::bench::run_registered(argc, argv);
}
