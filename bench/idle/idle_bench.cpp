// idle: the CPU an idle pool burns.
//
// Build the system, give it work so its threads exist and have been busy, let it sit idle for
// kSettle, then measure the CPU time of the whole process (getrusage(RUSAGE_SELF), user +
// system, all threads) over a window of wall time (1 s; 250 ms in quick mode) while the
// benchmark thread sleeps (its own share is ~0). Figure: cpu_percent_of_core = CPU time / wall
// time * 100, lower is better (100 = one core busy); a pool that spins or wakes on a timer
// shows up here.
//
// Diagnostics: "settle_cpu_ms", the CPU used in the kSettle before the window, right after the
// work ended (a pool that spins or yields for a while before it sleeps shows it there);
// "switches_in_window", the context switches of the process in the window (getrusage's
// voluntary + involuntary; the benchmark thread's own sleep is one or two), which counts
// wake-ups whatever the system; "threads", the other threads of the process in the window;
// "parks_in_window" (forage's pools only), how often workers went back to sleep in the window.
//
// Benchmarks "idle/<system>/workers:<n>". Each builds its system and destroys it before the
// next, and checks before and after its window that the process holds exactly that system's
// threads (skipped otherwise: another system's threads would be measured too):
//   forage, single_queue_locked, single_queue_lock_free
//       n workers (pinned, one per core); kWarmTasks empty tasks spawned from the benchmark
//       thread, then wait_idle(). n threads.
//   onetbb  a tbb::task_arena(n, 0) under a tbb::global_control capping the process at n + 1
//       threads (bench/common/peers.hpp's TbbOutsideArena, as in the wake suite): n worker
//       threads, no slot kept for the benchmark thread (TbbArena keeps one for a caller that
//       joins in).
//       kWarmTasks empty tasks from arena.enqueue, waited for by their count. tbb::finalize
//       joins the workers at the end. n threads.
//   rvaser_thread_pool  thread_pool::ThreadPool(n), one task through Submit() and its
//       future (the pool's threads exist from its construction). n threads.
//   openmp  one `omp parallel num_threads(n)` region (bench/common/peers.hpp's team check),
//       then nothing: the benchmark thread is the team's primary thread, so n - 1 threads. Its
//       wait policy is the runtime's default, not tuned: after a region the team's threads
//       spin, then sleep on a futex. libgomp (g++) spins GOMP_SPINCOUNT times, by default
//       300,000 (1,000 with more threads than CPUs), a few ms that land in settle_cpu_ms;
//       libomp (clang++) spins for KMP_BLOCKTIME, by default 200 ms, longer than kSettle, so
//       its window opens with the team still spinning and shows it. The runtime keeps those threads
//       for the next region until the process exits, so openmp is registered last: no other
//       system's window sees them (and with a sweep that runs a larger team first, e.g.
//       FORAGE_BENCH_WORKERS=2,1, the larger team's threads are still there, asleep, in the smaller
//       team's window).
// Peers' threads are not pinned. Peers are compiled in where found (FORAGE_HAVE_ONETBB,
// FORAGE_HAVE_OPENMP, FORAGE_HAVE_RVASER_THREAD_POOL).
#include <sys/resource.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"
#include "common/peers.hpp"
#include "common/proc_threads.hpp"

namespace {

using forage::bench::Clock;
using forage::bench::WorkerCounters;

constexpr auto kWindow = std::chrono::milliseconds(1000);
constexpr auto kQuickWindow = std::chrono::milliseconds(250);
constexpr auto kSettle = std::chrono::milliseconds(100);  // idle before the window opens
constexpr std::uint64_t kWarmTasks = 10'000;
constexpr int kDefaultRepetitions = 3;

// --- What the process uses ------------------------------------------------------------------

struct ProcessUse {
  double cpu_seconds = 0;     // user + system, all threads
  std::int64_t switches = 0;  // voluntary + involuntary context switches, all threads
};

ProcessUse process_use() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return {seconds(usage.ru_utime) + seconds(usage.ru_stime), usage.ru_nvcsw + usage.ru_nivcsw};
}

