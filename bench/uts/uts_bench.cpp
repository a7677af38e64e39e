// uts: unbalanced tree search, the classic work-stealing benchmark. A tree nobody can know the
// shape of before walking it is walked with a task per node, and the nodes counted.
//
// The tree (after UTS T1, a geometric tree): a node is a 64-bit hash and a depth. The root's
// hash is splitmix64(kSeed); child i of a node hashes splitmix64(parent + (i + 1) * golden
// ratio). A node above the depth limit has m children, m drawn from a geometric distribution
// of mean 4 (P(m = k) = 0.2 * 0.8^k) by its hash: m = floor(log(1 - u) / log(0.8)), u the
// top 53 bits of the hash in [0, 1); a node at the limit has none. So the work per node is a
// hash and a log, a fifth of the nodes above the limit are leaves, one in 400 has more than 26
// children, and the subtrees' sizes vary by orders of magnitude. Seed 19 (T1's) with depth
// limit 11 gives 4,742,228 nodes (quick: limit 9, 296,996 nodes); every run is checked
// against a serial count of the same tree, computed once.
//
// Every node is a task: it computes its child count, spawns a task per child, waits for them,
// and returns 1 + their counts, each child writing into a slot its parent owns (16 on the
// parent's stack, a heap array for a node with more), so no shared counter.
//
// Figures: Mnodes_per_s (nodes / wall time of one walk, entered from the benchmark thread;
// higher is better) and ms_per_run (lower is better), over kRuns walks per benchmark run.
// Also nodes_per_run, and for forage::Pool stolen_per_run and parks_per_run (PoolStats: tasks
// a worker took from another worker's deque, times a worker went to sleep).
//
// Benchmarks "uts/<system>/workers:<n>", the same tree on every system:
//   forage, single_queue_locked, single_queue_lock_free
//       One pool.submit(...).get() per walk enters the pool from the benchmark thread; below
//       that every node with children is a forage::TaskGroup with one spawn per child, then
//       wait(), which runs other tasks meanwhile (help-while-wait). On Pool a spawn goes to the
//       worker's deque and idle workers steal; on a SingleQueuePool every spawn goes through
//       the one shared queue (the baseline: no per-worker deque, nothing to steal), whose
//       workers get deep stacks (DeepStackSystem, bench/common/bench_support.hpp).
//   onetbb   a tbb::task_group per node, task_group::run per child, then wait(), inside a
//       tbb::task_arena of `workers` slots (bench/common/peers.hpp TbbArena).
//   openmp   `omp task` per child (the slots shared, the child firstprivate), then
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
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
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

constexpr std::uint64_t kSeed = 19;
constexpr int kDepthLimit = 11;      // 4,742,228 nodes
constexpr int kQuickDepthLimit = 9;  // 296,996 nodes
constexpr double kMeanChildren = 4.0;
// Timed walks per benchmark run (after one warm-up walk): a SingleQueuePool takes ~1-1.5 s a
// walk, so with 5 repetitions a default run of the binary at 1 and 2 workers takes ~1 minute.
constexpr std::int64_t kRuns = 1;

// --- The tree ---------------------------------------------------------------------------------

// splitmix64's finalizer: a bijection of 64-bit words whose outputs pass as random.
constexpr std::uint64_t mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct Node {
  std::uint64_t hash = 0;
  int depth = 0;
};

class Tree {
 public:
  explicit Tree(int depth_limit)
      : depth_limit_(depth_limit), log_more_(std::log(kMeanChildren / (1.0 + kMeanChildren))) {}

  int depth_limit() const noexcept { return depth_limit_; }

  Node root() const noexcept { return {mix(kSeed), 0}; }

  // Geometric, mean kMeanChildren: the number of failures before the first success of
  // probability 1 / (1 + mean), by inversion of u in [0, 1).
  int child_count(const Node& node) const noexcept {
    if (node.depth >= depth_limit_) return 0;
    const double u = static_cast<double>(node.hash >> 11) * 0x1.0p-53;
    return static_cast<int>(std::floor(std::log1p(-u) / log_more_));
  }

  static Node child(const Node& parent, int index) noexcept {
    constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;
    return {mix(parent.hash + kGolden * static_cast<std::uint64_t>(index + 1)), parent.depth + 1};
  }

 private:
  int depth_limit_;
  double log_more_;  // log(mean / (1 + mean)): log of the probability of one more child
};

// The children's counts: slot i is written by child i, read by the parent after it waited for
// them all. Most nodes have few children (P(m > 16) = 0.8^17, about 2%): those fit inline.
class ChildSlots {
 public:
  explicit ChildSlots(int count)
      : count_(static_cast<std::size_t>(count)),
        heap_(count_ > kInline ? std::make_unique<std::uint64_t[]>(count_) : nullptr),
        slots_(heap_ ? heap_.get() : inline_.data()) {}
  ChildSlots(const ChildSlots&) = delete;  // slots_ may point into the object itself
  ChildSlots& operator=(const ChildSlots&) = delete;

  std::uint64_t& operator[](int index) noexcept { return slots_[index]; }

  std::uint64_t sum() const noexcept { return std::accumulate(slots_, slots_ + count_, 0ull); }

 private:
  static constexpr std::size_t kInline = 16;

  std::size_t count_;
  std::array<std::uint64_t, kInline> inline_{};
  std::unique_ptr<std::uint64_t[]> heap_;  // make_unique<T[]> zero-fills
  std::uint64_t* slots_;
};

std::uint64_t count_serial(const Tree& tree, const Node& node) {
  std::uint64_t nodes = 1;
  const int children = tree.child_count(node);
  for (int i = 0; i < children; ++i) nodes += count_serial(tree, Tree::child(node, i));
  return nodes;
}

