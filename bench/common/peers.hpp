// Setting up the peer schedulers the suites compare with, the same way in every suite: a oneTBB
// arena of exactly `workers` threads (TbbArena for a caller that joins in, TbbOutsideArena for
// work arriving from outside), an OpenMP team of that size, rvaser's thread_pool::ThreadPool of
// that many threads. Compiled in where the peer was found (FORAGE_HAVE_ONETBB,
// FORAGE_HAVE_OPENMP, FORAGE_HAVE_RVASER_THREAD_POOL); includes the peer headers every suite
// uses (task_arena and task_group, omp.h, thread_pool.hpp), so a suite includes only those
// particular to it.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"

#ifdef FORAGE_HAVE_ONETBB
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#endif

#ifdef FORAGE_HAVE_OPENMP
#include <omp.h>
#endif

#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
#include <future>

#include <thread_pool/thread_pool.hpp>
#endif

namespace forage::bench {

#ifdef FORAGE_HAVE_ONETBB
namespace detail {

// Builds a global_control capping the process at `threads` threads and a task_arena of
// `workers` slots, `reserved` of them kept for threads that join in (attaching `scheduler`
// first where given). False, with the benchmark skipped, when the arena cannot have `workers`.
inline bool build_arena(benchmark::State& state, std::size_t threads, std::size_t workers,
                        unsigned reserved, tbb::task_scheduler_handle* scheduler,
                        std::unique_ptr<tbb::global_control>& control,
                        std::unique_ptr<tbb::task_arena>& arena) {
  try {
    if (scheduler != nullptr) *scheduler = tbb::task_scheduler_handle(tbb::attach{});
    control = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                    threads);
    arena = std::make_unique<tbb::task_arena>(static_cast<int>(workers), reserved);
    arena->initialize();
  } catch (const std::exception& error) {
    state.SkipWithError((std::string("cannot build the arena: ") + error.what()).c_str());
    return false;
  }
  if (arena->max_concurrency() != static_cast<int>(workers)) {
    state.SkipWithError(("asked for " + std::to_string(workers) + " threads, the arena has " +
                         std::to_string(arena->max_concurrency()))
                            .c_str());
    return false;
  }
  return true;
}

}  // namespace detail

// The arena is the documented way to run at a given concurrency; the global_control keeps
// the process's thread count at `workers` as well, so a second arena could not borrow more.
// A caller that joins in (task_arena::execute) takes one of the `workers` slots.
class TbbArena {
 public:
  // False, with the benchmark skipped, when the arena cannot have `workers` threads.
  bool start(benchmark::State& state, std::size_t workers) {
    return detail::build_arena(state, workers, workers, 1, nullptr, control_, arena_);
  }

  tbb::task_arena& arena() { return *arena_; }

 private:
  std::unique_ptr<tbb::global_control> control_;
  std::unique_ptr<tbb::task_arena> arena_;  // declared after the control: ends before it
};

// What a suite's runner on a TbbArena holds, for runners that hold nothing else (the arena's
// threads must not outlive a member of the runner their tasks use): start() as TbbArena's,
// no pool counters (has_stats() false). The runner derives from it and calls arena().
class TbbArenaRunner {
 public:
  explicit TbbArenaRunner(std::size_t workers) : workers_(workers) {}

  bool start(benchmark::State& state) { return tbb_.start(state, workers_); }

  bool has_stats() const { return false; }
  PoolStats stats() const { return {}; }

 protected:
  tbb::task_arena& arena() { return tbb_.arena(); }

 private:
  std::size_t workers_;
  TbbArena tbb_;
};

// For work arriving from outside (arena.enqueue from a thread that does not join in): a
// tbb::task_arena(workers, 0) under a tbb::global_control capping the process at workers + 1
// threads, so `workers` worker threads and no slot kept for the submitting thread (TbbArena
// keeps one, which would leave workers - 1 for outside work). The destructor joins the workers
// (tbb::finalize), so that the next benchmark sees none of them: declare it after everything
// its tasks touch.
class TbbOutsideArena {
 public:
  TbbOutsideArena() = default;
  TbbOutsideArena(const TbbOutsideArena&) = delete;
  TbbOutsideArena& operator=(const TbbOutsideArena&) = delete;

  // Arena and control go first: finalize waits only once nothing holds the scheduler.
  ~TbbOutsideArena() {
    arena_.reset();
    control_.reset();
    (void)tbb::finalize(scheduler_, std::nothrow);
  }

  // False, with the benchmark skipped, when the arena cannot have `workers` threads.
  bool start(benchmark::State& state, std::size_t workers) {
    return detail::build_arena(state, workers + 1, workers, 0, &scheduler_, control_, arena_);
  }

  tbb::task_arena& arena() { return *arena_; }

 private:
  tbb::task_scheduler_handle scheduler_;
  std::unique_ptr<tbb::global_control> control_;
  std::unique_ptr<tbb::task_arena> arena_;
};
#endif

#ifdef FORAGE_HAVE_OPENMP
// False, with the benchmark skipped, when OpenMP does not give a team of `workers` threads.
inline bool openmp_team_matches(benchmark::State& state, int workers) {
  int team = 0;
#pragma omp parallel num_threads(workers)
  {
#pragma omp single
    team = omp_get_num_threads();
  }
  if (team == workers) return true;
  state.SkipWithError(
      ("asked for " + std::to_string(workers) + " threads, the team has " + std::to_string(team))
          .c_str());
  return false;
}

// fn() run by one thread of an `omp parallel num_threads(workers)` team (`omp single`), the
// team running the tasks it makes; returns what fn returned. The calling thread is one of the
// team.
template <class Fn>
auto openmp_single(int workers, const Fn& fn) {
  decltype(fn()) result{};
#pragma omp parallel num_threads(workers)
  {
#pragma omp single
    result = fn();
  }
  return result;
}

// What a suite's runner on an OpenMP team of `workers` threads holds: start() checks the team
// (openmp_team_matches), no pool counters (has_stats() false). The runner derives from it and
// opens its own regions with workers_ threads, or calls single().
class OpenMpTeamRunner {
 public:
  explicit OpenMpTeamRunner(std::size_t workers) : workers_(static_cast<int>(workers)) {}

  bool start(benchmark::State& state) { return openmp_team_matches(state, workers_); }

  bool has_stats() const { return false; }
  PoolStats stats() const { return {}; }

 protected:
  // openmp_single on this runner's team.
  template <class Fn>
  auto single(const Fn& fn) const {
    return openmp_single(workers_, fn);
  }

  int workers_;
};
#endif

#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
// thread_pool::ThreadPool(workers); null, with the benchmark skipped, when it cannot be built
// or does not have `workers` threads.
inline std::unique_ptr<thread_pool::ThreadPool> make_rvaser_pool(benchmark::State& state,
                                                                 std::size_t workers) {
  std::unique_ptr<thread_pool::ThreadPool> pool;
  try {
    pool = std::make_unique<thread_pool::ThreadPool>(workers);
  } catch (const std::exception& error) {
    state.SkipWithError((std::string("cannot build the pool: ") + error.what()).c_str());
    return nullptr;
  }
  if (pool->num_threads() != workers) {
    state.SkipWithError(("asked for " + std::to_string(workers) + " threads, the pool has " +
                         std::to_string(pool->num_threads()))
                            .c_str());
    return nullptr;
  }
  return pool;
}
#endif

}  // namespace forage::bench
