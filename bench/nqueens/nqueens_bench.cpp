// nqueens: an irregular, shallow task tree. The solutions of N-queens(12) (14,200; quick:
// N = 10, 724) counted by backtracking with a task per placement: a task holding queens on
// rows [0, r) spawns one child task for each column of row r that no queen attacks, each child
// counts the solutions below its placement into a slot its parent owns (one per column, no
// shared counter), and the parent waits for its children and adds their slots. A placement on
// the last row is a task that returns 1. The tree is at most N deep, and its fan-out falls
// from N at the root to 0 or 1 near the leaves, so the tasks are tiny and uneven: most of the
// work is spawning, waiting and stealing. The board is three bitmasks (columns and the two
// diagonals) copied into each child.
//
// Figures, over kRuns solves per benchmark run: ms_per_run (wall time of one solve, entered
// from the benchmark thread; lower is better) and ns_per_task (that time / the tasks spawned
// per solve, i.e. the placements: 856,188 for N = 12, counted by a serial pass; lower is
// better). Also tasks_per_run, and for forage::Pool stolen_per_run and parks_per_run
// (PoolStats: tasks a worker took from another worker's deque, times a worker went to sleep).
//
// Benchmarks "nqueens/<system>/workers:<n>", the same tree on every system:
//   forage, single_queue_locked, single_queue_lock_free
//       One pool.submit(...).get() per solve enters the pool from the benchmark thread; below
//       that every node is a forage::TaskGroup with one spawn per child, then wait(), which
//       runs other tasks meanwhile (help-while-wait). On Pool a spawn goes to the worker's
//       deque and idle workers steal; on a SingleQueuePool every spawn goes through the one
//       shared queue (the baseline: no per-worker deque, nothing to steal), whose workers
//       get deep stacks (DeepStackSystem, bench/common/bench_support.hpp).
//   onetbb   a tbb::task_group per node, task_group::run per child, then wait(), inside a
//       tbb::task_arena of `workers` slots (bench/common/peers.hpp TbbArena).
//   openmp   `omp task` per child (the slots shared, the board firstprivate), then
//       `omp taskwait`, under `omp parallel num_threads(workers)` + `omp single`. libgomp runs
//       a task inline once a team has more than 64 queued tasks per thread (its own throttle).
//   rvaser_thread_pool does not apply: a task of thread_pool::ThreadPool can wait for its
//       children only by blocking its worker in std::future::get, and once every worker is
//       blocked so, the children still queued never run: it deadlocks as soon as as many
//       nodes wait at once as there are workers.
// Peers are compiled in where found (FORAGE_HAVE_ONETBB, FORAGE_HAVE_OPENMP). Their threads
// are not pinned; forage's are (one per core, the default). With forage the benchmark thread
// waits while `workers` workers compute; with oneTBB and OpenMP the calling thread is one of
// the `workers` threads.
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"
#include "common/peers.hpp"
#include "forage/join.hpp"

namespace {

using forage::bench::Clock;

constexpr int kN = 12;       // 14,200 solutions, 856,188 placements
constexpr int kQuickN = 10;  // 724 solutions, 35,538 placements
constexpr int kMaxN = 16;    // the board is three 32-bit masks; a node keeps one slot per column
// Timed solves per benchmark run (after one warm-up solve): with 5 repetitions a default run
// of the binary at 1 and 2 workers stays well under a minute.
constexpr std::int64_t kRuns = 3;

// Solutions of N-queens for N = 1 .. kMaxN (OEIS A000170): checks the serial count.
constexpr std::array<std::uint64_t, kMaxN + 1> kKnownSolutions = {
    0, 1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2680, 14200, 73712, 365596, 2279184, 14772512};

// --- The board --------------------------------------------------------------------------------

// Queens on rows [0, row): the columns they hold and the squares of row `row` their two
// diagonals attack, one bit per column.
struct Board {
  int n = 0;
  int row = 0;
  std::uint32_t columns = 0;
  std::uint32_t left = 0;   // down-left diagonals: shift left one column per row
  std::uint32_t right = 0;  // down-right diagonals: shift right one column per row

  bool complete() const noexcept { return row == n; }

  std::uint32_t all() const noexcept { return (std::uint32_t{1} << n) - 1; }

  // The columns of row `row` no queen attacks.
  std::uint32_t free_columns() const noexcept { return ~(columns | left | right) & all(); }

