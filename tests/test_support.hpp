// Shared helpers for the test suites.
#pragma once

#include <dirent.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "atomics/atomics.hpp"

#ifndef FORAGE_TEST_SCALE
#define FORAGE_TEST_SCALE 1
#endif

namespace forage::test {

// Stress sizes are divided by this under sanitizers (10x slower), so the suite stays bounded.
inline constexpr std::size_t kScale = FORAGE_TEST_SCALE;
constexpr std::size_t scaled(std::size_t n) { return n / kScale > 0 ? n / kScale : 1; }

// The seed of a stress test's jitter: FORAGE_TEST_SEED when set (to replay a run's choices;
// the OS scheduling itself is not replayable), otherwise random. Tests print it.
inline std::uint64_t test_seed() {
  if (const char* text = std::getenv("FORAGE_TEST_SEED")) return std::strtoull(text, nullptr, 10);
  return std::random_device{}();
}

// What the task (or leaf) for `id` returns in a stress test: spread out, so a lost or
// duplicated result changes the sum of all of them.
constexpr std::uint64_t value_of(std::uint64_t id) {
  return (id + 1) * 0x9E3779B97F4A7C15ULL ^ (id >> 3);
}

// Short random pauses between operations so interleavings vary: nothing 7 times in 8,
// otherwise up to 7 * relax_step cpu_relax calls.
class Jitter {
 public:
  Jitter(std::uint64_t seed, unsigned relax_step) : rng_(seed), relax_step_(relax_step) {}
  void operator()() {
    const unsigned roll = rng_() % 64;
    if (roll >= 8) return;
    for (unsigned i = 0; i < roll * relax_step_; ++i) detail::cpu_relax();
  }
  bool coin(unsigned one_in) { return rng_() % one_in == 0; }

 private:
  std::minstd_rand rng_;
  unsigned relax_step_;
};

// How long a stress test made of rounds may run: up to `rounds` rounds, but once `at_least`
// of them ran, only while the time budget lasts. On a quiet machine every round runs well
// inside the budget; on a loaded one (a round waits for its threads to get a core in turn:
// 20,000 rendezvous rounds took 115 s beside a build instead of 0.6 s) the test stops early
// instead of eating the CI budget. The budget is FORAGE_STRESS_SECONDS when set (a longer
// local run: FORAGE_STRESS_SECONDS=600), otherwise `seconds`. The destructor prints how many
// rounds ran, so a short run is visible in the log.
class RoundBudget {
 public:
  RoundBudget(std::size_t rounds, std::size_t at_least, std::chrono::seconds seconds = kSeconds)
      : rounds_(rounds),
        at_least_(at_least < rounds ? at_least : rounds),
        stop_by_(std::chrono::steady_clock::now() + budget(seconds)) {}
  RoundBudget(const RoundBudget&) = delete;
  RoundBudget& operator=(const RoundBudget&) = delete;
  ~RoundBudget() {
    std::printf("[ stress   ] %zu of %zu rounds%s\n", ran_, rounds_,
                ran_ < rounds_ ? " (time budget reached)" : "");
  }

  // Whether round number `round` (counting from 0) should run.
  bool run(std::size_t round) {
    const bool more =
        round < rounds_ && (round < at_least_ || std::chrono::steady_clock::now() < stop_by_);
    if (more) ran_ = round + 1;
    return more;
  }
  std::size_t rounds_run() const noexcept { return ran_; }

  static constexpr std::chrono::seconds kSeconds{15};

 private:
  static std::chrono::seconds budget(std::chrono::seconds fallback) {
    if (const char* text = std::getenv("FORAGE_STRESS_SECONDS")) {
      return std::chrono::seconds(std::strtoll(text, nullptr, 10));
    }
    return fallback;
  }