// --- The systems ------------------------------------------------------------------------------
//
// An Idler owns one system for one benchmark: start() builds it and warm() gives it its work
// and checks it (both false, with the benchmark skipped, on failure); threads() is how many
// threads it has besides the benchmark thread; parks() counts its workers' parks (forage's
// pools, kHasParks).

template <class System>
class PoolIdler {
 public:
  static constexpr const char* kSystem = System::kName;
  static constexpr bool kHasParks = true;

  explicit PoolIdler(std::size_t workers) : workers_(workers), executed_(workers) {}

  bool start(benchmark::State& state) {
    pool_ = forage::bench::make_pool<System>(state, workers_, executed_);
    return pool_ != nullptr;
  }

  bool warm(benchmark::State& state) {
    for (std::uint64_t i = 0; i < kWarmTasks; ++i) {
      pool_->spawn([] { WorkerCounters::count_one(); });
    }
    pool_->wait_idle();
    return forage::bench::check_count(state, "warm-up tasks", executed_.sum(), kWarmTasks);
  }

  std::size_t threads() const { return workers_; }
  std::uint64_t parks() const { return pool_->stats().parks(); }

 private:
  std::size_t workers_;
  WorkerCounters executed_;  // the pool's options hook it; declared before the pool: outlives it
  std::unique_ptr<typename System::PoolType> pool_;
};

#ifdef FORAGE_HAVE_ONETBB
class OneTbbIdler {
 public:
  static constexpr const char* kSystem = "onetbb";
  static constexpr bool kHasParks = false;

  explicit OneTbbIdler(std::size_t workers) : workers_(workers) {}

  bool start(benchmark::State& state) { return tbb_.start(state, workers_); }

  bool warm(benchmark::State& state) {
    for (std::uint64_t i = 0; i < kWarmTasks; ++i) {
      tbb_.arena().enqueue([this] {
        // release: the task's end happens-before warm() sees the count; pairs with the
        // acquire loads below.
        if (finished_.fetch_add(1, std::memory_order_release) + 1 == kWarmTasks) {
          finished_.notify_one();
        }
      });
    }
    // acquire: pairs with the tasks' release increments.
    for (std::uint64_t seen = finished_.load(std::memory_order_acquire); seen < kWarmTasks;
         seen = finished_.load(std::memory_order_acquire)) {
      finished_.wait(seen, std::memory_order_acquire);
    }
    return forage::bench::check_count(state, "warm-up tasks",
                                      finished_.load(std::memory_order_acquire), kWarmTasks);
  }

  std::size_t threads() const { return workers_; }
  std::uint64_t parks() const { return 0; }

 private:
  std::size_t workers_;
  // Counted by the tasks; declared before the arena, so it outlives the workers (its
  // destructor joins them).
  std::atomic<std::uint64_t> finished_{0};
  forage::bench::TbbOutsideArena tbb_;
};
#endif

#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
class RvaserIdler {
 public:
  static constexpr const char* kSystem = "rvaser_thread_pool";
  static constexpr bool kHasParks = false;

  explicit RvaserIdler(std::size_t workers) : workers_(workers) {}

  bool start(benchmark::State& state) {
    pool_ = forage::bench::make_rvaser_pool(state, workers_);
    return pool_ != nullptr;
  }

  bool warm(benchmark::State& state) {
    constexpr std::uint64_t kAnswer = 42;
    return forage::bench::check_count(state, "the warm-up task's result",
                                      pool_->Submit([] { return kAnswer; }).get(), kAnswer);
  }

  std::size_t threads() const { return workers_; }
  std::uint64_t parks() const { return 0; }

 private:
  std::size_t workers_;
  std::unique_ptr<thread_pool::ThreadPool> pool_;
};
#endif

#ifdef FORAGE_HAVE_OPENMP
class OpenMpIdler {
 public:
  static constexpr const char* kSystem = "openmp";
  static constexpr bool kHasParks = false;

  explicit OpenMpIdler(std::size_t workers) : workers_(workers) {}

  bool start(benchmark::State&) { return true; }

  bool warm(benchmark::State& state) {
    if (!forage::bench::openmp_team_matches(state, static_cast<int>(workers_))) return false;
    largest_team_ = std::max(largest_team_, workers_);
    return true;
  }

