// wake: how long a task submitted to an idle pool waits before it starts.
//
// Each round: make sure every worker is asleep, take a steady_clock timestamp, submit one task
// from the benchmark thread (outside the pool) that takes its own timestamp as it starts, wait
// until it has finished. Latency = start - submit, so it includes the submit itself
// (allocation, enqueue, the futex or condition-variable wake) and the woken thread being
// scheduled. Both timestamps come from CLOCK_MONOTONIC, which Linux keeps consistent across
// cores. Figures: p50_us and p99_us over the rounds, lower is better; p90_us, p999_us and
// max_us are diagnostics.
//
// "Asleep" before a round, the settle rule:
//   forage, single_queue_*  read from PoolStats::parks(): before the round every worker was
//       parked, so the worker that ran the task has parked again once parks() exceeds its value
//       from before the submit; then one more poll with no change (a worker counts its park
//       just before it sleeps).
//   onetbb, rvaser_thread_pool  have no such counter, so the same rule is read from the kernel
//       (bench/common/proc_threads.hpp): every thread of the process but the benchmark thread
//       is sleeping (state S in /proc/self/task/<tid>/stat) on two polls in a row, and none has
//       run in between (the run count, third field of /proc/self/task/<tid>/schedstat,
//       unchanged). A peer that spins or yields before it sleeps is waited out, not measured
//       half awake.
// If that takes over kSettleCap (a noisy machine), the round still counts and
// "unsettled_rounds" says how many did. Sleeping here is fine: this is a benchmark.
//
// "same_cpu_pct" is the share of rounds in which the task ran on the CPU the submit was made
// from: waking a thread on another, idle CPU costs an inter-processor interrupt (and, in a
// virtual machine, the host scheduling that vCPU), which is often most of the latency.
//
// Benchmarks "wake/<system>/workers:<n>", each with its own pool of n threads, built and
// destroyed in the benchmark (no other system's threads alive while it runs):
//   forage, single_queue_locked, single_queue_lock_free
//       pool.spawn(task), then wait_idle(). Workers pinned, one per core (the default).
//   onetbb  a tbb::task_arena(n, 0) under a tbb::global_control capping the process at n + 1
//       threads (bench/common/peers.hpp's TbbOutsideArena): n worker threads and no slot kept
//       for the benchmark thread, which only submits (TbbArena keeps one, for a caller that
//       joins in: with work arriving from outside it would leave n - 1 workers).
//       arena.enqueue(task), oneTBB's fire-and-forget from outside; the task ends by publishing
//       its round number, which the benchmark thread waits for (std::atomic wait/notify).
//       tbb::finalize joins the workers at the end, so that the next benchmark sees none of them.
//   rvaser_thread_pool  thread_pool::ThreadPool(n); Submit(task), then get() on its
//       std::future.
//   openmp is left out: OpenMP has no way to hand work to an idle team from outside. Work
//       reaches its threads only through a parallel region the submitting thread opens and
//       takes part in (as the team's primary thread), and `omp task` only from inside one.
//       Timing the fork of a region instead would measure a different operation, and at one
//       thread there would be nobody to wake.
// Peers' threads are not pinned. Peers are compiled in where found (FORAGE_HAVE_ONETBB,
// FORAGE_HAVE_RVASER_THREAD_POOL).
//
// Manual timing: each iteration reports its latency, so Google Benchmark's time column is the
// mean.
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"
#include "common/peers.hpp"
#include "common/proc_threads.hpp"

namespace {

using forage::bench::Clock;
using forage::bench::percentile;
using forage::bench::WorkerCounters;

constexpr std::int64_t kRounds = 4'000;
constexpr std::int64_t kQuickRounds = 1'000;
constexpr int kWarmRounds = 200;
constexpr auto kSettlePoll = std::chrono::microseconds(20);
constexpr auto kSettleCap = std::chrono::milliseconds(2);

// --- One round --------------------------------------------------------------------------------

struct Round {
  double latency_ns = 0;  // negative if the clock went backwards
  bool ran = false;       // the task stamped its start
  bool same_cpu = false;  // the task ran on the CPU the submit was made from
  bool settled = false;   // the pool was asleep again within kSettleCap
};

// What the woken task records. The task writes, the benchmark thread reads after the round's
// completion handshake (wait_idle(), the future, the finished-round acquire), which
// happens-after the task: relaxed is enough for every access.
class Stamp {
 public:
  // Called by the benchmark thread before the submit, which publishes it to the task.
  void clear() noexcept {
    started_.store(0, std::memory_order_relaxed);
    cpu_.store(-1, std::memory_order_relaxed);
  }

  // Called first thing by the task.
  void take() noexcept {
    started_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    cpu_.store(sched_getcpu(), std::memory_order_relaxed);
  }

