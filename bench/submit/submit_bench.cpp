// submit: tasks handed to the pool from outside it, the path of a server thread giving work
// to a pool. Two workloads, each its own variant (so each counter comes from one variant):
//
// Throughput: the benchmark thread (not a worker) hands over 1M empty tasks (100,000 quick),
// then waits for all of them. Figure: Mtasks_per_s = tasks / wall time from the first submit
// to the wait returning, higher is better; tasks_per_run is the size. Every task is checked:
// a future's result summed, or a count the tasks keep per thread (WorkerCounters on forage's
// pools, ThreadCounters for the peers: bench/common/bench_support.hpp), compared with the tasks
// submitted.
//   forage/submit, single_queue_locked/submit, single_queue_lock_free/submit
//       pool.submit(ReturnOne{}) x 1M, the forage::Future<int>s kept in a vector reserved
//       beforehand, then get() each in order. forage's submit makes the task and the future's
//       state one heap block; from outside the pool it goes to the injection queue (Pool) or
//       the one shared queue (SingleQueuePool).
//   forage/trace_on   forage/submit on a Pool built with PoolOptions::trace: the cost of
//       tracing when it is on (forage/submit is the figure with it off, the default).
//   forage/spawn, single_queue_locked/spawn, single_queue_lock_free/spawn
//       pool.spawn(count) x 1M, fire and forget, then wait_idle(): no future, the lightest
//       way in.
//   forage/spawn_all, single_queue_locked/spawn_all, single_queue_lock_free/spawn_all
//       pool.spawn_all(indices, count) over the 1M indices, then wait_idle(): the same tasks
//       as spawn, handed over as one batch (one admission, one bulk enqueue, one wake-up),
//       queued as groups of 64 items that workers claim item by item (task_slab.hpp).
//   forage/submit_all, single_queue_locked/submit_all, single_queue_lock_free/submit_all
//       pool.submit_all(indices, return 1) -> the 1M futures in one call, then get() each.
//       Both batch variants also time the single-call form (spawn / submit) on the same pool
//       in the same benchmark, interleaved with the batch runs (a single run after a batch
//       run while the single runs' total time is below the batches'): the counter
//       speedup_vs_single = mean single-call run / mean batch run (the goal:
//       spawn_all >= 3x).
//   rvaser_thread_pool/submit   Robert Vaser's thread_pool::ThreadPool (Debian's
//       libthread-pool-dev): Submit(ReturnOne{}) x 1M, the std::futures kept, then get()
//       each. Submit wraps the task in a std::packaged_task behind a std::shared_ptr and
//       queues it as a std::function on one of its per-thread locked queues (round robin,
//       try_lock first).
//   onetbb/task_group   tbb::task_group::run(count) x 1M, then wait(), all inside
//       task_arena::execute on a TbbArena of `workers` slots (the documented way for an
//       outside thread to work in a given arena): the benchmark thread joins the arena and
//       takes one of its slots, so its runs go to its own task pool, the `workers - 1` TBB
//       workers steal them, and the benchmark thread runs tasks too in wait(). At 1 worker it
//       runs every task itself.
//   openmp/task   `omp parallel num_threads(workers)` + `omp single`: 1M `omp task`, then
//       `omp taskwait`; the benchmark thread is one of the team. libgomp runs a new task at
//       once, on the creating thread, when more than 64 per thread are queued: its own
//       throttle, not something this code asks for. With one thread creating 1M tasks in a
//       row, most of this row's tasks are run that way, never queued.
//
// Round trip (variant round_trip): submit one empty task and get() its result, many times
// (20,000 rounds; 5,000 quick). The whole trip: the submit (allocation, enqueue, waking a
// worker), the task, completing the result and waking the waiting benchmark thread. Figure:
// ns_per_round_trip, the mean, lower is better; p50_round_trip_ns and p99_round_trip_ns as
// well (nearest rank).
//   forage, single_queue_locked, single_queue_lock_free   pool.submit(ReturnOne{}).get().
//   rvaser_thread_pool   Submit(ReturnOne{}).get().
//   onetbb   task_arena::execute([] { group.run(task); group.wait(); }) per round: the
//       benchmark thread enters the arena and usually runs the task itself in wait(), unless a
//       TBB worker steals it first; that is how oneTBB hands one task over from outside.
//   openmp   not measured: OpenMP has no way for a thread outside a team to hand a task to a
//       running team. A task is created by a team thread inside a parallel region, so one
//       round trip would be a whole `omp parallel` region: the cost of starting a team, which
//       is not what this row measures.
//
// Waiting: forage's get() off a worker sleeps on the future's futex; std::future's get()
// sleeps on its own futex (libstdc++). Neither spins. So a round trip's tail is mostly
// wake-ups: cheap when the waiting thread and the worker share a CPU, tens of µs when the
// waiter's CPU went idle (on a VM, waking an idle vCPU goes through the host). forage's
// workers are pinned (one per core, the default); the peers' threads are not, and the kernel
// may move them next to each other.
//
// Peers are compiled in where found (FORAGE_HAVE_ONETBB, FORAGE_HAVE_OPENMP,
// FORAGE_HAVE_RVASER_THREAD_POOL).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"
#include "common/peers.hpp"

