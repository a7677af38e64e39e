// alloc: heap allocations per join and per task handed over (submit, spawn, TaskGroup::spawn),
// counted by replacing malloc and its family
// for this binary (common/counting_malloc.hpp): every C++ operator new goes through malloc,
// and so do libgomp's task allocations and oneTBB's, so every system is counted at the same
// entry. Every allocation in the process inside the window is counted, whichever thread makes
// it (the workers' included). Not built under the sanitizers, which replace malloc themselves.
//
// Figures (lower is better; counts, not times, so one run is enough and repetitions agree):
//   allocs_per_join    allocating calls during one fib(20), computed by recursive fork-join
//       with no cutoff as in the fib suite, / its non-leaf calls (10,945, one join each,
//       whatever a system spawns per call); bytes_per_join the bytes asked for, likewise.
//       After one warm-up fib(20); the target for forage is 0 (join's tasks live on
//       the joining frame's stack).
//   allocs_per_submit  allocating calls while 10,000 tasks are handed over from the benchmark
//       thread and waited for, / 10,000; bytes_per_submit likewise. After a warm-up of the
//       same (until a window allocates nothing, kMinWarmUps to kMaxWarmUps windows: the
//       steady state). forage's target is 0 for small tasks: the
//       task and its future's state are one block of its block allocator
//       (include/forage/detail/block_alloc.hpp), whose per-thread caches recycle blocks freed
//       on any thread, so only the warm-up calls malloc. The spawn and task_group rows count
//       the same for fire-and-forget spawns and TaskGroup::spawn.
// The window is the computation alone: each system's threads are started and warmed before
// it, and the benchmark library runs nothing inside it. It closes after the system's own wait
// (get() of every future, wait_idle(), task_group::wait(), the end of the parallel region),
// which orders every allocation the window's tasks made before the count is read.
//
// Benchmarks "alloc/<system>/workers:<n>/<table>/<variant>": <table> is join or submit
// (tools/forage-bench prints one table each), <variant> the API used (the join rows run the fib
// suite's recursions and runners, bench/common/fib.hpp):
//   join/join      forage, single_queue_locked, single_queue_lock_free: forage::join(pool, ...)
//       enters the pool once, then forage::join(a, b) on the workers (as in fib).
//   join/task_group       onetbb: two task_group::run per call, then wait() (oneTBB's Fib
//       example), inside task_arena::execute on a TbbArena of `workers` slots.
//   join/parallel_invoke  onetbb: tbb::parallel_invoke of the two calls, likewise.
//   join/task      openmp: `omp task` for each half and `omp taskwait`, under `omp parallel
//       num_threads(workers)` + `omp single`.
//   submit/submit  forage and the SingleQueuePools: pool.submit(ReturnOne{}) x 10,000, the
//       futures kept in a reserved vector, get() each, then wait_idle().
//   submit/spawn   forage and the SingleQueuePools: pool.spawn(count) x 10,000, then
//       wait_idle() (every block is freed by a worker, none by the benchmark thread).
//   submit/task_group  onetbb as below; forage and the SingleQueuePools: a forage::TaskGroup
//       on the pool, group.spawn(count) x 10,000 from the benchmark thread, then wait().
//   submit/submit  rvaser_thread_pool: thread_pool::ThreadPool::Submit(ReturnOne{}) x 10,000,
//       the std::futures kept, get() each (Submit makes a std::packaged_task behind a
//       std::shared_ptr and queues a std::function holding it).
//   submit/task_group  onetbb: task_group::run x 10,000 then wait(), inside
//       task_arena::execute (the benchmark thread joins the arena as in the submit suite).
//   submit/task    openmp: `omp task` x 10,000 then `omp taskwait`, in `omp parallel` + `omp
//       single`; the region is part of the window (once per 10,000 tasks).
//
// What the counts mean for the peers:
//   oneTBB takes its task objects from a per-thread small-object pool, which recycles them
//   (a task freed by another thread goes back to its owner's pool) and only grows when it
//   runs dry. Its blocks come from libtbbmalloc (libtbb dlopen's it where installed, as
//   Debian's libtbbmalloc2 is) rather than from malloc, so that growth is not counted here.
//   Checked once with gdb breakpoints on scalable_malloc and scalable_aligned_malloc (oneTBB
//   2021.8, Debian 12): 3 windows and 10 windows made the same number of calls (10,081 for
//   the submit benchmarks, about 140 for the join ones): the pools grow in the warm-up only.
//   OpenMP is the compiler's runtime. libgomp (g++) mallocs each deferred task (with its
//   firstprivate data) and frees it when done, two per fib call here. When more than 64 tasks per
//   thread are queued it runs a new task at once, undeferred and without allocating (its throttle),
//   so in the submit table, where one thread creates 10,000 tasks in a row, most tasks are never
//   allocated. libomp (clang++) takes tasks from its own per-thread free lists, so its counts are
//   near 0.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"
#include "common/fib.hpp"
#include "common/peers.hpp"

