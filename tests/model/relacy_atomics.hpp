// Policies that run the shipped WorkDeque and EventCount under the Relacy model checker.
//
//   RelacyAtomics<>        the atomics policy (lib/atomics/atomics.hpp describes the
//                          contract): every access and fence goes to Relacy, with the order the
//                          shipped code names at the call site.
//   RelacyAtomics<Site>    a mutant: the same, minus the one fence named by Site. The mutant
//                          tests show the checker catches the bug that removing it causes.
//   RelacyBlocking         EventCount's blocking policy (FutexBlocking in lib/sleep/futex.hpp): a
//                          futex emulated with an rl::mutex and an rl::condition_variable.
//
// Relacy is single-threaded: it runs the test's threads as fibers and decides, at every
// atomic access, which thread runs next and which store in the modification order a load may
// read (one of the last two the load is allowed to see; the random scheduler also goes two
// back). Code under test must use Relacy's types only; the policies below are how the shipped
// templates get them without a line of the shipped code changing.
//
// Include this only in a model-check executable: relacy.hpp replaces the global operator
// new/delete (without the sized forms, hence -fno-sized-deallocation) to track the test's
// memory. model_runner.hpp runs a model with these policies.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <type_traits>
#include <version>
#if defined(__cpp_lib_source_location)
#include <source_location>
#endif

// relacy.hpp ends by defining convenience macros (new, delete, malloc, free, assert, errno,
// memory_order_*) for test code written against it. They would rewrite the shipped headers
// (`= delete;`, `std::memory_order_relaxed`), so they are saved here and restored after it:
// only Relacy's own headers see them. `$` and RL_ASSERT stay.
#pragma push_macro("new")
#pragma push_macro("delete")
#pragma push_macro("malloc")
#pragma push_macro("calloc")
#pragma push_macro("realloc")
#pragma push_macro("free")
#pragma push_macro("assert")
#pragma push_macro("errno")
#pragma push_macro("memory_order_relaxed")
#pragma push_macro("memory_order_consume")
#pragma push_macro("memory_order_acquire")
#pragma push_macro("memory_order_release")
#pragma push_macro("memory_order_acq_rel")
#pragma push_macro("memory_order_seq_cst")
#include <relacy/relacy.hpp>
#pragma pop_macro("memory_order_seq_cst")
#pragma pop_macro("memory_order_acq_rel")
#pragma pop_macro("memory_order_release")
#pragma pop_macro("memory_order_acquire")
#pragma pop_macro("memory_order_consume")
#pragma pop_macro("memory_order_relaxed")
#pragma pop_macro("errno")
#pragma pop_macro("assert")
#pragma pop_macro("free")
#pragma pop_macro("realloc")
#pragma pop_macro("calloc")
#pragma pop_macro("malloc")
#pragma pop_macro("delete")
#pragma pop_macro("new")

#include "atomics/atomics.hpp"

namespace forage::model {

using detail::FenceSite;

// Where the shipped code made a call, so that Relacy's execution history of a failing run
// names the line of work_deque.hpp / event_count.hpp, not a line of this adapter.
#if defined(__cpp_lib_source_location)
using CallSite = std::source_location;
#else
// clang 14 with libstdc++ 12 has no std::source_location: histories then name no line.
struct CallSite {
  static constexpr CallSite current() noexcept { return {}; }
  constexpr const char* function_name() const noexcept { return "?"; }
  constexpr const char* file_name() const noexcept { return "?"; }
  constexpr unsigned line() const noexcept { return 0; }
};
#endif

inline rl::debug_info debug_info(const CallSite& site) noexcept {
  return rl::debug_info(site.function_name(), site.file_name(), static_cast<unsigned>(site.line()));
}

inline rl::memory_order to_relacy(std::memory_order order) noexcept {
  switch (order) {
    case std::memory_order_relaxed:
      return rl::mo_relaxed;
    case std::memory_order_consume:
      break;  // forage never uses consume (STYLE.md); reaching here fails the model run
    case std::memory_order_acquire:
      return rl::mo_acquire;
    case std::memory_order_release:
      return rl::mo_release;
    case std::memory_order_acq_rel:
      return rl::mo_acq_rel;
    case std::memory_order_seq_cst:
      return rl::mo_seq_cst;
  }
  std::abort();
}

// rl::atomic<T> behind the std::atomic member functions the shipped code calls. Each call
// passes the caller's order through unchanged and the caller's location as debug info.
template <class T>
class RelacyAtomic {
 public:
  // Like std::atomic<T> since C++20, a default-constructed atomic holds T{}: WorkDeque's ring
  // slots (`new Atomic<T>[n]`) rely on it. Relacy models the initialisation as a relaxed store
  // by the constructing thread, which is published the way the object itself is.
  explicit RelacyAtomic(CallSite site = CallSite::current()) {
    value_.store(T{}, rl::mo_relaxed, debug_info(site));
  }
  explicit RelacyAtomic(T value, CallSite site = CallSite::current()) {
    value_.store(value, rl::mo_relaxed, debug_info(site));
  }
  RelacyAtomic(const RelacyAtomic&) = delete;
  RelacyAtomic& operator=(const RelacyAtomic&) = delete;