namespace {

using forage::bench::Clock;
using forage::bench::percentile;
using forage::bench::ThreadCounters;
using forage::bench::WorkerCounters;

constexpr std::uint64_t kTasks = 1'000'000;
constexpr std::uint64_t kQuickTasks = 100'000;
constexpr std::int64_t kRoundTrips = 20'000;
constexpr std::int64_t kQuickRoundTrips = 5'000;
constexpr int kWarmRoundTrips = 500;

// The task of submit and round_trip: empty, returning int (the 1s are summed to check that
// every result was delivered).
struct ReturnOne {
  int operator()() const noexcept { return 1; }
};

// --- Throughput runners ---------------------------------------------------------------------
//
// A throughput Runner owns one system's pool for one benchmark: start() builds it (false,
// with the benchmark skipped, on failure), run(tasks) hands over `tasks` tasks from the
// benchmark thread, waits for all of them and returns how many ran (or delivered their 1).

// forage's runners share the pool, built as every suite builds it (ForagePoolRunner).
using forage::bench::ForagePoolRunner;

template <class System>
class ForageSubmit : public ForagePoolRunner<System> {
 public:
  static constexpr const char* kSystem = System::kName;
  static constexpr const char* kVariant = "submit";

  ForageSubmit(std::size_t workers, std::uint64_t tasks) : ForagePoolRunner<System>(workers) {
    pending_.reserve(static_cast<std::size_t>(tasks));
  }

  std::uint64_t run(std::uint64_t tasks) {
    for (std::uint64_t i = 0; i < tasks; ++i) pending_.push_back(this->pool_->submit(ReturnOne{}));
    std::uint64_t sum = 0;
    for (auto& future : pending_) sum += static_cast<std::uint64_t>(future.get());
    pending_.clear();  // empty futures (get() took their state): nothing to free
    return sum;
  }

 private:
  std::vector<forage::Future<int>> pending_;
};

// forage::Pool with PoolOptions::trace on: what recording every task's run, the steals, parks
// and wakes costs. Its buffers hold 2^20 events per worker; a run that overflows them keeps
// paying for the timestamps and counts the drops, so later runs cost the same.
struct ForageTracedSystem {
  using PoolType = forage::Pool;
  static constexpr const char* kName = "forage";
  static std::unique_ptr<PoolType> make(std::size_t workers, forage::PoolOptions options) {
    options.workers = workers;
    options.trace = true;
    options.trace_buffer_events = std::size_t{1} << 20;
    return std::make_unique<PoolType>(std::move(options));
  }
};

template <class System>
class ForageTracedSubmit : public ForageSubmit<System> {
 public:
  static constexpr const char* kVariant = "trace_on";
  using ForageSubmit<System>::ForageSubmit;
};

template <class System>
class ForageSpawn : public ForagePoolRunner<System> {
 public:
  static constexpr const char* kSystem = System::kName;
  static constexpr const char* kVariant = "spawn";

  ForageSpawn(std::size_t workers, std::uint64_t /*tasks*/) : ForagePoolRunner<System>(workers) {}

  std::uint64_t run(std::uint64_t tasks) {
    for (std::uint64_t i = 0; i < tasks; ++i)
      this->pool_->spawn([] { WorkerCounters::count_one(); });
    this->pool_->wait_idle();
    const std::uint64_t ran = this->counters_.sum();
    this->counters_.reset();
    return ran;
  }
};

// The 1M tasks as one batch; run_single() hands over the same tasks one call each, on the
// same pool, for speedup_vs_single.
// 0 .. count-1 without storing them: the items of the batch variants. (Not std::views::iota:
// clang 14, which builds the asan preset, cannot compile libstdc++ 12's views.)
class Indices {
 public:
  class iterator {
   public:
    using value_type = std::uint64_t;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(std::uint64_t at) : at_(at) {}
    std::uint64_t operator*() const { return at_; }
    iterator& operator++() {
      ++at_;
      return *this;
    }
    iterator operator++(int) { return iterator(at_++); }
    bool operator==(const iterator&) const = default;