// This binary's malloc family, defined here and only here; after every other header, since
// some redeclare those functions (clang's <mm_malloc.h> declares posix_memalign without
// glibc's noexcept, which clang accepts before a definition but not after it).
#include "common/counting_malloc.hpp"

namespace {

using forage::bench::AllocationCount;
using forage::bench::fibonacci;
using forage::bench::joins_of;

constexpr int kFibN = 20;                   // 10,945 joins
constexpr std::uint64_t kSubmits = 10'000;  // per window
constexpr std::int64_t kWindows = 10;       // windows (benchmark iterations) per benchmark
constexpr std::int64_t kQuickWindows = 3;
// Windows run before the counted ones: at least kMinWarmUps, then more until one makes no
// allocation, at most kMaxWarmUps. How many blocks a window needs at once depends on how far
// the benchmark thread gets ahead of the workers, which varies between windows; caches that
// recycle blocks stop growing once they covered the largest such peak (the steady state).
constexpr int kMinWarmUps = 2;
constexpr int kMaxWarmUps = 10;

// The task of the submit table: empty, returning int (the 1s are summed to check that every
// future delivered).
struct ReturnOne {
  int operator()() const noexcept { return 1; }
};

// --- The systems ------------------------------------------------------------------------------
//
// A Runner owns what one system needs for one benchmark: start() builds it (false, with the
// benchmark skipped, on failure). The join Runners are the fib suite's (bench/common/fib.hpp):
// fib(n) computes fib(n) from the benchmark thread. A submit Runner's submit_all(count) hands
// over `count` tasks from the benchmark thread, waits for all of them and returns how many ran.

template <class System>
class ForageSubmit : public forage::bench::ForagePoolRunner<System> {
 public:
  static constexpr const char* kSystem = System::kName;
  static constexpr const char* kVariant = "submit";

  explicit ForageSubmit(std::size_t workers) : forage::bench::ForagePoolRunner<System>(workers) {
    pending_.reserve(kSubmits);
  }

  std::uint64_t submit_all(std::uint64_t count) {
    for (std::uint64_t i = 0; i < count; ++i) pending_.push_back(this->pool_->submit(ReturnOne{}));
    std::uint64_t sum = 0;
    for (auto& future : pending_) sum += static_cast<std::uint64_t>(future.get());
    pending_.clear();  // empty futures: nothing to free
    // Whatever the workers still do for these tasks (nothing that allocates, by design) is
    // over, and ordered before the count is read.
    this->pool_->wait_idle();
    return sum;
  }

 private:
  std::vector<forage::Future<int>> pending_;  // a member of the derived class: ends before the pool
};

// Fire-and-forget tasks, counted per worker (bench_support.hpp's WorkerCounters).
template <class System>
class ForageSpawn : public forage::bench::ForagePoolRunner<System> {
 public:
  static constexpr const char* kSystem = System::kName;
  static constexpr const char* kVariant = "spawn";

  using forage::bench::ForagePoolRunner<System>::ForagePoolRunner;

  std::uint64_t submit_all(std::uint64_t count) {
    this->counters_.reset();
    for (std::uint64_t i = 0; i < count; ++i) {
      this->pool_->spawn([] { forage::bench::WorkerCounters::count_one(); });
    }
    this->pool_->wait_idle();
    return this->counters_.sum();
  }
};

// TaskGroup::spawn from the benchmark thread, then wait().
template <class System>
class ForageTaskGroup : public forage::bench::ForagePoolRunner<System> {
 public:
  static constexpr const char* kSystem = System::kName;
  static constexpr const char* kVariant = "task_group";

  using forage::bench::ForagePoolRunner<System>::ForagePoolRunner;

