// Shared helpers for the core benchmark suites (bench/<suite>/<suite>_bench.cpp).
//
// Every suite runs the same benchmark, written once as a template over a System, on:
//   forage                  forage::Pool
//   single_queue_locked     forage::SingleQueuePool(n, QueueKind::locked)
//   single_queue_lock_free  forage::SingleQueuePool(n, QueueKind::lock_free)
// Benchmarks are named "<suite>/<system>/workers:<n>" (plus Google Benchmark's own suffixes
// such as "/real_time"), which tools/forage-bench parses.
//
// Environment, read when the benchmarks are registered:
//   FORAGE_BENCH_WORKERS="1,2,8"  the worker counts to sweep (default 1,2)
//   FORAGE_BENCH_QUICK=1          the smallest sizes (tools/forage-bench --quick)
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "forage/options.hpp"
#include "forage/pool.hpp"
#include "forage/single_queue_pool.hpp"

namespace forage::bench {

using Clock = std::chrono::steady_clock;

// --- The systems compared -------------------------------------------------------------------

struct ForageSystem {
  using PoolType = forage::Pool;
  static constexpr const char* kName = "forage";
  static std::unique_ptr<PoolType> make(std::size_t workers, PoolOptions options) {
    options.workers = workers;
    return std::make_unique<PoolType>(std::move(options));
  }
};

struct SingleQueueLockedSystem {
  using PoolType = forage::SingleQueuePool;
  static constexpr const char* kName = "single_queue_locked";
  static std::unique_ptr<PoolType> make(std::size_t workers, PoolOptions options) {
    return std::make_unique<PoolType>(workers, QueueKind::locked, std::move(options));
  }
};

struct SingleQueueLockFreeSystem {
  using PoolType = forage::SingleQueuePool;
  static constexpr const char* kName = "single_queue_lock_free";
  static std::unique_ptr<PoolType> make(std::size_t workers, PoolOptions options) {
    return std::make_unique<PoolType>(workers, QueueKind::lock_free, std::move(options));
  }
};

// Calls fn(std::type_identity<System>{}) for each system, in table order.
template <class Fn>
void for_each_system(Fn&& fn) {
  fn(std::type_identity<ForageSystem>{});
  fn(std::type_identity<SingleQueueLockedSystem>{});
  fn(std::type_identity<SingleQueueLockFreeSystem>{});
}

// Calls fn(std::type_identity<Runner<System>>{}) for each system, in table order: the rows of
// forage's pools in a suite's list of runners (the peers' rows follow).
template <template <class> class Runner, class Fn>
void for_each_pool_runner(Fn&& fn) {
  for_each_system(
      [&fn](auto system) { fn(std::type_identity<Runner<typename decltype(system)::type>>{}); });
}

// --- Counting finished tasks without a shared counter ---------------------------------------

// One counter per worker, each on its own cache line. A worker finds its counter through a
// thread_local pointer set by PoolOptions::on_worker_start, so counting a task costs a load
// and a store on a line no other thread writes (no lock-prefixed RMW, no sharing), and the
// counter cannot become what the benchmark measures.
class WorkerCounters {
 public:
  explicit WorkerCounters(std::size_t workers) : slots_(workers) {}