// The serial count, computed once per depth limit (benchmarks run one at a time, on one
// thread).
std::uint64_t serial_nodes(const Tree& tree) {
  static std::map<int, std::uint64_t> cache;
  const auto [entry, inserted] = cache.try_emplace(tree.depth_limit());
  if (inserted) entry->second = count_serial(tree, tree.root());
  return entry->second;
}

// --- The recursions ---------------------------------------------------------------------------

template <class PoolType>
std::uint64_t count_group(PoolType& pool, const Tree& tree, const Node& node) {
  const int children = tree.child_count(node);
  if (children == 0) return 1;
  ChildSlots counts(children);
  {
    forage::TaskGroup group(pool);
    for (int i = 0; i < children; ++i) {
      group.spawn([&pool, &tree, &counts, i, child = Tree::child(node, i)] {
        counts[i] = count_group(pool, tree, child);
      });
    }
    group.wait();
  }
  return 1 + counts.sum();
}

#ifdef FORAGE_HAVE_ONETBB
std::uint64_t count_task_group(const Tree& tree, const Node& node) {
  const int children = tree.child_count(node);
  if (children == 0) return 1;
  ChildSlots counts(children);
  tbb::task_group group;
  for (int i = 0; i < children; ++i) {
    group.run([&tree, &counts, i, child = Tree::child(node, i)] {
      counts[i] = count_task_group(tree, child);
    });
  }
  group.wait();
  return 1 + counts.sum();
}
#endif

#ifdef FORAGE_HAVE_OPENMP
std::uint64_t count_omp_task(const Tree& tree, const Node& node) {
  const int children = tree.child_count(node);
  if (children == 0) return 1;
  ChildSlots counts(children);
  for (int i = 0; i < children; ++i) {
    const Node child = Tree::child(node, i);
#pragma omp task shared(tree, counts) firstprivate(i, child)
    counts[i] = count_omp_task(tree, child);
  }
#pragma omp taskwait
  return 1 + counts.sum();
}
#endif

// --- The systems ------------------------------------------------------------------------------
//
// A Runner owns what one system needs for one benchmark: start() builds it (false, with the
// benchmark skipped, on failure), count(tree) walks the tree from the benchmark thread.

template <class System>
class ForageRunner : public forage::bench::TreePoolRunner<System> {
 public:
  using forage::bench::TreePoolRunner<System>::TreePoolRunner;

  std::uint64_t count(const Tree& tree) {
    auto& pool = *this->pool_;
    return pool.submit([&pool, &tree] { return count_group(pool, tree, tree.root()); }).get();
  }
};

#ifdef FORAGE_HAVE_ONETBB
class OneTbbRunner : public forage::bench::TbbArenaRunner {
 public:
  static constexpr const char* kSystem = "onetbb";

  using TbbArenaRunner::TbbArenaRunner;

  std::uint64_t count(const Tree& tree) {
    return arena().execute([&tree] { return count_task_group(tree, tree.root()); });
  }
};
#endif

#ifdef FORAGE_HAVE_OPENMP
class OpenMpRunner : public forage::bench::OpenMpTeamRunner {
 public:
  static constexpr const char* kSystem = "openmp";

  using OpenMpTeamRunner::OpenMpTeamRunner;

  std::uint64_t count(const Tree& tree) const {
    return single([&tree] { return count_omp_task(tree, tree.root()); });
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
void uts(benchmark::State& state, std::size_t workers, int depth_limit) {
  const Tree tree(depth_limit);
  const std::uint64_t expected = serial_nodes(tree);
  Runner runner(workers);
  if (!runner.start(state)) return;
  // Warm-up of the measured size: threads running, deques, task pools and allocator caches
  // grown, and the worker stacks touched as deep as a run goes.
  if (!forage::bench::check_count(state, "warm-up nodes", runner.count(tree), expected)) return;
  const forage::PoolStats before = runner.stats();

  const std::optional<Clock::duration> elapsed = forage::bench::time_checked_runs(
      state, "nodes", expected, [&runner, &tree] { return runner.count(tree); });
  if (!elapsed) return;

  const auto iterations = static_cast<std::uint64_t>(state.iterations());
  const auto per_run = [iterations](auto count) {
    return static_cast<double>(count) / static_cast<double>(iterations);
  };
  const double ns = forage::bench::to_ns(*elapsed);
  state.SetItemsProcessed(static_cast<std::int64_t>(expected * iterations));
  state.counters["Mnodes_per_s"] = static_cast<double>(expected) / per_run(ns) * 1e3;
  state.counters["ms_per_run"] = per_run(ns) * 1e-6;
  state.counters["nodes_per_run"] = static_cast<double>(expected);
  if (runner.has_stats()) {
    const forage::PoolStats after = runner.stats();
    state.counters["stolen_per_run"] = per_run(after.stolen() - before.stolen());
    state.counters["parks_per_run"] = per_run(after.parks() - before.parks());
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const int depth_limit = forage::bench::quick_mode() ? kQuickDepthLimit : kDepthLimit;
  for_each_runner([depth_limit](auto runner) {
    using Runner = typename decltype(runner)::type;
    forage::bench::register_per_worker_count(
        "uts", Runner::kSystem, {},
        [depth_limit](benchmark::State& state, std::size_t workers) {
          uts<Runner>(state, workers, depth_limit);
        },
        [](benchmark::internal::Benchmark* b) {
          b->UseRealTime()->Iterations(kRuns)->Unit(benchmark::kMillisecond);
        });
  });
  return forage::bench::run_registered(argc, argv);
}