  std::uint64_t submit_all(std::uint64_t count) {
    this->counters_.reset();
    {
      forage::TaskGroup group(*this->pool_);
      for (std::uint64_t i = 0; i < count; ++i) {
        group.spawn([] { forage::bench::WorkerCounters::count_one(); });
      }
      group.wait();
    }
    // The workers' last steps after each task (nothing that allocates) are over too.
    this->pool_->wait_idle();
    return this->counters_.sum();
  }
};

#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
class RvaserSubmit {
 public:
  static constexpr const char* kSystem = "rvaser_thread_pool";
  static constexpr const char* kVariant = "submit";

  explicit RvaserSubmit(std::size_t workers) : workers_(workers) { pending_.reserve(kSubmits); }

  bool start(benchmark::State& state) {
    pool_ = forage::bench::make_rvaser_pool(state, workers_);
    return pool_ != nullptr;
  }

  // No wait_idle() in this pool: get() happens-after the task's result was set, and what its
  // thread does after that (destroying the std::function, so the packaged_task) frees only.
  std::uint64_t submit_all(std::uint64_t count) {
    for (std::uint64_t i = 0; i < count; ++i) pending_.push_back(pool_->Submit(ReturnOne{}));
    std::uint64_t sum = 0;
    for (auto& future : pending_) sum += static_cast<std::uint64_t>(future.get());
    pending_.clear();
    return sum;
  }

 private:
  std::size_t workers_;
  std::unique_ptr<thread_pool::ThreadPool> pool_;
  std::vector<std::future<int>> pending_;
};
#endif

#if defined(FORAGE_HAVE_ONETBB) || defined(FORAGE_HAVE_OPENMP)
// The peers' submit tasks mark a byte each (distinct bytes: no race); the marks are summed
// after the peer's wait, which happens-after every task.
std::uint64_t count_marks(const std::vector<std::uint8_t>& marks) {
  std::uint64_t total = 0;
  for (const std::uint8_t mark : marks) total += mark;
  return total;
}
#endif

#ifdef FORAGE_HAVE_ONETBB
class TbbSubmit {
 public:
  static constexpr const char* kSystem = "onetbb";
  static constexpr const char* kVariant = "task_group";

  explicit TbbSubmit(std::size_t workers) : workers_(workers), ran_(kSubmits) {}

  bool start(benchmark::State& state) { return tbb_.start(state, workers_); }

  std::uint64_t submit_all(std::uint64_t count) {
    std::fill(ran_.begin(), ran_.end(), std::uint8_t{0});
    tbb_.arena().execute([this, count] {
      tbb::task_group group;
      for (std::uint64_t i = 0; i < count; ++i) group.run([mark = &ran_[i]] { *mark = 1; });
      group.wait();
    });
    return count_marks(ran_);
  }

 private:
  std::size_t workers_;
  std::vector<std::uint8_t> ran_;  // declared before the arena: outlives its threads' tasks
  forage::bench::TbbArena tbb_;
};
#endif

#ifdef FORAGE_HAVE_OPENMP
class OpenMpSubmit : public forage::bench::OpenMpTeamRunner {
 public:
  static constexpr const char* kSystem = "openmp";
  static constexpr const char* kVariant = "task";

  explicit OpenMpSubmit(std::size_t workers) : OpenMpTeamRunner(workers), ran_(kSubmits) {}

  std::uint64_t submit_all(std::uint64_t count) {
    std::fill(ran_.begin(), ran_.end(), std::uint8_t{0});
    std::uint8_t* marks = ran_.data();
#pragma omp parallel num_threads(workers_) firstprivate(marks, count)
    {
#pragma omp single
      {
        for (std::uint64_t i = 0; i < count; ++i) {
          std::uint8_t* mark = marks + i;
#pragma omp task firstprivate(mark)
          *mark = 1;
        }
#pragma omp taskwait
      }
    }
    return count_marks(ran_);
  }

