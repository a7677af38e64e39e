// Waiting for a condition on a 32-bit word, the one way every blocking call in forage waits:
// Future::get/wait, join, TaskGroup::wait, the algorithms. On a worker thread it runs the
// pool's other tasks until the condition holds (help-while-wait); anywhere else it sleeps on
// the word's futex. Neither spins for long.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "forage/detail/wait_word.hpp"

namespace forage::detail {

struct WaitSpec {
  std::atomic<std::uint32_t>* word;
  // The bit a waiter sets before it sleeps; whoever makes the condition true wakes the word's
  // sleepers when it sees the bit.
  std::uint32_t sleeper_bit;
  WordCondition holds;
  std::uint32_t arg;
};

// Returns whether the condition holds; false only when `has_deadline` and it passed first.
bool wait_for(const WaitSpec& spec, std::chrono::steady_clock::time_point deadline,
              bool has_deadline);

}  // namespace forage::detail
