// Atomics policies: the lock-free parts (WorkDeque, EventCount) are templates over one of
// these, so the exact code that ships is also the code the Relacy model checker runs
// (tests/model/ supplies a third policy built on rl::atomic).
//
// A policy provides:
//   template <class T> using atomic = ...;     // load/store/exchange/compare_exchange/fetch_*
//   static void fence(std::memory_order, FenceSite) noexcept;
//   static constexpr bool keeps(FenceSite) noexcept;  // true: the step is not removed
// The FenceSite names each fence of the protocols (and the one protocol step that is not a
// fence) so that a model-check mutant can remove exactly one of them and show that the
// checker catches it.
#pragma once

#include <atomic>
#include <cstdint>

#if defined(__SANITIZE_THREAD__)
#define FORAGE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FORAGE_TSAN 1
#endif
#endif
#ifndef FORAGE_TSAN
#define FORAGE_TSAN 0
#endif

namespace forage::detail {

enum class FenceSite : std::uint8_t {
  deque_push_release,     // WorkDeque::push, slot write before bottom publish
  deque_pop_seq_cst,      // WorkDeque::pop, bottom decrement before top read
  deque_steal_seq_cst,    // WorkDeque::steal, top read before bottom read
  park_waiter_seq_cst,    // EventCount::prepare_wait, announce before re-check
  park_producer_seq_cst,  // EventCount::notify_*, publish work before waiter read
  // Not a fence: EventCount::notify_unless_searching setting `pending` when it wakes nobody
  // (lib/sleep/README.md, "Bounded searching"). Shipped policies always keep it.
  search_pending_mark
};

// Release builds: std::atomic with the orders written at each call site.
struct StdAtomics {
  template <class T>
  using atomic = std::atomic<T>;

  static void fence(std::memory_order order, FenceSite /*site*/) noexcept {
    std::atomic_thread_fence(order);
  }
  static constexpr bool keeps(FenceSite /*site*/) noexcept { return true; }
};

// ThreadSanitizer does not model std::atomic_thread_fence, so under TSan every access is
// seq_cst and the fences are dropped. A seq_cst-everywhere Chase-Lev deque and event count
// are correct without fences (that is the original, sequentially consistent algorithm), so
// TSan checks a correct program; the fenced orderings are checked by Relacy instead.
template <class T>
class SeqCstAtomic {
 public:
  constexpr SeqCstAtomic() noexcept = default;
  constexpr explicit SeqCstAtomic(T value) noexcept : value_(value) {}

  T load(std::memory_order /*ignored*/) const noexcept {
    return value_.load(std::memory_order_seq_cst);
  }
  void store(T value, std::memory_order /*ignored*/) noexcept {
    value_.store(value, std::memory_order_seq_cst);
  }
  T exchange(T value, std::memory_order /*ignored*/) noexcept {
    return value_.exchange(value, std::memory_order_seq_cst);
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order /*success*/,
                               std::memory_order /*failure*/) noexcept {
    return value_.compare_exchange_strong(expected, desired, std::memory_order_seq_cst);
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order /*success*/,
                             std::memory_order /*failure*/) noexcept {
    return value_.compare_exchange_weak(expected, desired, std::memory_order_seq_cst);
  }
  T fetch_add(T delta, std::memory_order /*ignored*/) noexcept {
    return value_.fetch_add(delta, std::memory_order_seq_cst);
  }
  T fetch_sub(T delta, std::memory_order /*ignored*/) noexcept {
    return value_.fetch_sub(delta, std::memory_order_seq_cst);
  }
  T fetch_or(T bits, std::memory_order /*ignored*/) noexcept {
    return value_.fetch_or(bits, std::memory_order_seq_cst);
  }
  // Futex-style waiting needs the address of the underlying word.
  std::atomic<T>& underlying() noexcept { return value_; }

 private:
  std::atomic<T> value_{};
};

struct SeqCstAtomics {
  template <class T>
  using atomic = SeqCstAtomic<T>;

  static void fence(std::memory_order /*order*/, FenceSite /*site*/) noexcept {}
  static constexpr bool keeps(FenceSite /*site*/) noexcept { return true; }
};

#if FORAGE_TSAN
using DefaultAtomics = SeqCstAtomics;
#else
using DefaultAtomics = StdAtomics;
#endif

// A CPU hint for spin loops: lets the sibling hyperthread run and saves power.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __builtin_arm_yield();
#endif
}

// Counters and hot atomics are padded to this so that two workers never share a line.
// 128, not 64: x86's adjacent-line prefetcher pulls pairs of lines.
inline constexpr std::size_t kCacheLine = 128;

}  // namespace forage::detail