   private:
    std::uint64_t at_ = 0;
  };
  explicit Indices(std::uint64_t count) : count_(count) {}
  iterator begin() const { return iterator(0); }
  iterator end() const { return iterator(count_); }
  std::size_t size() const { return static_cast<std::size_t>(count_); }

 private:
  std::uint64_t count_;
};

template <class System>
class ForageSpawnAll : public ForageSpawn<System> {
 public:
  static constexpr const char* kVariant = "spawn_all";
  using ForageSpawn<System>::ForageSpawn;

  std::uint64_t run(std::uint64_t tasks) {
    this->pool_->spawn_all(Indices(tasks), [](std::uint64_t) { WorkerCounters::count_one(); });
    this->pool_->wait_idle();
    const std::uint64_t ran = this->counters_.sum();
    this->counters_.reset();
    return ran;
  }
  std::uint64_t run_single(std::uint64_t tasks) { return ForageSpawn<System>::run(tasks); }
};

template <class System>
class ForageSubmitAll : public ForageSubmit<System> {
 public:
  static constexpr const char* kVariant = "submit_all";
  using ForageSubmit<System>::ForageSubmit;

  std::uint64_t run(std::uint64_t tasks) {
    std::vector<forage::Future<int>> futures =
        this->pool_->submit_all(Indices(tasks), [](std::uint64_t) { return 1; });
    std::uint64_t sum = 0;
    for (auto& future : futures) sum += static_cast<std::uint64_t>(future.get());
    return sum;
  }
  std::uint64_t run_single(std::uint64_t tasks) { return ForageSubmit<System>::run(tasks); }
};

#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
// thread_pool::ThreadPool of `workers` threads; Submit returns a std::future.
class RvaserPool {
 public:
  explicit RvaserPool(std::size_t workers) : workers_(workers) {}

  bool start(benchmark::State& state) {
    pool_ = forage::bench::make_rvaser_pool(state, workers_);
    return pool_ != nullptr;
  }

  bool has_stats() const { return false; }
  forage::PoolStats stats() const { return {}; }

 protected:
  std::size_t workers_;
  std::unique_ptr<thread_pool::ThreadPool> pool_;
};

class RvaserSubmit : public RvaserPool {
 public:
  static constexpr const char* kSystem = "rvaser_thread_pool";
  static constexpr const char* kVariant = "submit";

  RvaserSubmit(std::size_t workers, std::uint64_t tasks) : RvaserPool(workers) {
    pending_.reserve(static_cast<std::size_t>(tasks));
  }

  std::uint64_t run(std::uint64_t tasks) {
    for (std::uint64_t i = 0; i < tasks; ++i) pending_.push_back(pool_->Submit(ReturnOne{}));
    std::uint64_t sum = 0;
    for (auto& future : pending_) sum += static_cast<std::uint64_t>(future.get());
    pending_.clear();
    return sum;
  }

 private:
  std::vector<std::future<int>> pending_;
};
#endif

#ifdef FORAGE_HAVE_ONETBB
class TbbTaskGroup {
 public:
  static constexpr const char* kSystem = "onetbb";
  static constexpr const char* kVariant = "task_group";

  TbbTaskGroup(std::size_t workers, std::uint64_t /*tasks*/)
      : workers_(workers), counters_(workers) {}

  bool start(benchmark::State& state) { return tbb_.start(state, workers_); }

  std::uint64_t run(std::uint64_t tasks) {
    tbb_.arena().execute([this, tasks] {
      tbb::task_group group;
      ThreadCounters* counters = &counters_;
      for (std::uint64_t i = 0; i < tasks; ++i) group.run([counters] { counters->count_one(); });
      group.wait();
    });
    return counters_.take();
  }

  bool has_stats() const { return false; }
  forage::PoolStats stats() const { return {}; }

 private:
  std::size_t workers_;
  ThreadCounters counters_;
  forage::bench::TbbArena tbb_;
};
#endif

#ifdef FORAGE_HAVE_OPENMP
class OpenMpTask : public forage::bench::OpenMpTeamRunner {
 public:
  static constexpr const char* kSystem = "openmp";
  static constexpr const char* kVariant = "task";

