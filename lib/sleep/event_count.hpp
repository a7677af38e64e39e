// EventCount: lets a worker sleep until work may have arrived, without losing a wake-up and
// without a producer paying more than a fence and one load while nobody sleeps.
// The protocol and its proof are in README.md beside this file.
//
//   waiter:   key = prepare_wait();  if (work found) cancel_wait(); else commit_wait(key);
//   producer: publish work;  notify_one();
//
// Pool also bounds how many workers search at once (README.md, "Bounded searching"): the
// searching count and a mark ("work nobody was told about") share the waiter count's word, so
// a producer reads all three with its one load.
//
//   worker:   if (try_begin_search(limit)) { rounds; found: end_search(); run it }
//             ticket = prepare_wait_after_search(searching);
//             ticket.last: sweep everything; found: cancel_wait(), restore_mark() if pending
//   producer: publish work;  notify_unless_searching();
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
    state_.store(0, std::memory_order_relaxed);
    epoch_.store(0, std::memory_order_relaxed);
  }

  // The fields of the state word (README.md, "Bounded searching").
  static constexpr std::uint32_t kWaiter = 1;  // bits 0-15: waiters
  static constexpr std::uint32_t kWaiterMask = 0xFFFF;
  static constexpr std::uint32_t kSearcher = 1u << 16;  // bits 16-30: searching
  static constexpr std::uint32_t kSearcherMask = 0x7FFFu << 16;
  static constexpr std::uint32_t kPending = 1u << 31;  // bit 31: work nobody was woken for
  static constexpr std::uint32_t waiters_in(std::uint32_t state) noexcept {
    return state & kWaiterMask;
  }
  static constexpr std::uint32_t searchers_in(std::uint32_t state) noexcept {
    return (state & kSearcherMask) >> 16;
  }

  // Waiter, step 1: announce. The caller must re-check for work after this returns, then call
  // exactly one of cancel_wait / commit_wait.
  Key prepare_wait() noexcept {
    // relaxed: ordered before the re-check by the seq_cst fence below; producers read it after
    // their own fence (lib/sleep/README.md, case B).
    state_.fetch_add(kWaiter, std::memory_order_relaxed);
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
    // relaxed: a stale count only makes a producer do one needless wake. An RMW, so it does
    // not break the release sequences the searching protocol relies on.
    state_.fetch_sub(kWaiter, std::memory_order_relaxed);
  }

  // Waiter, step 2b: nothing found; sleep until a notify that came after prepare_wait, or
  // until the kernel wakes us at all: the caller searches again after any return. A wake
  // meant for an older key may reach a waiter with the current one (futex_wake picks any
  // sleeper), and under Pool's protocol that waiter did not look for the work, so it must
  // not go back to sleep (README.md, "The key"). `tag` lets a notify prefer this waiter
  // (futex.hpp); it does not change which notifies wake it.
  void commit_wait(Key key, std::uint32_t tag = kAnyWaiter) noexcept {
    // acquire: pairs with the release bump in notify, so the producer's work is visible
    // after we wake.
    if (epoch_.load(std::memory_order_acquire) == key) {
      Blocking::wait(epoch_, key, tag);
      // acquire: as above, for the bump that woke us, if one did.
      (void)epoch_.load(std::memory_order_acquire);
    }
    // relaxed: as in cancel_wait.
    state_.fetch_sub(kWaiter, std::memory_order_relaxed);
  }

  // --- Bounded searching (Pool; README.md, "Bounded searching") ---

  // Rule 1: become a searcher if fewer than `limit` are searching.
  bool try_begin_search(std::uint32_t limit) noexcept {
    // relaxed: the CAS below re-reads it.
    std::uint32_t state = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (searchers_in(state) >= limit) return false;
      // acq_rel: every RMW on the word is, so that the waiters an RMW counts read their keys
      // before any bump it leads to (README.md, "The key"); relaxed on failure: we retry.
      if (state_.compare_exchange_weak(state, state + kSearcher, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
  }

  // Rule 4: a searcher found work and stops searching. The mark stays (only a sweep that
  // finds nothing clears it); if we were the last searcher, the mark is set and someone
  // sleeps, wake one: it inherits the mark and searches. True if it woke someone.
  bool end_search() noexcept {
    // acq_rel: as in try_begin_search; the acquire half also orders the keys of the waiters
    // we count before our bump (README.md, "The key").
    const std::uint32_t next = state_.fetch_sub(kSearcher, std::memory_order_acq_rel) - kSearcher;
    if (searchers_in(next) != 0 || (next & kPending) == 0 || waiters_in(next) == 0) return false;
    wake_one(kAnyWaiter);
    return true;
  }

  struct ParkTicket {
    Key key;
    bool last;     // no searcher is left: the caller must sweep every queue before sleeping
    bool pending;  // the mark it cleared: restore_mark() if the sweep finds work
  };

  // Rule 3: prepare_wait for Pool's workers. One RMW joins the waiters and leaves the
  // searchers (when `was_searching`); the caller then sweeps if `last`, and ends with
  // cancel_wait or commit_wait(key) as after prepare_wait.
  ParkTicket prepare_wait_after_search(bool was_searching) noexcept {
    // acquire: as in prepare_wait. Read before the RMW (unlike prepare_wait): a waiter that a
    // producer counts must not take that producer's bump as its key, since a waiter that is
    // not the last one out never re-checks for the work (README.md, "The key").
    const Key key = epoch_.load(std::memory_order_acquire);
    // relaxed: the CAS below re-reads it.
    std::uint32_t state = state_.load(std::memory_order_relaxed);
    std::uint32_t next = 0;
    for (;;) {
      next = state + kWaiter - (was_searching ? kSearcher : 0);
      // The last one out takes the mark (it sweeps); anyone else leaves one, so that the
      // searcher still out wakes someone if it finds work (README.md, rule 3).
      next = searchers_in(next) == 0 ? next & ~kPending : next | kPending;
      // acq_rel: as in try_begin_search; the release half also orders the key load above
      // before a producer's acquire load of the word. The fence below orders the RMW before
      // the sweep.
      if (state_.compare_exchange_weak(state, next, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
        break;
      }
    }
    const bool last = searchers_in(next) == 0;
    // seq_cst: as in prepare_wait; also the fence after the RMW in the README's fence lemma.
    Atoms::fence(std::memory_order_seq_cst, FenceSite::park_waiter_seq_cst);
    return {key, last, last && (state & kPending) != 0};
  }

  // Rule 5, after publishing work: if the mark is set, someone owes it a look and we are
  // done; else wake one waiter if nobody searches, or set the mark. True if it woke someone.
  // `prefer` as in notify_one_preferring.
  // `several`: more than one task was published (a batch, a share): a wake then also sets
  // the mark, so that the woken worker, once it finds one, wakes the next (rule 4).
  template <class Prefer>
  bool notify_unless_searching(Prefer prefer, bool several = false) noexcept {
    // seq_cst: pairs with the fence in prepare_wait / prepare_wait_after_search.
    Atoms::fence(std::memory_order_seq_cst, FenceSite::park_producer_seq_cst);
    // acquire: ordered after the caller's publication by the fence above; acquire so that
    // every waiter it counts read its key before our bump (prepare_wait_after_search). While
    // the pool is busy and marked this load is all a producer pays (a plain load on x86).
    std::uint32_t state = state_.load(std::memory_order_acquire);
    for (;;) {
      if ((state & kPending) != 0) return false;
      if (searchers_in(state) == 0 && waiters_in(state) != 0) {
        // acq_rel: as in try_begin_search; relaxed on failure: the loop re-decides.
        if (several && Atoms::keeps(FenceSite::search_pending_mark) &&
            !state_.compare_exchange_weak(state, state | kPending, std::memory_order_acq_rel,
                                          std::memory_order_relaxed)) {
          continue;
        }
        wake_one(prefer());
        return true;
      }
      if (!Atoms::keeps(FenceSite::search_pending_mark)) return false;
      // acq_rel: as in try_begin_search; relaxed on failure: the loop re-decides.
      if (state_.compare_exchange_weak(state, state | kPending, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
        return false;
      }
    }
  }
  bool notify_unless_searching(bool several = false) noexcept {
    return notify_unless_searching([] { return kAnyWaiter; }, several);
  }

  // The last one out, whose sweep found work (or lost a race) after its ticket took the mark:
  // put the mark back, and wake one if nobody searches (as end_search does). True if it woke
  // someone.
  bool restore_mark() noexcept {
    // acq_rel: as in end_search.
    const std::uint32_t state = state_.fetch_or(kPending, std::memory_order_acq_rel);
    if (searchers_in(state) != 0 || waiters_in(state) == 0) return false;
    wake_one(kAnyWaiter);
    return true;
  }

  // Any thread; for statistics and tests.
  std::uint32_t searchers_approx() const noexcept {
    // relaxed: a snapshot.
    return searchers_in(state_.load(std::memory_order_relaxed));
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
    return waiters_in(state_.load(std::memory_order_relaxed));
  }

 private:
  // Bumps the epoch and wakes one sleeper (a waiter between prepare and commit sees the bump).
  void wake_one(std::uint32_t preferred) noexcept {
    // release: pairs with the acquire loads of epoch_ in prepare_wait / commit_wait.
    epoch_.fetch_add(1, std::memory_order_release);
    Blocking::wake(epoch_, 1, preferred);
  }

  template <class Prefer>
  bool notify(int count, Prefer prefer) noexcept {
    // seq_cst: pairs with the fence in prepare_wait (store-buffering, README.md).
    Atoms::fence(std::memory_order_seq_cst, FenceSite::park_producer_seq_cst);
    // relaxed: ordered after the caller's publication by the fence above. This load is all a
    // producer pays while nobody sleeps.
    if (waiters_in(state_.load(std::memory_order_relaxed)) == 0) return false;
    // release: pairs with the acquire loads of epoch_ in prepare_wait / commit_wait.
    epoch_.fetch_add(1, std::memory_order_release);
    Blocking::wake(epoch_, count, prefer());
    return true;
  }

  // Waiters, searchers and the pending mark (the k* constants above). Written by waiters and
  // searchers, by producers only to set `pending`; read by producers after their fence.
  alignas(kCacheLine) Atomic<std::uint32_t> state_;
  // Written by producers (notify); waiters sleep on it (futex word). Wraps harmlessly: a
  // waiter would need to sleep through exactly 2^32 notifies to miss one.
  Atomic<std::uint32_t> epoch_;
};

}  // namespace forage::detail