  // The runtime keeps the threads of the largest team it has run, asleep, for the next
  // region: after a sweep that ran a larger team first, they are still there.
  std::size_t threads() const { return std::max(workers_, largest_team_) - 1; }
  std::uint64_t parks() const { return 0; }

 private:
  std::size_t workers_;
  inline static std::size_t largest_team_ = 0;  // benchmark thread only
};
#endif

// Calls fn(std::type_identity<Idler>{}) for each system, in table order; openmp last (see the
// header).
template <class Fn>
void for_each_idler(Fn&& fn) {
  forage::bench::for_each_pool_runner<PoolIdler>(fn);
#ifdef FORAGE_HAVE_ONETBB
  fn(std::type_identity<OneTbbIdler>{});
#endif
#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
  fn(std::type_identity<RvaserIdler>{});
#endif
#ifdef FORAGE_HAVE_OPENMP
  fn(std::type_identity<OpenMpIdler>{});
#endif
}

// --- The benchmark ----------------------------------------------------------------------------

// False, with the benchmark skipped, unless the process holds exactly the system's threads.
template <class Idler>
bool only_its_threads(benchmark::State& state, const Idler& idler, const char* when) {
  const std::size_t threads = forage::bench::other_threads();
  if (threads == idler.threads()) return true;
  state.SkipWithError((std::string(when) + ": " + std::to_string(threads) +
                       " threads besides the benchmark thread, the system has " +
                       std::to_string(idler.threads()))
                          .c_str());
  return false;
}

template <class Idler>
void idle(benchmark::State& state, Clock::duration window) {
  Idler idler(static_cast<std::size_t>(state.range(0)));
  if (!idler.start(state) || !idler.warm(state)) return;
  const ProcessUse settle_start = process_use();
  std::this_thread::sleep_for(kSettle);
  const double settle_cpu_seconds = process_use().cpu_seconds - settle_start.cpu_seconds;
  if (!only_its_threads(state, idler, "before the window")) return;

  double cpu_seconds = 0;
  double wall_seconds = 0;
  std::int64_t switches = 0;
  std::uint64_t parks = 0;
  for (auto _ : state) {
    const std::uint64_t parks_before = idler.parks();
    const ProcessUse before = process_use();
    const Clock::time_point wall_before = Clock::now();
    std::this_thread::sleep_for(window);
    const ProcessUse after = process_use();
    wall_seconds += std::chrono::duration<double>(Clock::now() - wall_before).count();
    cpu_seconds += after.cpu_seconds - before.cpu_seconds;
    switches += after.switches - before.switches;
    parks += idler.parks() - parks_before;
  }
  if (!only_its_threads(state, idler, "after the window")) return;

  state.counters["cpu_percent_of_core"] = cpu_seconds / wall_seconds * 100;
  state.counters["cpu_ms"] = cpu_seconds * 1e3;
  state.counters["settle_cpu_ms"] = settle_cpu_seconds * 1e3;
  state.counters["switches_in_window"] = static_cast<double>(switches);
  state.counters["threads"] = static_cast<double>(idler.threads());
  if (Idler::kHasParks) state.counters["parks_in_window"] = static_cast<double>(parks);
}

}  // namespace

int main(int argc, char** argv) {
  const bool repetitions_given = forage::bench::repetitions_on_command_line(argc, argv);
  benchmark::Initialize(&argc, argv);
  const Clock::duration window =
      forage::bench::quick_mode() ? Clock::duration(kQuickWindow) : Clock::duration(kWindow);
  for_each_idler([&](auto idler) {
    using Idler = typename decltype(idler)::type;
    auto* b = benchmark::RegisterBenchmark(
        (std::string("idle/") + Idler::kSystem).c_str(),
        [window](benchmark::State& state) { idle<Idler>(state, window); });
    b->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
    // A per-benchmark Repetitions() would override --benchmark_repetitions; set it only when
    // the command line does not choose.
    if (!repetitions_given) b->Repetitions(kDefaultRepetitions);
    forage::bench::sweep_workers(b);
  });
  return forage::bench::run_registered(argc, argv);
}