  OpenMpTask(std::size_t workers, std::uint64_t /*tasks*/)
      : OpenMpTeamRunner(workers), counters_(workers) {}

  std::uint64_t run(std::uint64_t tasks) {
    ThreadCounters* counters = &counters_;
#pragma omp parallel num_threads(workers_) firstprivate(counters, tasks)
    {
#pragma omp single
      {
        for (std::uint64_t i = 0; i < tasks; ++i) {
#pragma omp task firstprivate(counters)
          counters->count_one();
        }
#pragma omp taskwait
      }
    }
    return counters_.take();
  }

 private:
  ThreadCounters counters_;
};
#endif

// --- Round-trip runners ---------------------------------------------------------------------
//
// A round-trip Runner: start() as above; one() submits one task returning 1 and returns
// what get() (or the peer's wait) delivered.

template <class System>
class ForageRoundTrip : public ForagePoolRunner<System> {
 public:
  static constexpr const char* kSystem = System::kName;

  using ForagePoolRunner<System>::ForagePoolRunner;

  int one() { return this->pool_->submit(ReturnOne{}).get(); }
};

#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
class RvaserRoundTrip : public RvaserPool {
 public:
  static constexpr const char* kSystem = "rvaser_thread_pool";

  using RvaserPool::RvaserPool;

  int one() { return pool_->Submit(ReturnOne{}).get(); }
};
#endif

#ifdef FORAGE_HAVE_ONETBB
class TbbRoundTrip : public forage::bench::TbbArenaRunner {
 public:
  static constexpr const char* kSystem = "onetbb";

  using TbbArenaRunner::TbbArenaRunner;

