// Helpers shared by the tests of futures and of what returns them (future_*_test.cpp,
// promise_test.cpp, join_test.cpp, algorithm_test.cpp, map_*_test.cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <latch>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace forage::test {

// Every test has a watchdog: a lost wake-up fails the test instead of hanging the run.
class WatchedTest : public ::testing::Test {
 private:
  const std::string name_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  Watchdog watchdog_{name_.c_str(), std::chrono::seconds(60)};
};

// A pool whose tasks can wait on a gate the test opens. The gate is opened before the pool is
// destroyed (also when an ASSERT leaves the test early), so the pool's drain never waits on a
// task stuck behind it.
template <class System>
class GatedPool {
 public:
  explicit GatedPool(std::size_t workers, PoolOptions options = {})
      : workers_blocked_(static_cast<std::ptrdiff_t>(workers)),
        pool_(System::make(workers, std::move(options))) {}
  ~GatedPool() { open(); }
  GatedPool(const GatedPool&) = delete;
  GatedPool& operator=(const GatedPool&) = delete;

  typename System::PoolType& operator*() { return *pool_; }
  typename System::PoolType* operator->() { return pool_.get(); }

  // What a task waits on until open().
  std::latch& gate() { return gate_; }
  // Occupies every worker with a task that waits for open(); returns once all of them wait,
  // so a task submitted afterwards is certainly pending until open().
  void block_workers() {
    for (std::size_t i = 0; i < pool_->worker_count(); ++i) {
      pool_->spawn([this] {
        workers_blocked_.count_down();
        gate_.wait();
      });
    }
    workers_blocked_.wait();
  }
  // Test thread only.
  void open() {
    if (opened_) return;
    opened_ = true;
    gate_.count_down();
  }

 private:
  std::latch gate_{1};
  std::latch workers_blocked_;
  bool opened_ = false;
  std::unique_ptr<typename System::PoolType> pool_;  // last: destroyed (drained) first
};

// Counts the destruction of the one live copy it stands for (moved-from copies do not count).
class DestructionCounter {
 public:
  explicit DestructionCounter(std::atomic<int>& destroyed) : destroyed_(&destroyed) {}
  DestructionCounter(DestructionCounter&& other) noexcept
      : destroyed_(std::exchange(other.destroyed_, nullptr)) {}
  DestructionCounter& operator=(DestructionCounter&&) = delete;
  ~DestructionCounter() {
    // relaxed: read by the test thread after a call that synchronizes with this thread
    // (cancel() on the same thread, or shutdown()'s join).
    if (destroyed_ != nullptr) destroyed_->fetch_add(1, std::memory_order_relaxed);
  }

 private:
  std::atomic<int>* destroyed_;
};

// Records the ids of a pool's worker threads (through on_worker_start), so that a test can
// tell where a callable ran.
class WorkerThreads {
 public:
  PoolOptions options() {
    PoolOptions options;
    options.on_worker_start = [this](std::size_t) {
      std::lock_guard lock(mutex_);
      ids_.insert(std::this_thread::get_id());
    };
    return options;
  }
  bool contains(std::thread::id id) {
    std::lock_guard lock(mutex_);
    return ids_.count(id) != 0;
  }

 private:
  std::mutex mutex_;
  std::set<std::thread::id> ids_;
};

template <class Error, class Call>
std::string message_of(Call call) {
  try {
    call();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no exception of the expected type)";
}

// Returns once the pool's workers have dropped their references to finished futures. A test
// that reads, on this thread, an exception thrown on a worker calls it first: whichever thread
// drops the last exception_ptr frees the exception, ordered only by libstdc++'s own reference
// count, which TSan cannot see (libstdc++ is not instrumented); a free on a worker after this
// thread read the exception would be reported as a race.
template <class PoolType>
void let_workers_release(PoolType& pool) {
  pool.wait_idle();
}

// Whether a thread sleeps on this future's futex (the bit the waiting code sets before it
// sleeps; only completion clears it).
template <class T>
bool has_sleeper(const detail::SharedState<T>& state) {
  // acquire: a plain observation; nothing is read through it.
  return (state.word().load(std::memory_order_acquire) & detail::StateBase::kHasSleepers) != 0;
}

// Returns once a thread sleeps on `state`, or once `gave_up()` (e.g. the waiter returned
// without sleeping, which the caller's assertions then catch): no guessing with a sleep.
template <class T, class GaveUp>
void wait_for_sleeper(const detail::SharedState<T>& state, GaveUp gave_up) {
  while (!has_sleeper(state) && !gave_up()) std::this_thread::yield();
}
template <class T>
void wait_for_sleeper(const detail::SharedState<T>& state) {
  wait_for_sleeper(state, [] { return false; });
}
template <class Future>
void wait_for_sleeper_on(const Future& future) {
  wait_for_sleeper(*detail::FutureAccess::state(future));
}

}  // namespace forage::test