  // The round of a task submitted at `submit` from CPU `submit_cpu`, once it has finished.
  Round read(Clock::time_point submit, int submit_cpu) const noexcept {
    Round round;
    const Clock::rep started = started_.load(std::memory_order_relaxed);
    round.ran = started != 0;
    round.latency_ns = forage::bench::to_ns(Clock::time_point{Clock::duration{started}} - submit);
    round.same_cpu = cpu_.load(std::memory_order_relaxed) == submit_cpu;
    return round;
  }

 private:
  std::atomic<Clock::rep> started_{0};
  std::atomic<int> cpu_{-1};
};

// Calls submit(), which hands a task calling stamp.take() to the system and waits until it
// has finished, and reads the stamp.
template <class Submit>
Round timed_round(Stamp& stamp, Submit&& submit) {
  stamp.clear();
  const int submit_cpu = sched_getcpu();
  const Clock::time_point start = Clock::now();
  submit();
  return stamp.read(start, submit_cpu);
}

// --- Settling: forage's pools -----------------------------------------------------------------

// Waits until parks() reaches `target` and then stays unchanged for one poll. Returns false
// if kSettleCap passed first.
template <class PoolType>
bool wait_until_parked(const PoolType& pool, std::uint64_t target) {
  const Clock::time_point deadline = Clock::now() + kSettleCap;
  std::uint64_t last = pool.stats().parks();
  for (;;) {
    std::this_thread::sleep_for(kSettlePoll);
    const std::uint64_t now = pool.stats().parks();
    if (last >= target && now == last) return true;
    if (Clock::now() > deadline) return false;
    last = now;
  }
}

// --- Settling: the peers, from /proc ----------------------------------------------------------

// bench/common/proc_threads.hpp's settle rule with this suite's poll and cap.
bool wait_until_threads_asleep() {
  return forage::bench::wait_until_threads_asleep(kSettlePoll, kSettleCap);
}

// --- The systems ------------------------------------------------------------------------------
//
// A Waker owns one system for one benchmark: start() builds it (false, with the benchmark
// skipped, on failure), round() runs one round, settle() waits until the system is asleep,
// tasks_run() counts the tasks that ran since reset_count().

template <class System>
class PoolWaker {
 public:
  static constexpr const char* kSystem = System::kName;

  explicit PoolWaker(std::size_t workers) : workers_(workers), executed_(workers) {}

  bool start(benchmark::State& state) {
    pool_ = forage::bench::make_pool<System>(state, workers_, executed_);
    return pool_ != nullptr;
  }

  Round round() {
    const std::uint64_t parks_before = pool_->stats().parks();
    Round result = timed_round(stamp_, [this] {
      pool_->spawn([this] {
        stamp_.take();
        WorkerCounters::count_one();
      });
      pool_->wait_idle();
    });
    result.settled = wait_until_parked(*pool_, parks_before + 1);
    return result;
  }

  void settle() { wait_until_parked(*pool_, 0); }
  std::uint64_t tasks_run() const { return executed_.sum(); }
  void reset_count() { executed_.reset(); }

 private:
  std::size_t workers_;
  Stamp stamp_;
  WorkerCounters executed_;  // the pool's options hook it; declared before the pool: outlives it
  std::unique_ptr<typename System::PoolType> pool_;
};

#ifdef FORAGE_HAVE_ONETBB
class OneTbbWaker {
 public:
  static constexpr const char* kSystem = "onetbb";

  explicit OneTbbWaker(std::size_t workers) : workers_(workers) {}

  bool start(benchmark::State& state) { return tbb_.start(state, workers_); }

  Round round() {
    const std::uint64_t this_round = ++rounds_;
    Round result = timed_round(stamp_, [this, this_round] {
      tbb_.arena().enqueue([this, this_round] {
        stamp_.take();
        // relaxed: one task at a time; read after the finished_ acquire below.
        tasks_.fetch_add(1, std::memory_order_relaxed);
        // release: publishes the stamp and the count; pairs with the acquire loads below.
        finished_.store(this_round, std::memory_order_release);
        finished_.notify_one();
      });
      // acquire: pairs with the task's release store of its round.
      for (std::uint64_t seen = finished_.load(std::memory_order_acquire); seen != this_round;
           seen = finished_.load(std::memory_order_acquire)) {
        finished_.wait(seen, std::memory_order_acquire);
      }
    });
    result.settled = wait_until_threads_asleep();
    return result;
  }

  void settle() { wait_until_threads_asleep(); }
  // relaxed: read after the last round's finished_ acquire.
  std::uint64_t tasks_run() const { return tasks_.load(std::memory_order_relaxed); }
  void reset_count() { tasks_.store(0, std::memory_order_relaxed); }  // published by the enqueue

