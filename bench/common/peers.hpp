// Setting up the peer schedulers the fork-join and map suites compare with, the same way in
// every suite: a oneTBB arena of exactly `workers` threads, an OpenMP team of that size.
// Compiled in where the peer was found (FORAGE_HAVE_ONETBB, FORAGE_HAVE_OPENMP).
#pragma once

#include <exception>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>

#ifdef FORAGE_HAVE_ONETBB
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#endif

#ifdef FORAGE_HAVE_OPENMP
#include <omp.h>
#endif

namespace forage::bench {

#ifdef FORAGE_HAVE_ONETBB
// The arena is the documented way to run at a given concurrency; the global_control keeps
// the process's thread count at `workers` as well, so a second arena could not borrow more.
class TbbArena {
 public:
  // False, with the benchmark skipped, when the arena cannot have `workers` threads.
  bool start(benchmark::State& state, std::size_t workers) {
    try {
      control_ = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                       workers);
      arena_ = std::make_unique<tbb::task_arena>(static_cast<int>(workers));
      arena_->initialize();
    } catch (const std::exception& error) {
      state.SkipWithError((std::string("cannot build the arena: ") + error.what()).c_str());
      return false;
    }
    if (arena_->max_concurrency() != static_cast<int>(workers)) {
      state.SkipWithError(("asked for " + std::to_string(workers) + " threads, the arena has " +
                           std::to_string(arena_->max_concurrency()))
                              .c_str());
      return false;
    }
    return true;
  }

  tbb::task_arena& arena() { return *arena_; }

 private:
  std::unique_ptr<tbb::global_control> control_;
  std::unique_ptr<tbb::task_arena> arena_;  // declared after the control: ends before it
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
#endif

}  // namespace forage::bench
