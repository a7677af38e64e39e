// Linux futex wait/wake on a 32-bit atomic: the blocking primitive under EventCount.
#pragma once

#include <atomic>
#include <cstdint>

#include "forage/detail/atomics.hpp"

namespace forage::detail {

// Sleeps while `word` holds `expected`; may return spuriously. Callers loop.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept;
// Wakes up to `count` threads sleeping in futex_wait on `word`.
void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept;

// The blocking policy EventCount uses in the library (the model checker supplies another).
struct FutexBlocking {
  static std::atomic<std::uint32_t>& word(std::atomic<std::uint32_t>& a) noexcept { return a; }
  static std::atomic<std::uint32_t>& word(SeqCstAtomic<std::uint32_t>& a) noexcept {
    return a.underlying();
  }
  template <class Word>
  static void wait(Word& epoch, std::uint32_t expected) noexcept {
    futex_wait(word(epoch), expected);
  }
  template <class Word>
  static void wake(Word& epoch, int count) noexcept {
    futex_wake(word(epoch), count);
  }
};

}  // namespace forage::detail
