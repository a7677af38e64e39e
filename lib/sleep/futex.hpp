// Linux futex wait/wake on a 32-bit atomic: the blocking primitive under EventCount.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "atomics/atomics.hpp"

namespace forage::detail {

// A waiter's tag for targeted wake-ups: a wake with a mask only reaches sleepers whose tag
// intersects it. kAnyWaiter matches every sleeper.
inline constexpr std::uint32_t kAnyWaiter = ~std::uint32_t{0};

// Sleeps while `word` holds `expected`, tagged with `tag`; may return spuriously. Callers loop.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::uint32_t tag = kAnyWaiter) noexcept;
// As futex_wait, but gives up at `deadline` (CLOCK_MONOTONIC, which steady_clock is on Linux).
void futex_wait_until(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                      std::chrono::steady_clock::time_point deadline) noexcept;
// Wakes up to `count` threads sleeping in futex_wait on `word` whose tag intersects `mask`;
// returns how many it woke.
int futex_wake(std::atomic<std::uint32_t>& word, int count,
               std::uint32_t mask = kAnyWaiter) noexcept;

// The blocking policy EventCount uses in the library (the model checker supplies another).
struct FutexBlocking {
  static std::atomic<std::uint32_t>& word(std::atomic<std::uint32_t>& a) noexcept { return a; }
  static std::atomic<std::uint32_t>& word(SeqCstAtomic<std::uint32_t>& a) noexcept {
    return a.underlying();
  }
  template <class Word>
  static void wait(Word& epoch, std::uint32_t expected, std::uint32_t tag) noexcept {
    futex_wait(word(epoch), expected, tag);
  }
  // Wakes `count` sleepers, the ones tagged with `preferred` first: one targeted wake, and
  // only if it found nobody, a wake of anyone. Either way a sleeper is woken if one exists.
  template <class Word>
  static void wake(Word& epoch, int count, std::uint32_t preferred) noexcept {
    if (preferred != kAnyWaiter && futex_wake(word(epoch), count, preferred) > 0) return;
    futex_wake(word(epoch), count, kAnyWaiter);
  }
};

}  // namespace forage::detail
