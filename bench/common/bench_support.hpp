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

// Checks a count; on a mismatch skips the benchmark with a message naming `what`.
inline bool check_count(benchmark::State& state, const char* what, std::uint64_t got,
                        std::uint64_t expected) {
  if (got == expected) return true;
  state.SkipWithError((std::string(what) + ": expected " + std::to_string(expected) + ", got " +
                       std::to_string(got))
                          .c_str());
  return false;
}

inline double to_ns(Clock::duration d) noexcept {
  return std::chrono::duration<double, std::nano>(d).count();
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