  std::size_t rounds_;
  std::size_t at_least_;
  std::chrono::steady_clock::time_point stop_by_;
  std::size_t ran_ = 0;
};

// The waiter's protocol (lib/sleep/README.md), in full every time: announce, re-check, then cancel
// or sleep; look again after every wake-up. Returns once `found()` is true.
template <class EventCountType, class Found>
void wait_until(EventCountType& event_count, Found found) {
  for (;;) {
    const auto key = event_count.prepare_wait();
    if (found()) {
      event_count.cancel_wait();
      return;
    }
    event_count.commit_wait(key);
  }
}

// One line per thread of this process on stderr: its name (a pool's workers are
// "forage-<name>-<i>"), its scheduler state (R running, S sleeping...) and the kernel function
// it waits in (futex_wait_queue: parked or blocked on a lock or future). From /proc, with no
// allocation: what a hung test's threads were doing.
inline void print_threads_of_this_process() {
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return;
  std::fprintf(stderr, "threads:\n");
  while (const dirent* task = readdir(tasks)) {
    if (task->d_name[0] == '.') continue;
    char path[320];  // room for any d_name
    char name[64] = "?";
    char state[8] = "?";
    char wchan[96] = "?";
    auto read_line = [&path, task](const char* file, char* into, int size) {
      std::snprintf(path, sizeof path, "/proc/self/task/%s/%s", task->d_name, file);
      if (std::FILE* in = std::fopen(path, "r")) {
        if (std::fgets(into, size, in) == nullptr) into[0] = '\0';
        std::fclose(in);
        for (char* c = into; *c != '\0'; ++c) {
          if (*c == '\n') *c = '\0';
        }
      }
    };
    read_line("comm", name, sizeof name);
    char stat[256] = "";
    read_line("stat", stat, sizeof stat);
    // The state is the field after the ")" that closes the name.
    for (const char* c = stat; *c != '\0'; ++c) {
      if (c[0] == ')' && c[1] == ' ' && c[2] != '\0') {
        state[0] = c[2];
        state[1] = '\0';
      }
    }
    read_line("wchan", wchan, sizeof wchan);
    std::fprintf(stderr, "  thread %s %s: state %s, waiting in %s\n", task->d_name, name, state,
                 wchan[0] == '\0' || std::string(wchan) == "0" ? "-" : wchan);
  }
  closedir(tasks);
}

// Fails the test (aborts the process with a message) if `disarm` is not called within
// `limit`: a hang becomes a failure instead of a stuck CI job. It watches for liveness only;
// no test asserts on elapsed time. A test made of rounds calls progress() after each one: the
// limit then applies to each stretch without progress instead of to the whole test, so a
// machine so overloaded that the test crawls (a round can take many milliseconds when its
// threads wait for a core) is not reported as a deadlock, while a hang still is. Before
// aborting it runs the dumps registered with on_expiry (test::pool_state_dump: a pool's
// per-worker counters) and prints every thread's state (print_threads_of_this_process).
class Watchdog {
 public:
  Watchdog(const char* what, std::chrono::seconds limit) : what_(what) {
    thread_ = std::thread([this, limit] {
      std::unique_lock lock(mutex_);
      std::uint64_t seen = 0;
      for (;;) {
        if (cv_.wait_for(lock, limit, [this] { return disarmed_; })) return;
        // relaxed: a count; the watchdog only needs to see that it moved.
        const std::uint64_t now = progress_.load(std::memory_order_relaxed);
        if (now != seen) {
          seen = now;
          continue;
        }
        if (now == 0) {
          std::fprintf(stderr,
                       "watchdog: '%s' did not finish in %lld s (deadlock or lost "
                       "wake-up)\n",
                       what_, static_cast<long long>(limit.count()));
        } else {
          std::fprintf(stderr,
                       "watchdog: '%s' made no progress for %lld s after %llu rounds "
                       "(deadlock or lost wake-up)\n",
                       what_, static_cast<long long>(limit.count()),
                       static_cast<unsigned long long>(now));
        }
        for (const std::function<void()>& dump : dumps_) dump();
        print_threads_of_this_process();
        std::abort();
      }
    });
  }
  // One more round done.
  void progress() noexcept {
    // relaxed: read by the watchdog thread as a count only.
    progress_.fetch_add(1, std::memory_order_relaxed);
  }
  ~Watchdog() { disarm(); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Runs `dump` on the watchdog's thread if the limit passes, before the abort: what the test
  // wants printed about its state (e.g. test::pool_state_dump(pool)). It must not wait for
  // the test's threads, which may be the ones hung.
  void on_expiry(std::function<void()> dump) {
    std::lock_guard lock(mutex_);
    dumps_.push_back(std::move(dump));
  }

  void disarm() {
    {
      std::lock_guard lock(mutex_);
      disarmed_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  const char* what_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  std::atomic<std::uint64_t> progress_{0};
  std::vector<std::function<void()>> dumps_;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace forage::test

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "forage/forage.hpp"

namespace forage::test {

// The three schedulers the conformance and stress suites run on.
struct WorkStealing {
  using PoolType = Pool;
  static std::unique_ptr<Pool> make(std::size_t workers, PoolOptions options = {}) {
    options.workers = workers;
    return std::make_unique<Pool>(std::move(options));
  }
};
struct SingleQueueLocked {
  using PoolType = SingleQueuePool;
  static std::unique_ptr<SingleQueuePool> make(std::size_t workers, PoolOptions options = {}) {
    return std::make_unique<SingleQueuePool>(workers, QueueKind::locked, std::move(options));
  }
};
struct SingleQueueLockFree {
  using PoolType = SingleQueuePool;
  static std::unique_ptr<SingleQueuePool> make(std::size_t workers, PoolOptions options = {}) {
    return std::make_unique<SingleQueuePool>(workers, QueueKind::lock_free, std::move(options));
  }
};

// The three, as the type list of a typed test suite: TYPED_TEST_SUITE(SomeTest, test::Systems).
// The sanitizer presets (FORAGE_TEST_ALL_SYSTEMS=0, tests/CMakeLists.txt) leave out
// SingleQueueLocked: it is the same SingleQueuePool code as SingleQueueLockFree around a
// mutex-guarded std::deque instead of moodycamel's queue, the checked preset runs the typed
// suites on it, single_queue_pool_test runs both queues everywhere, and a third instantiation
// of every typed suite was a third of the sanitizer builds' compile time.
#ifndef FORAGE_TEST_ALL_SYSTEMS
#define FORAGE_TEST_ALL_SYSTEMS 1
#endif
#if FORAGE_TEST_ALL_SYSTEMS
using Systems = ::testing::Types<WorkStealing, SingleQueueLocked, SingleQueueLockFree>;
using SingleQueueSystems = ::testing::Types<SingleQueueLocked, SingleQueueLockFree>;
#else
using Systems = ::testing::Types<WorkStealing, SingleQueueLockFree>;
using SingleQueueSystems = ::testing::Types<SingleQueueLockFree>;
#endif

// For Watchdog::on_expiry: prints the pool's per-worker counters (stats() reads atomics and
// takes no lock a hung worker could hold).
template <class PoolType>
std::function<void()> pool_state_dump(PoolType& pool) {
  return [&pool] {
    const PoolStats stats = pool.stats();
    std::fprintf(stderr, "pool state (%zu workers):\n", stats.workers.size());
    for (std::size_t i = 0; i < stats.workers.size(); ++i) {
      const WorkerStats& worker = stats.workers[i];
      std::fprintf(stderr,
                   "  worker %zu: executed %llu, cancelled %llu, stolen %llu, steal attempts %llu, "
                   "parks %llu, pinned cpu %s%s%s\n",
                   i, static_cast<unsigned long long>(worker.executed),
                   static_cast<unsigned long long>(worker.cancelled),
                   static_cast<unsigned long long>(worker.stolen),
                   static_cast<unsigned long long>(worker.steal_attempts),
                   static_cast<unsigned long long>(worker.parks),
                   worker.pinned_cpu ? std::to_string(*worker.pinned_cpu).c_str() : "-",
                   worker.pin_error.empty() ? "" : ", pin error: ", worker.pin_error.c_str());
    }
  };
}

// How many tasks `call` made the pool run: the executed count around it, with the pool
// quiescent at both ends (a worker counts a task after the task returned, which may be after
// the caller of an algorithm woke).
template <class PoolType, class Call>
std::uint64_t tasks_run_by(PoolType& pool, Call call) {
  pool.wait_idle();
  const std::uint64_t before = pool.stats().executed();
  call();
  pool.wait_idle();
  return pool.stats().executed() - before;
}

// A hand-built task node that records whether it was run or cancelled, as a future's shared
// state will.
struct CountingTask final : detail::Task {
  CountingTask(std::atomic<std::size_t>& ran, std::atomic<std::size_t>& cancelled)
      : Task{&CountingTask::invoke_impl}, ran_(ran), cancelled_(cancelled) {}

  static void invoke_impl(Task* self, detail::TaskAction action) noexcept {
    auto* task = static_cast<CountingTask*>(self);
    // relaxed: counts read by the main thread after the pool is shut down (joined).
    if (action == detail::TaskAction::run) {
      task->ran_.fetch_add(1, std::memory_order_relaxed);
    } else {
      task->cancelled_.fetch_add(1, std::memory_order_relaxed);
    }
    delete task;
  }

  std::atomic<std::size_t>& ran_;
  std::atomic<std::size_t>& cancelled_;
};

}  // namespace forage::test