  int one() {
    return arena().execute([] {
      int result = 0;
      tbb::task_group group;
      group.run([&result] { result = ReturnOne{}(); });
      group.wait();
      return result;
    });
  }
};
#endif

// Calls fn(std::type_identity<Runner>{}) for each throughput runner, in table order.
template <class Fn>
void for_each_throughput_runner(Fn&& fn) {
  using forage::bench::ForageSystem;
  using forage::bench::SingleQueueLockedSystem;
  using forage::bench::SingleQueueLockFreeSystem;
  fn(std::type_identity<ForageSubmit<ForageSystem>>{});
  fn(std::type_identity<ForageSpawn<ForageSystem>>{});
  fn(std::type_identity<ForageSpawnAll<ForageSystem>>{});
  fn(std::type_identity<ForageSubmitAll<ForageSystem>>{});
  fn(std::type_identity<ForageTracedSubmit<ForageTracedSystem>>{});
  fn(std::type_identity<ForageSubmit<SingleQueueLockedSystem>>{});
  fn(std::type_identity<ForageSpawn<SingleQueueLockedSystem>>{});
  fn(std::type_identity<ForageSpawnAll<SingleQueueLockedSystem>>{});
  fn(std::type_identity<ForageSubmitAll<SingleQueueLockedSystem>>{});
  fn(std::type_identity<ForageSubmit<SingleQueueLockFreeSystem>>{});
  fn(std::type_identity<ForageSpawn<SingleQueueLockFreeSystem>>{});
  fn(std::type_identity<ForageSpawnAll<SingleQueueLockFreeSystem>>{});
  fn(std::type_identity<ForageSubmitAll<SingleQueueLockFreeSystem>>{});
#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
  fn(std::type_identity<RvaserSubmit>{});
#endif
#ifdef FORAGE_HAVE_ONETBB
  fn(std::type_identity<TbbTaskGroup>{});
#endif
#ifdef FORAGE_HAVE_OPENMP
  fn(std::type_identity<OpenMpTask>{});
#endif
}

// Calls fn(std::type_identity<Runner>{}) for each round-trip runner, in table order.
template <class Fn>
void for_each_round_trip_runner(Fn&& fn) {
  forage::bench::for_each_pool_runner<ForageRoundTrip>(fn);
#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
  fn(std::type_identity<RvaserRoundTrip>{});
#endif
#ifdef FORAGE_HAVE_ONETBB
  fn(std::type_identity<TbbRoundTrip>{});
#endif
}

// --- The benchmarks ---------------------------------------------------------------------------

template <class Runner>
void throughput(benchmark::State& state, std::size_t workers, std::uint64_t tasks) {
  Runner runner(workers, tasks);
  if (!runner.start(state)) return;
  // Warm-up of the measured size: threads running, queues as deep as a run, and the heap
  // grown to hold `tasks` live tasks (otherwise the first timed run pays the page faults).
  if (!forage::bench::check_count(state, "warm-up tasks", runner.run(tasks), tasks)) return;
  const forage::PoolStats before = runner.stats();

  // A batch runner also times the single-call form, interleaved with the batch runs (outside
  // the benchmark's own timing), so both see the same machine state. A single run follows a
  // batch run only while the single runs' total time is below the batch runs': the batch is
  // several times faster, and a single run after every batch run would multiply the
  // benchmark's wall time by that ratio (Google Benchmark sizes the iterations by the batch).
  constexpr bool kHasSingle = requires { runner.run_single(tasks); };
  Clock::duration single_elapsed{};
  Clock::duration batch_elapsed{};
  std::uint64_t single_runs = 0;
  const std::optional<Clock::duration> timed =
      forage::bench::time_checked_runs(state, "tasks", tasks, [&] {
        const Clock::time_point batch_start = Clock::now();
        const std::uint64_t done = runner.run(tasks);
        batch_elapsed += Clock::now() - batch_start;
        if constexpr (kHasSingle) {
          if (single_elapsed <= batch_elapsed) {
            state.PauseTiming();
            const Clock::time_point start = Clock::now();
            const std::uint64_t single_done = runner.run_single(tasks);
            single_elapsed += Clock::now() - start;
            ++single_runs;
            state.ResumeTiming();
            if (single_done != tasks) return single_done;  // reported as a lost task
          }
        }
        return done;
      });
  if (!timed) return;
  // time_checked_runs timed the single-call runs too: take them out.
  const std::optional<Clock::duration> elapsed = *timed - single_elapsed;

  const auto iterations = static_cast<std::uint64_t>(state.iterations());
  const std::uint64_t total = tasks * iterations;
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
  // tasks per ns * 1e3 = million tasks per second
  state.counters["Mtasks_per_s"] =
      static_cast<double>(total) / forage::bench::to_ns(*elapsed) * 1e3;
  state.counters["tasks_per_run"] = static_cast<double>(tasks);
  if constexpr (kHasSingle) {
    // Mean single run over mean batch run (the first iteration always has a single run).
    state.counters["speedup_vs_single"] =
        (forage::bench::to_ns(single_elapsed) / static_cast<double>(single_runs)) /
        (forage::bench::to_ns(*elapsed) / static_cast<double>(iterations));
  }
  if (runner.has_stats()) {
    const forage::PoolStats after = runner.stats();
    state.counters["parks_per_run"] =
        static_cast<double>(after.parks() - before.parks()) / static_cast<double>(iterations);
  }
}

template <class Runner>
void round_trip(benchmark::State& state, std::size_t workers) {
  Runner runner(workers);
  if (!runner.start(state)) return;
  std::uint64_t sum = 0;
  for (int i = 0; i < kWarmRoundTrips; ++i) sum += static_cast<std::uint64_t>(runner.one());
  if (!forage::bench::check_count(state, "warm-up results", sum, kWarmRoundTrips)) return;

  std::vector<double> latencies_ns;
  latencies_ns.reserve(static_cast<std::size_t>(state.max_iterations));
  sum = 0;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    sum += static_cast<std::uint64_t>(runner.one());
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

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const bool quick = forage::bench::quick_mode();
  const std::uint64_t tasks = quick ? kQuickTasks : kTasks;
  const std::int64_t round_trips = quick ? kQuickRoundTrips : kRoundTrips;

  for_each_throughput_runner([tasks](auto runner) {
    using Runner = typename decltype(runner)::type;
    forage::bench::register_per_worker_count(
        "submit", Runner::kSystem, Runner::kVariant,
        [tasks](benchmark::State& state, std::size_t workers) {
          throughput<Runner>(state, workers, tasks);
        },
        [](benchmark::internal::Benchmark* b) { b->UseRealTime()->Unit(benchmark::kMillisecond); });
  });
  for_each_round_trip_runner([round_trips](auto runner) {
    using Runner = typename decltype(runner)::type;
    forage::bench::register_per_worker_count(
        "submit", Runner::kSystem, "round_trip",
        [](benchmark::State& state, std::size_t workers) { round_trip<Runner>(state, workers); },
        [round_trips](benchmark::internal::Benchmark* b) {
          b->UseManualTime()->Iterations(round_trips)->Unit(benchmark::kMicrosecond);
        });
  });
  return forage::bench::run_registered(argc, argv);
}
