// EventCount: lets a worker sleep until work may have arrived, without losing a wake-up and
// without a producer paying more than a fence and one load while nobody sleeps.
// The protocol and its proof are in README.md beside this file.
//
//   waiter:   key = prepare_wait();  if (work found) cancel_wait(); else commit_wait(key);
//   producer: publish work;  notify_one();
#pragma once

#include <climits>
#include <cstdint>

#include "atomics/atomics.hpp"
#include "sleep/futex.hpp"

namespace forage::detail {

template <class Atoms = DefaultAtomics, class Blocking = FutexBlocking>
class EventCount {
  template <class U>
  using Atomic = typename Atoms::template atomic<U>;

 public:
  using Key = std::uint32_t;

  EventCount() noexcept {
    // relaxed: construction happens-before use (published by thread start).
    waiters_.store(0, std::memory_order_relaxed);
    epoch_.store(0, std::memory_order_relaxed);
  }

  // Waiter, step 1: announce. The caller must re-check for work after this returns, then call
  // exactly one of cancel_wait / commit_wait.
  Key prepare_wait() noexcept {
    // relaxed: ordered before the re-check by the seq_cst fence below; producers read it after
    // their own fence (lib/sleep/README.md, case B).
    waiters_.fetch_add(1, std::memory_order_relaxed);
    // acquire: pairs with the release bump in notify. A bump that comes after our fence cannot
    // be read here (it would put the producer's fence before ours), so the key is the epoch
    // before any notify that skipped our re-check.
    const Key key = epoch_.load(std::memory_order_acquire);
    // seq_cst: pairs with the producer's fence in notify (store-buffering): either the
    // producer sees our waiters_ increment, or our re-check sees its work.
    Atoms::fence(std::memory_order_seq_cst, FenceSite::park_waiter_seq_cst);
    return key;
  }

  // Waiter, step 2a: the re-check found work (or shutdown).
  void cancel_wait() noexcept {
    // relaxed: a stale count only makes a producer do one needless wake.
    waiters_.fetch_sub(1, std::memory_order_relaxed);
  }

  // Waiter, step 2b: nothing found; sleep until a notify that came after prepare_wait.
  // `tag` lets a notify prefer this waiter (futex.hpp); it does not change which notifies
  // wake it.
  void commit_wait(Key key, std::uint32_t tag = kAnyWaiter) noexcept {
    // acquire: pairs with the release bump in notify, so the producer's work is visible
    // after we wake.
    while (epoch_.load(std::memory_order_acquire) == key) Blocking::wait(epoch_, key, tag);
    // relaxed: as in cancel_wait.
    waiters_.fetch_sub(1, std::memory_order_relaxed);
  }

  // Producer, after publishing work: wake one sleeper if there is any. True if someone was
  // asleep or about to be (then one of them is woken).
  bool notify_one() noexcept {
    return notify(1, [] { return kAnyWaiter; });
  }
  // The same, preferring a sleeper whose tag intersects prefer(); prefer is called only when
  // someone sleeps, so the fast path stays one fence and one load.
  template <class Prefer>
  void notify_one_preferring(Prefer prefer) noexcept {
    notify(1, prefer);
  }
  // Producer, after publishing a batch of tasks: wake up to `count` sleepers with one notify
  // (one fence, and one futex call if anyone sleeps).
  bool notify_many(int count) noexcept {
    return notify(count, [] { return kAnyWaiter; });
  }
  // Producer: wake every sleeper (shutdown).
  void notify_all() noexcept {
    notify(INT_MAX, [] { return kAnyWaiter; });
  }

  // Any thread; for statistics and tests.
  std::uint32_t waiters_approx() const noexcept {
    // relaxed: a snapshot.
    return waiters_.load(std::memory_order_relaxed);
  }

 private:
  template <class Prefer>
  bool notify(int count, Prefer prefer) noexcept {
    // seq_cst: pairs with the fence in prepare_wait (store-buffering, README.md).
    Atoms::fence(std::memory_order_seq_cst, FenceSite::park_producer_seq_cst);
    // relaxed: ordered after the caller's publication by the fence above. This load is all a
    // producer pays while nobody sleeps.
    if (waiters_.load(std::memory_order_relaxed) == 0) return false;
    // release: pairs with the acquire loads of epoch_ in prepare_wait / commit_wait.
    epoch_.fetch_add(1, std::memory_order_release);
    Blocking::wake(epoch_, count, prefer());
    return true;
  }

  // Written by waiters (prepare/cancel/commit); read by producers after their fence.
  alignas(kCacheLine) Atomic<std::uint32_t> waiters_;
  // Written by producers (notify); waiters sleep on it (futex word). Wraps harmlessly: a
  // waiter would need to sleep through exactly 2^32 notifies to miss one.
  Atomic<std::uint32_t> epoch_;
};

}  // namespace forage::detail