  T load(std::memory_order order, CallSite site = CallSite::current()) const {
    return value_.load(to_relacy(order), debug_info(site));
  }
  void store(T value, std::memory_order order, CallSite site = CallSite::current()) {
    value_.store(value, to_relacy(order), debug_info(site));
  }
  T exchange(T value, std::memory_order order, CallSite site = CallSite::current()) {
    return value_.exchange(value, to_relacy(order), debug_info(site));
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order success,
                               std::memory_order failure, CallSite site = CallSite::current()) {
    const rl::debug_info info = debug_info(site);
    return value_.compare_exchange_strong(expected, desired, to_relacy(success), info,
                                          to_relacy(failure), info);
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success,
                             std::memory_order failure, CallSite site = CallSite::current()) {
    const rl::debug_info info = debug_info(site);
    return value_.compare_exchange_weak(expected, desired, to_relacy(success), info,
                                        to_relacy(failure), info);
  }
  T fetch_add(T delta, std::memory_order order,
              CallSite site = CallSite::current()) requires std::is_integral_v<T> {
    return value_.fetch_add(delta, to_relacy(order), debug_info(site));
  }
  T fetch_sub(T delta, std::memory_order order,
              CallSite site = CallSite::current()) requires std::is_integral_v<T> {
    return value_.fetch_sub(delta, to_relacy(order), debug_info(site));
  }
  T fetch_or(T bits, std::memory_order order,
             CallSite site = CallSite::current()) requires std::is_integral_v<T> {
    return value_.fetch_or(bits, to_relacy(order), debug_info(site));
  }

 private:
  rl::atomic<T> value_;
};

// A 32-bit word that can also be slept on, as any aligned u32 can be a futex word for the
// kernel. The wait queue is an rl::mutex + rl::condition_variable; see RelacyBlocking.
class RelacyFutexWord : public RelacyAtomic<std::uint32_t> {
 public:
  using RelacyAtomic<std::uint32_t>::RelacyAtomic;

  // futex_wait: sleeps while the word holds `expected`; may return spuriously (Relacy's
  // condition variable wakes spuriously, a bounded number of times, under the random
  // scheduler, as the kernel may on a signal).
  void wait(std::uint32_t expected, CallSite site = CallSite::current()) {
    const rl::debug_info info = debug_info(site);
    mutex_.lock(info);
    // relaxed: the kernel's compare orders nothing for the caller (commit_wait re-reads the
    // epoch with acquire after it returns). What the emulation must guarantee is only that no
    // wake is lost between this compare and the sleep, and the mutex does that: a waker
    // changes the word before it takes mutex_ (wake below). If it takes mutex_ after us, we
    // are already in cv_.wait (which released mutex_ atomically) and its notify finds us; if
    // it took mutex_ before us, its change happens-before this load through the mutex, so we
    // read it and do not sleep.
    if (load(std::memory_order_relaxed, site) == expected) {
      ++sleepers_;
      cv_.wait(mutex_, info);
      --sleepers_;
    }
    mutex_.unlock(info);
  }

  // futex_wake: wakes up to `count` threads sleeping in wait. The caller changed the word
  // before calling (EventCount bumps the epoch first), as with the real futex.
  void wake(int count, CallSite site = CallSite::current()) {
    const rl::debug_info info = debug_info(site);
    mutex_.lock(info);
    // sleepers_ counts threads in cv_.wait; each notify_one wakes a different one of them.
    const int to_wake = count < sleepers_ ? count : sleepers_;
    for (int i = 0; i < to_wake; ++i) cv_.notify_one(info);
    mutex_.unlock(info);
  }

 private:
  rl::mutex mutex_;
  rl::condition_variable cv_;
  int sleepers_ = 0;  // guarded by mutex_
};

// The atomics policy. Each FenceSite listed in Removed is dropped: RelacyAtomics<> is the
// shipped protocol, RelacyAtomics<FenceSite::deque_pop_seq_cst> a mutant without that fence.
template <FenceSite... Removed>
struct RelacyAtomics {
  template <class T>
  using atomic =
      std::conditional_t<std::is_same_v<T, std::uint32_t>, RelacyFutexWord, RelacyAtomic<T>>;

  static constexpr bool removed(FenceSite site) noexcept { return ((site == Removed) || ...); }
  static constexpr bool keeps(FenceSite site) noexcept { return !removed(site); }

  static void fence(std::memory_order order, FenceSite site,
                    CallSite call_site = CallSite::current()) {
    if (removed(site)) return;
    rl::atomic_thread_fence(to_relacy(order), debug_info(call_site));
  }
};

// EventCount's blocking policy (the counterpart of FutexBlocking in lib/sleep/futex.hpp).
// Tags and preferences are ignored: a wake reaches any sleeper. That is what FutexBlocking
// guarantees too (a targeted wake that finds nobody falls back to waking anyone); which
// sleeper it picks is a latency choice, not part of the no-lost-wake-up argument.
struct RelacyBlocking {
  static void wait(RelacyFutexWord& word, std::uint32_t expected, std::uint32_t /*tag*/,
                   CallSite site = CallSite::current()) {
    word.wait(expected, site);
  }
  static void wake(RelacyFutexWord& word, int count, std::uint32_t /*preferred*/,
                   CallSite site = CallSite::current()) {
    word.wake(count, site);
  }
};

}  // namespace forage::model