  // Counts one task on the calling worker. Only that worker writes its slot.
  static void count_one() noexcept {
    if (Slot* slot = current_) {
      // relaxed: single writer; the reader runs after wait_idle(), which happens-after the
      // task (its acquire of the workers' finish counts pairs with their release).
      slot->value.store(slot->value.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    } else {
      // Not on a worker started with hook(): cannot happen in these suites; stay correct.
      stray_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // Options whose on_worker_start points the worker at its slot. The counters must outlive
  // the pool built with them.
  PoolOptions hook(PoolOptions options = {}) {
    options.on_worker_start = [this](std::size_t worker) {
      current_ = worker < slots_.size() ? &slots_[worker] : nullptr;
    };
    options.on_worker_stop = [](std::size_t) { current_ = nullptr; };
    return options;
  }

  // Call from outside the pool after wait_idle().
  std::uint64_t sum() const noexcept {
    std::uint64_t total = stray_.load(std::memory_order_relaxed);
    for (const Slot& slot : slots_) total += slot.value.load(std::memory_order_relaxed);
    return total;
  }

  // Call from outside the pool after wait_idle(); the next spawn publishes the zeros.
  void reset() noexcept {
    for (Slot& slot : slots_) slot.value.store(0, std::memory_order_relaxed);
    stray_.store(0, std::memory_order_relaxed);
  }

 private:
  struct alignas(128) Slot {  // 128: adjacent-line prefetch pairs 64-byte lines on x86
    std::atomic<std::uint64_t> value{0};
  };

  std::vector<Slot> slots_;
  inline static std::atomic<std::uint64_t> stray_{0};
  inline static thread_local Slot* current_ = nullptr;
};

namespace detail {

// One thread's count in a ThreadCounters, on its own cache line. Written by the one thread
// that claimed it; read and zeroed by the benchmark thread after the peer's wait.
struct alignas(128) CounterSlot {  // 128: adjacent-line prefetch pairs 64-byte lines on x86
  std::atomic<std::uint64_t> value{0};
};

// The slot a thread claimed in the ThreadCounters whose id it names.
struct ThreadClaim {
  std::uint64_t id = 0;  // ids start at 1: 0 is no claim
  CounterSlot* slot = nullptr;
};

}  // namespace detail

// WorkerCounters for threads that forage did not start (the peers'): the first time a thread
// counts into a ThreadCounters it claims a slot of its own (one fetch_add), and from then on
// counting is a load and a store on a line no other thread writes. A thread beyond the slots
// (not expected: size it for the peer's threads) counts into a shared atomic instead, so the
// total stays right.
class ThreadCounters {
 public:
  explicit ThreadCounters(std::size_t threads)
      // relaxed: only the id's uniqueness matters (an RMW on one atomic gives that).
      : id_(next_id_.fetch_add(1, std::memory_order_relaxed)), slots_(threads) {}

  void count_one() noexcept {
    if (mine_.id != id_) mine_ = {id_, claim()};
    if (Slot* slot = mine_.slot) {
      // relaxed: single writer (the thread that claimed the slot); the reader runs after the
      // peer's wait (task_group::wait, the end of the taskwait and of the parallel region),
      // which happens-after the task.
      slot->value.store(slot->value.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    } else {
      // relaxed: a total, read after the same wait.
      stray_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // The count since the last take(), and zero again. Call after the peer's wait; the next
  // tasks, handed over after this call, see the zeros.
  std::uint64_t take() noexcept {
    // relaxed: the peer's wait ordered every count before these accesses (see count_one).
    std::uint64_t total = stray_.exchange(0, std::memory_order_relaxed);
    for (Slot& slot : slots_) total += slot.value.exchange(0, std::memory_order_relaxed);
    return total;
  }

 private:
  using Slot = detail::CounterSlot;
  using Claim = detail::ThreadClaim;

  Slot* claim() noexcept {
    // relaxed: only the indices' uniqueness matters.
    const std::size_t index = next_slot_.fetch_add(1, std::memory_order_relaxed);
    return index < slots_.size() ? &slots_[index] : nullptr;
  }

  std::uint64_t id_;  // tells this object's claims from a previous object's at the same address
  std::vector<Slot> slots_;
  std::atomic<std::size_t> next_slot_{0};                // RMW by each claiming thread
  std::atomic<std::uint64_t> stray_{0};                  // RMW by threads beyond the slots
  inline static std::atomic<std::uint64_t> next_id_{1};  // RMW by each constructor
  inline static thread_local Claim mine_{};              // this thread's claim: its own only
};

// --- Building pools -------------------------------------------------------------------------

// The pool every benchmark uses: named "bench", default pinning (one worker per core).
// On failure (too many workers, topology error) skips the benchmark and returns null.
template <class System>
std::unique_ptr<typename System::PoolType> make_pool(benchmark::State& state, std::size_t workers,
                                                     WorkerCounters& counters) {
  PoolOptions options;
  options.name = "bench";
  try {
    auto pool = System::make(workers, counters.hook(std::move(options)));
    if (pool->worker_count() != workers) {
      state.SkipWithError(("asked for " + std::to_string(workers) + " workers, got " +
                           std::to_string(pool->worker_count()))
                              .c_str());
      return nullptr;
    }
    return pool;
  } catch (const std::exception& error) {
    state.SkipWithError((std::string("cannot build the pool: ") + error.what()).c_str());
    return nullptr;
  }
}

// A System whose workers get kDeepStack bytes of stack. A waiting task on a SingleQueuePool
// runs the queue's head on its own stack, in a tree the next node in breadth-first order,
// which waits in turn, so the stack grows with the nodes already started, not with the depth
// (about 1 KiB per waiting node: the nqueens and uts trees overflow the default 64 MiB).
// Reserved address space; only the pages a run touches use memory (up to ~1 GiB in those
// suites, until the pool ends).
inline constexpr std::size_t kDeepStack = std::size_t{4} << 30;

template <class Base>
struct DeepStackSystem : Base {
  static std::unique_ptr<typename Base::PoolType> make(std::size_t workers, PoolOptions options) {
    options.stack_size = kDeepStack;
    return Base::make(workers, std::move(options));
  }
};

// The System to build for task trees whose tasks wait for their children: a SingleQueuePool's
// workers get deep stacks (DeepStackSystem). Pool's waits run the waiter's own children first
// (its deque is LIFO): the default stack is plenty there.
template <class System>
using TreeSystem =
    std::conditional_t<System::PoolType::work_stealing, System, DeepStackSystem<System>>;

// What a suite's runner on one of forage's pools holds: the pool, built by make_pool in start()
// (false, with the benchmark skipped, on failure), and the counters its options hook. The
// runner derives from it, adds what its workload calls, and reaches the pool as this->pool_.
template <class System>
class ForagePoolRunner {
 public:
  using PoolType = typename System::PoolType;

  explicit ForagePoolRunner(std::size_t workers) : workers_(workers), counters_(workers) {}

  bool start(benchmark::State& state) {
    pool_ = make_pool<System>(state, workers_, counters_);
    return pool_ != nullptr;
  }

  // The pool's counters (PoolStats), for the suites' diagnostics.
  bool has_stats() const { return true; }
  PoolStats stats() const { return pool_->stats(); }

 protected:
  std::size_t workers_;
  WorkerCounters counters_;  // the pool's options hook it; declared before the pool: outlives it
  std::unique_ptr<PoolType> pool_;
};

// The runner base of the task-tree suites (nqueens, uts), whose tasks wait for their children:
// a ForagePoolRunner on TreeSystem<System>, named after System.
template <class System>
class TreePoolRunner : public ForagePoolRunner<TreeSystem<System>> {
 public:
  using PoolType = typename System::PoolType;
  static constexpr const char* kSystem = System::kName;

  using ForagePoolRunner<TreeSystem<System>>::ForagePoolRunner;

  // Tasks workers stole and times they slept, on Pool; a SingleQueuePool has nothing to steal
  // from (its counters say 0).
  bool has_stats() const { return PoolType::work_stealing; }
};

// Checks a count; on a mismatch skips the benchmark with a message naming `what`.
inline bool check_count(benchmark::State& state, const char* what, std::uint64_t got,
                        std::uint64_t expected) {
  if (got == expected) return true;
  state.SkipWithError((std::string(what) + ": expected " + std::to_string(expected) + ", got " +
                       std::to_string(got))
                          .c_str());
  return false;
}

// Times state's iterations of run(), which returns a count, checking each count against
// `expected` (`what` names it in the message). Returns the time spent in run(), or nothing
// once a count was wrong: the benchmark is then skipped.
template <class Run>
std::optional<Clock::duration> time_checked_runs(benchmark::State& state, const char* what,
                                                 std::uint64_t expected, Run run) {
  Clock::duration elapsed{};
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    const std::uint64_t got = run();
    elapsed += Clock::now() - start;
    if (!check_count(state, what, got, expected)) return std::nullopt;
  }
  return elapsed;
}

inline double to_ns(Clock::duration d) noexcept {
  return std::chrono::duration<double, std::nano>(d).count();
}

// Nearest-rank percentile (p in (0, 1]) of sorted, non-empty values.
inline double percentile(const std::vector<double>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

// --- Run-time configuration -----------------------------------------------------------------

inline bool quick_mode() {
  const char* value = std::getenv("FORAGE_BENCH_QUICK");
  return value != nullptr && *value != '\0' && std::string_view(value) != "0";
}

// FORAGE_BENCH_WORKERS="1,2,8" -> {1, 2, 8}; default {1, 2}. Exits with a message on a
// malformed list (it is read once, while registering, so this is the place to stop).
inline std::vector<std::size_t> worker_counts() {
  const char* env = std::getenv("FORAGE_BENCH_WORKERS");
  if (env == nullptr || *env == '\0') return {1, 2};
  std::vector<std::size_t> counts;
  std::string_view rest(env);
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    std::size_t value = 0;
    const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (error != std::errc{} || end != item.data() + item.size() || value == 0) {
      std::fprintf(stderr,
                   "FORAGE_BENCH_WORKERS='%s': expected a comma-separated list of worker "
                   "counts >= 1, e.g. 1,2,8\n",
                   env);
      std::exit(2);
    }
    if (std::find(counts.begin(), counts.end(), value) == counts.end()) counts.push_back(value);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  return counts;
}

// "<suite>/<system>"; Google Benchmark appends "/workers:<n>".
template <class System>
std::string benchmark_name(std::string_view suite) {
  return std::string(suite) + "/" + System::kName;
}

// "<suite>/<system>/workers:<n>[/<variant>]", for suites that register one benchmark per
// worker count themselves (the variant may hold several parts, "join/task_group").
inline std::string run_name(std::string_view suite, std::string_view system, std::size_t workers,
                            std::string_view variant = {}) {
  std::string name =
      std::string(suite) + "/" + std::string(system) + "/workers:" + std::to_string(workers);
  if (!variant.empty()) name += "/" + std::string(variant);
  return name;
}

// Registers run(state, workers) once per worker count of the sweep, named
// run_name(suite, system, workers, variant), and hands each to settings(benchmark): for
// suites that register one benchmark per worker count themselves.
template <class Run, class Settings>
void register_per_worker_count(std::string_view suite, std::string_view system,
                               std::string_view variant, Run run, Settings settings) {
  for (const std::size_t workers : worker_counts()) {
    settings(benchmark::RegisterBenchmark(
        run_name(suite, system, workers, variant).c_str(),
        [run, workers](benchmark::State& state) { run(state, workers); }));
  }
}

inline benchmark::internal::Benchmark* sweep_workers(benchmark::internal::Benchmark* b) {
  b->ArgName("workers");
  for (const std::size_t workers : worker_counts()) b->Arg(static_cast<std::int64_t>(workers));
  return b;
}

// True if the command line sets --benchmark_repetitions (look before benchmark::Initialize,
// which removes the flags it knows from argv).
inline bool repetitions_on_command_line(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).starts_with("--benchmark_repetitions")) return true;
  }
  return false;
}

// Runs what main() registered; returns main's exit code.
inline int run_registered(int argc, char** argv) {
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace forage::bench
