// Two waitable words for fork-join and the algorithms: CountLatch (join, TaskGroup, chunked
// jobs, imap slots) and Signal (imap_unordered's "a result arrived").
//
// Each is one 32-bit word whose bit 0 says "somebody sleeps on me". A waiter sets that bit
// only just before it sleeps on the word's futex, so a signaller pays for a wake-up only when
// a thread actually sleeps. Waiting on a worker thread runs the pool's other tasks meanwhile
// (help-while-wait), like Future::get().
//
// A signaller's last access to the object is the atomic read-modify-write that makes the
// condition true; the futex wake after it uses the address only as a key (waking nobody, or
// a spurious wake-up that every futex waiter tolerates, if the object is already gone). So the
// waiter may destroy the object as soon as its wait returns: these live on stack frames.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "forage/detail/assert.hpp"
#include "forage/export.hpp"

namespace forage::detail {

// Is the condition a waiter waits for true of this value of its word?
using WordCondition = bool (*)(std::uint32_t word, std::uint32_t arg) noexcept;

// A wait without a deadline. (time_point::min() as a deadline means a poll.)
inline constexpr std::chrono::steady_clock::time_point kNoDeadline =
    std::chrono::steady_clock::time_point::max();

namespace FORAGE_API rt {

// Defined in lib/wait_word.cpp: the one way every blocking call in forage waits (Future::get
// and wait_for, join, TaskGroup::wait, the algorithms, these words).
//
// Blocks until holds(word, arg) is true, or until `deadline` passes; returns whether it holds.
// On a worker thread it runs other tasks of that worker's pool meanwhile (help-while-wait);
// anywhere else it sleeps on the word's futex. `sleeper_bit` is the word's "somebody sleeps"
// bit: a waiter sets it just before it sleeps, and whoever makes the condition true and sees
// it calls wake_word_sleepers.
bool wait_for_word(std::atomic<std::uint32_t>& word, std::uint32_t sleeper_bit, WordCondition holds,
                   std::uint32_t arg, std::chrono::steady_clock::time_point deadline = kNoDeadline);
// Wakes every thread sleeping in wait_for_word on `word`.
void wake_word_sleepers(std::atomic<std::uint32_t>& word) noexcept;

}  // namespace rt

inline constexpr std::uint32_t kWordSleeper = 1;

// A counter that waiters wait to see at zero; reusable (add again after it reached zero).
// word = count << 1 | sleeper bit.
class CountLatch {
 public:
  explicit CountLatch(std::uint32_t count = 0) noexcept : word_(count << 1) {}
  CountLatch(const CountLatch&) = delete;
  CountLatch& operator=(const CountLatch&) = delete;

  // The most a latch counts (31 bits above the sleeper bit).
  static constexpr std::uint32_t kMaxCount = 0x7FFFFFFFu;

  // The word as text, for assertion messages and tests: "count 3 +sleeper".
  static std::string decode(std::uint32_t word) {
    return "count " + std::to_string(word >> 1) + ((word & kWordSleeper) != 0 ? " +sleeper" : "");
  }

  // Before the work it counts is handed to another thread.
  void add(std::uint32_t count = 1) noexcept {
    // relaxed: the handing-over (a queue push or a deque push) publishes the work; the count
    // itself is only read through count_down's and wait's acquire/release chain.
    const std::uint32_t before = word_.fetch_add(count << 1, std::memory_order_relaxed);
    FORAGE_ASSERT(
        count <= kMaxCount - (before >> 1),
        "CountLatch::add(" + std::to_string(count) + ") overflows: the word was " + decode(before));
  }

  // The counted work is finished. Must be the caller's last access to the latch's owner.
  void count_down() noexcept {
    // acq_rel: release publishes the finished work to the waiter that acquires zero; acquire
    // chains earlier count_downs' releases through this one (a release sequence of RMWs).
    const std::uint32_t before = word_.fetch_sub(2, std::memory_order_acq_rel);
    FORAGE_ASSERT((before >> 1) != 0,
                  "CountLatch::count_down below zero (more count_downs than adds): the word was " +
                      decode(before));
    if (before == (2 | kWordSleeper)) rt::wake_word_sleepers(word_);  // reached zero, with sleepers
  }

  bool done() const noexcept {
    // acquire: pairs with count_down's release: the counted work is visible after true.
    return (word_.load(std::memory_order_acquire) >> 1) == 0;
  }

  void wait() noexcept {
    if (done()) return;
    rt::wait_for_word(word_, kWordSleeper, &is_zero, 0);
    // A later reuse should not pay for a wake-up nobody waits for. Only clear the bit at zero:
    // a sleeper sets it while the count is non-zero, and the count_down that reaches zero
    // wakes every sleeper that set it before.
    std::uint32_t expected = kWordSleeper;
    // relaxed (both): a cleanup; nothing is published by it.
    word_.compare_exchange_strong(expected, 0, std::memory_order_relaxed,
                                  std::memory_order_relaxed);
  }

 private:
  static bool is_zero(std::uint32_t word, std::uint32_t) noexcept { return (word >> 1) == 0; }

  std::atomic<std::uint32_t> word_;
};

// An event counter: notify() moves it on; a waiter waits for it to move past a value it saw.
// word = sequence << 1 | sleeper bit (the sequence wraps; waiters compare for inequality).
class Signal {
 public:
  Signal() noexcept = default;
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;

  // The word as text, for assertion messages and tests: "sequence 7 +sleeper".
  static std::string decode(std::uint32_t word) {
    return "sequence " + std::to_string(word >> 1) +
           ((word & kWordSleeper) != 0 ? " +sleeper" : "");
  }

  std::uint32_t sequence() const noexcept {
    // acquire: what the notifier published before notify() is visible once this value is.
    return word_.load(std::memory_order_acquire) >> 1;
  }

  void notify() noexcept {
    // acq_rel: release publishes the notifier's work to a waiter that acquires the new value.
    const std::uint32_t before = word_.fetch_add(2, std::memory_order_acq_rel);
    if ((before & kWordSleeper) != 0) {
      // The sleeper set the bit for the value before ours: take it off, so that the next
      // notify() pays for a wake-up only if a new sleeper asks for one.
      // relaxed: the woken waiter re-reads the word with acquire.
      word_.fetch_and(~kWordSleeper, std::memory_order_relaxed);
      rt::wake_word_sleepers(word_);
    }
  }

  // Returns once sequence() != seen.
  void wait_past(std::uint32_t seen) noexcept {
    if (sequence() != seen) return;
    rt::wait_for_word(word_, kWordSleeper, &moved_past, seen);
  }

 private:
  static bool moved_past(std::uint32_t word, std::uint32_t seen) noexcept {
    return (word >> 1) != (seen & 0x7FFFFFFFu);
  }

  std::atomic<std::uint32_t> word_{0};
};

}  // namespace forage::detail