 private:
  std::vector<std::uint8_t> ran_;
};
#endif

// --- The benchmarks ---------------------------------------------------------------------------

double per(std::uint64_t count, std::uint64_t units) {
  return static_cast<double>(count) / static_cast<double>(units);
}

template <class Runner>
void allocs_per_join(benchmark::State& state, std::size_t workers) {
  Runner runner(workers);
  if (!runner.start(state)) return;
  // Warm-up: threads running, deques and task pools grown, allocator caches filled.
  const std::uint64_t expected = fibonacci(kFibN);
  if (!forage::bench::check_count(state, "warm-up fib", runner.fib(kFibN), expected)) return;

  AllocationCount counted;
  for (auto _ : state) {
    const AllocationCount before = forage::bench::allocation_count();
    const std::uint64_t result = runner.fib(kFibN);
    counted = counted + (forage::bench::allocation_count() - before);
    if (!forage::bench::check_count(state, "fib", result, expected)) return;
  }

  const std::uint64_t joins = joins_of(kFibN) * static_cast<std::uint64_t>(state.iterations());
  if (joins == 0) {
    state.SkipWithError("no fib ran");
    return;
  }
  state.counters["allocs_per_join"] = per(counted.calls, joins);
  state.counters["bytes_per_join"] = per(counted.bytes, joins);
  state.counters["joins_per_run"] = static_cast<double>(joins_of(kFibN));
}

template <class Runner>
void allocs_per_submit(benchmark::State& state, std::size_t workers) {
  Runner runner(workers);
  if (!runner.start(state)) return;
  // Warm-up windows of the same size: queues, task pools and allocator caches as deep as a
  // window needs.
  for (int warm_up = 0; warm_up < kMaxWarmUps; ++warm_up) {
    const AllocationCount before = forage::bench::allocation_count();
    if (!forage::bench::check_count(state, "warm-up tasks", runner.submit_all(kSubmits),
                                    kSubmits)) {
      return;
    }
    if (warm_up + 1 >= kMinWarmUps && forage::bench::allocation_count().calls == before.calls) {
      break;
    }
  }

  AllocationCount counted;
  for (auto _ : state) {
    const AllocationCount before = forage::bench::allocation_count();
    const std::uint64_t ran = runner.submit_all(kSubmits);
    counted = counted + (forage::bench::allocation_count() - before);
    if (!forage::bench::check_count(state, "tasks", ran, kSubmits)) return;
  }

  const std::uint64_t submits = kSubmits * static_cast<std::uint64_t>(state.iterations());
  if (submits == 0) {
    state.SkipWithError("no submits ran");
    return;
  }
  state.counters["allocs_per_submit"] = per(counted.calls, submits);
  state.counters["bytes_per_submit"] = per(counted.bytes, submits);
  state.counters["submits_per_run"] = static_cast<double>(kSubmits);
}

// Calls fn(std::type_identity<Runner>{}) for each submit runner, in table order.
template <class Fn>
void for_each_submit_runner(Fn&& fn) {
  forage::bench::for_each_pool_runner<ForageSubmit>(fn);
  forage::bench::for_each_pool_runner<ForageSpawn>(fn);
  forage::bench::for_each_pool_runner<ForageTaskGroup>(fn);
#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
  fn(std::type_identity<RvaserSubmit>{});
#endif
#ifdef FORAGE_HAVE_ONETBB
  fn(std::type_identity<TbbSubmit>{});
#endif
#ifdef FORAGE_HAVE_OPENMP
  fn(std::type_identity<OpenMpSubmit>{});
#endif
}

// Registers run(state, workers) as "alloc/<system>/workers:<n>/<table>/<variant>" for each
// worker count.
template <class Run>
void register_table_row(const char* system, const char* table, const char* variant,
                        std::int64_t windows, Run run) {
  forage::bench::register_per_worker_count(
      "alloc", system, std::string(table) + "/" + variant, run,
      [windows](benchmark::internal::Benchmark* b) {
        b->UseRealTime()->Iterations(windows)->Unit(benchmark::kMillisecond);
      });
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const std::int64_t windows = forage::bench::quick_mode() ? kQuickWindows : kWindows;

  forage::bench::for_each_fib_runner([windows](auto runner) {
    using Runner = typename decltype(runner)::type;
    register_table_row(Runner::kSystem, "join", Runner::kVariant, windows,
                       [](benchmark::State& state, std::size_t workers) {
                         allocs_per_join<Runner>(state, workers);
                       });
  });
  for_each_submit_runner([windows](auto runner) {
    using Runner = typename decltype(runner)::type;
    register_table_row(Runner::kSystem, "submit", Runner::kVariant, windows,
                       [](benchmark::State& state, std::size_t workers) {
                         allocs_per_submit<Runner>(state, workers);
                       });
  });
  return forage::bench::run_registered(argc, argv);
}