  Board place(int column) const noexcept {
    const std::uint32_t bit = std::uint32_t{1} << column;
    return {n, row + 1, columns | bit, ((left | bit) << 1) & all(), (right | bit) >> 1};
  }
};

// Calls fn(column) for each free column of the board's next row, lowest first.
template <class Fn>
void for_each_free_column(const Board& board, Fn&& fn) {
  for (std::uint32_t free = board.free_columns(); free != 0; free &= free - 1) {
    fn(std::countr_zero(free));
  }
}

// The children's results: slot c is written by the child that placed a queen in column c,
// read by the parent after it waited for them all.
using Slots = std::array<std::uint64_t, kMaxN>;

std::uint64_t sum(const Slots& slots) { return std::accumulate(slots.begin(), slots.end(), 0ull); }

struct Census {
  std::uint64_t solutions = 0;
  std::uint64_t placements = 0;  // the tasks a parallel solve spawns
};

void census(const Board& board, Census& out) {
  if (board.complete()) {
    ++out.solutions;
    return;
  }
  for_each_free_column(board, [&](int column) {
    ++out.placements;
    census(board.place(column), out);
  });
}

// The serial count for n, computed once per n (benchmarks run one at a time, on one thread).
const Census& serial_census(int n) {
  static std::map<int, Census> cache;
  const auto [entry, inserted] = cache.try_emplace(n);
  if (inserted) census(Board{n}, entry->second);
  return entry->second;
}

// --- The recursions ---------------------------------------------------------------------------

template <class PoolType>
std::uint64_t solve_group(PoolType& pool, const Board& board) {
  if (board.complete()) return 1;
  Slots found{};
  {
    forage::TaskGroup group(pool);
    for_each_free_column(board, [&](int column) {
      group.spawn([&pool, &found, column, next = board.place(column)] {
        found[static_cast<std::size_t>(column)] = solve_group(pool, next);
      });
    });
    group.wait();
  }
  return sum(found);
}

#ifdef FORAGE_HAVE_ONETBB
std::uint64_t solve_task_group(const Board& board) {
  if (board.complete()) return 1;
  Slots found{};
  tbb::task_group group;
  for_each_free_column(board, [&](int column) {
    group.run([&found, column, next = board.place(column)] {
      found[static_cast<std::size_t>(column)] = solve_task_group(next);
    });
  });
  group.wait();
  return sum(found);
}
#endif

#ifdef FORAGE_HAVE_OPENMP
std::uint64_t solve_omp_task(const Board& board) {
  if (board.complete()) return 1;
  Slots found{};
  for (std::uint32_t free = board.free_columns(); free != 0; free &= free - 1) {
    const int column = std::countr_zero(free);
    const Board next = board.place(column);
#pragma omp task shared(found) firstprivate(column, next)
    found[static_cast<std::size_t>(column)] = solve_omp_task(next);
  }
#pragma omp taskwait
  return sum(found);
}
#endif

// --- The systems ------------------------------------------------------------------------------
//
// A Runner owns what one system needs for one benchmark: start() builds it (false, with the
// benchmark skipped, on failure), solve(board) counts the board's solutions from the
// benchmark thread.

template <class System>
class ForageRunner : public forage::bench::TreePoolRunner<System> {
 public:
  using forage::bench::TreePoolRunner<System>::TreePoolRunner;

  std::uint64_t solve(const Board& board) {
    auto& pool = *this->pool_;
    return pool.submit([&pool, board] { return solve_group(pool, board); }).get();
  }
};

#ifdef FORAGE_HAVE_ONETBB
class OneTbbRunner : public forage::bench::TbbArenaRunner {
 public:
  static constexpr const char* kSystem = "onetbb";

  using TbbArenaRunner::TbbArenaRunner;

  std::uint64_t solve(const Board& board) {
    return arena().execute([&board] { return solve_task_group(board); });
  }
};
#endif

#ifdef FORAGE_HAVE_OPENMP
class OpenMpRunner : public forage::bench::OpenMpTeamRunner {
 public:
  static constexpr const char* kSystem = "openmp";

  using OpenMpTeamRunner::OpenMpTeamRunner;

  std::uint64_t solve(const Board& board) const {
    return single([&board] { return solve_omp_task(board); });
  }
};
#endif

// Calls fn(std::type_identity<Runner>{}) for each system, in table order.
template <class Fn>
void for_each_runner(Fn&& fn) {
  forage::bench::for_each_pool_runner<ForageRunner>(fn);
#ifdef FORAGE_HAVE_ONETBB
  fn(std::type_identity<OneTbbRunner>{});
#endif
#ifdef FORAGE_HAVE_OPENMP
  fn(std::type_identity<OpenMpRunner>{});
#endif
}

// --- The benchmark ----------------------------------------------------------------------------

template <class Runner>
void nqueens(benchmark::State& state, std::size_t workers, int n) {
  const Census& expected = serial_census(n);
  if (!forage::bench::check_count(state, "serial solutions", expected.solutions,
                                  kKnownSolutions[static_cast<std::size_t>(n)])) {
    return;
  }
  Runner runner(workers);
  if (!runner.start(state)) return;
  // Warm-up of the measured size: threads running, deques, task pools and allocator caches
  // grown, and the worker stacks touched as deep as a run goes.
  if (!forage::bench::check_count(state, "warm-up solutions", runner.solve(Board{n}),
                                  expected.solutions)) {
    return;
  }
  const forage::PoolStats before = runner.stats();

  const std::optional<Clock::duration> elapsed = forage::bench::time_checked_runs(
      state, "solutions", expected.solutions, [&runner, n] { return runner.solve(Board{n}); });
  if (!elapsed) return;

  const auto iterations = static_cast<std::uint64_t>(state.iterations());
  const auto per_run = [iterations](auto count) {
    return static_cast<double>(count) / static_cast<double>(iterations);
  };
  const double ns = forage::bench::to_ns(*elapsed);
  state.SetItemsProcessed(static_cast<std::int64_t>(expected.placements * iterations));
  state.counters["ms_per_run"] = per_run(ns) * 1e-6;
  state.counters["ns_per_task"] = per_run(ns) / static_cast<double>(expected.placements);
  state.counters["tasks_per_run"] = static_cast<double>(expected.placements);
  state.counters["solutions"] = static_cast<double>(expected.solutions);
  if (runner.has_stats()) {
    const forage::PoolStats after = runner.stats();
    state.counters["stolen_per_run"] = per_run(after.stolen() - before.stolen());
    state.counters["parks_per_run"] = per_run(after.parks() - before.parks());
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const int n = forage::bench::quick_mode() ? kQuickN : kN;
  for_each_runner([n](auto runner) {
    using Runner = typename decltype(runner)::type;
    forage::bench::register_per_worker_count(
        "nqueens", Runner::kSystem, {},
        [n](benchmark::State& state, std::size_t workers) { nqueens<Runner>(state, workers, n); },
        [](benchmark::internal::Benchmark* b) {
          b->UseRealTime()->Iterations(kRuns)->Unit(benchmark::kMillisecond);
        });
  });
  return forage::bench::run_registered(argc, argv);
}
