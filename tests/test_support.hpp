// Shared helpers for the test suites.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

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

// Fails the test (aborts the process with a message) if `disarm` is not called within
// `limit`: a hang becomes a failure instead of a stuck CI job. It watches for liveness only;
// no test asserts on elapsed time. A test made of rounds calls progress() after each one: the
// limit then applies to each stretch without progress instead of to the whole test, so a
// machine so overloaded that the test crawls (a round can take many milliseconds when its
// threads wait for a core) is not reported as a deadlock, while a hang still is.
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
using Systems = ::testing::Types<WorkStealing, SingleQueueLocked, SingleQueueLockFree>;

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