 private:
  std::size_t workers_;
  std::uint64_t rounds_ = 0;  // benchmark thread only
  // Written by the tasks, read by the benchmark thread; declared before the arena, so they
  // outlive the workers (its destructor joins them).
  Stamp stamp_;
  std::atomic<std::uint64_t> tasks_{0};
  std::atomic<std::uint64_t> finished_{0};  // the round of the last task that finished
  forage::bench::TbbOutsideArena tbb_;
};
#endif

#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
class RvaserWaker {
 public:
  static constexpr const char* kSystem = "rvaser_thread_pool";

  explicit RvaserWaker(std::size_t workers) : workers_(workers) {}

  bool start(benchmark::State& state) {
    pool_ = forage::bench::make_rvaser_pool(state, workers_);
    return pool_ != nullptr;
  }

  Round round() {
    Round result = timed_round(stamp_, [this] {
      pool_
          ->Submit([this] {
            stamp_.take();
            // relaxed: read after get(), which happens-after the task.
            tasks_.fetch_add(1, std::memory_order_relaxed);
          })
          .get();
    });
    result.settled = wait_until_threads_asleep();
    return result;
  }

  void settle() { wait_until_threads_asleep(); }
  // relaxed: read after the last round's get().
  std::uint64_t tasks_run() const { return tasks_.load(std::memory_order_relaxed); }
  void reset_count() { tasks_.store(0, std::memory_order_relaxed); }  // published by Submit

 private:
  std::size_t workers_;
  Stamp stamp_;  // declared before the pool: outlives its threads
  std::atomic<std::uint64_t> tasks_{0};
  std::unique_ptr<thread_pool::ThreadPool> pool_;
};
#endif

// Calls fn(std::type_identity<Waker>{}) for each system, in table order.
template <class Fn>
void for_each_waker(Fn&& fn) {
  forage::bench::for_each_pool_runner<PoolWaker>(fn);
#ifdef FORAGE_HAVE_ONETBB
  fn(std::type_identity<OneTbbWaker>{});
#endif
#ifdef FORAGE_HAVE_RVASER_THREAD_POOL
  fn(std::type_identity<RvaserWaker>{});
#endif
}

// --- The benchmark ----------------------------------------------------------------------------

template <class Waker>
void wake(benchmark::State& state) {
  Waker waker(static_cast<std::size_t>(state.range(0)));
  if (!waker.start(state)) return;

  for (int i = 0; i < kWarmRounds; ++i) {
    if (!waker.round().ran) {
      state.SkipWithError("a warm-up task finished without running");
      return;
    }
  }
  if (!forage::bench::check_count(state, "warm-up tasks", waker.tasks_run(), kWarmRounds)) return;
  waker.reset_count();
  waker.settle();

  std::vector<double> latencies_ns;
  latencies_ns.reserve(static_cast<std::size_t>(state.max_iterations));
  std::int64_t unsettled = 0;
  std::int64_t same_cpu = 0;
  for (auto _ : state) {
    const Round round = waker.round();
    if (!round.ran) {
      state.SkipWithError("a task finished without running");
      break;
    }
    if (round.latency_ns < 0) {
      state.SkipWithError("steady_clock went backwards between submit and start");
      break;
    }
    state.SetIterationTime(round.latency_ns * 1e-9);
    latencies_ns.push_back(round.latency_ns);
    if (!round.settled) ++unsettled;
    if (round.same_cpu) ++same_cpu;
  }
  if (state.error_occurred()) return;
  if (latencies_ns.empty()) {
    state.SkipWithError("no rounds ran");
    return;
  }
  if (!forage::bench::check_count(state, "tasks", waker.tasks_run(), latencies_ns.size())) return;

  std::sort(latencies_ns.begin(), latencies_ns.end());
  state.counters["p50_us"] = percentile(latencies_ns, 0.50) / 1e3;
  state.counters["p90_us"] = percentile(latencies_ns, 0.90) / 1e3;
  state.counters["p99_us"] = percentile(latencies_ns, 0.99) / 1e3;
  state.counters["p999_us"] = percentile(latencies_ns, 0.999) / 1e3;
  state.counters["max_us"] = latencies_ns.back() / 1e3;
  state.counters["unsettled_rounds"] = static_cast<double>(unsettled);
  state.counters["same_cpu_pct"] =
      100.0 * static_cast<double>(same_cpu) / static_cast<double>(latencies_ns.size());
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const std::int64_t rounds = forage::bench::quick_mode() ? kQuickRounds : kRounds;
  for_each_waker([&](auto waker) {
    using Waker = typename decltype(waker)::type;
    auto* b =
        benchmark::RegisterBenchmark((std::string("wake/") + Waker::kSystem).c_str(), wake<Waker>);
    b->UseManualTime()->Iterations(rounds)->Unit(benchmark::kMicrosecond);
    forage::bench::sweep_workers(b);
  });
  return forage::bench::run_registered(argc, argv);
}
