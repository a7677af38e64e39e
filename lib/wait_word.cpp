// The compiled half of detail/wait_word.hpp: waiting for a condition on a 32-bit word, the one
// way every blocking call in forage waits (Future::get/wait, join, TaskGroup::wait, the
// algorithms). On a worker thread it runs the pool's other tasks until the condition holds
// (help-while-wait); anywhere else it sleeps on the word's futex. Neither spins for long.
#include "forage/detail/wait_word.hpp"

#include <algorithm>

#include "forage/detail/stop_node.hpp"
#include "lifecycle/scheduler.hpp"
#include "lifecycle/worker_context.hpp"
#include "sleep/backoff.hpp"
#include "sleep/futex.hpp"

namespace forage::detail {

namespace {

using Clock = std::chrono::steady_clock;

struct WaitSpec {
  std::atomic<std::uint32_t>* word;
  // The bit a waiter sets before it sleeps; whoever makes the condition true wakes the word's
  // sleepers when it sees the bit.
  std::uint32_t sleeper_bit;
  WordCondition holds;
  std::uint32_t arg;
};

// A helping worker that finds no task sleeps on the word for at most this long before it
// looks for work again, starting short and doubling: a task submitted while it sleeps waits
// at most kLongestNap for it (other idle workers are woken for it at once).
constexpr auto kFirstNap = std::chrono::microseconds(50);
constexpr auto kLongestNap = std::chrono::milliseconds(1);

bool holds_now(const WaitSpec& spec, std::uint32_t& seen) {
  // acquire: whoever made the condition true published its work before doing so.
  seen = spec.word->load(std::memory_order_acquire);
  return spec.holds(seen, spec.arg);
}

// Sleeps on the word until the condition holds or the deadline passes. No spinning: whoever
// makes the condition true wakes us when it sees the sleeper bit.
bool sleep_until(const WaitSpec& spec, Clock::time_point deadline, bool has_deadline) {
  std::atomic<std::uint32_t>& word = *spec.word;
  std::uint32_t seen = 0;
  if (holds_now(spec, seen)) return true;
  for (;;) {
    if (has_deadline && Clock::now() >= deadline) return false;
    if ((seen & spec.sleeper_bit) == 0) {
      // acquire (both): on failure `seen` is re-examined, and may satisfy the condition. The
      // bit needs no stronger order: the signaller's read-modify-write and this CAS are
      // ordered on the word itself, so either it sees the bit and wakes us, or we see its value.
      if (!word.compare_exchange_weak(seen, seen | spec.sleeper_bit, std::memory_order_acquire,
                                      std::memory_order_acquire)) {
        if (spec.holds(seen, spec.arg)) return true;
        continue;
      }
      seen |= spec.sleeper_bit;
    }
    // The kernel sleeps only while the word still equals `seen`: a change in between means
    // no wake-up is lost.
    if (has_deadline) {
      futex_wait_until(word, seen, deadline);
    } else {
      futex_wait(word, seen);
    }
    if (holds_now(spec, seen)) return true;
  }
}

// Help-while-wait: run the pool's other tasks until the condition holds. When there are none,
// spin briefly, then nap on the word (see kLongestNap) and search again.
bool help_until(const WaitSpec& spec, Scheduler& scheduler, Clock::time_point deadline,
                bool has_deadline) {
  Backoff backoff;
  auto nap = std::chrono::duration_cast<Clock::duration>(kFirstNap);
  std::uint32_t seen = 0;
  for (;;) {
    if (holds_now(spec, seen)) return true;
    if (has_deadline && Clock::now() >= deadline) return false;
    if (scheduler.run_one_task()) {
      backoff = Backoff();
      nap = std::chrono::duration_cast<Clock::duration>(kFirstNap);
      continue;
    }
    if (backoff.wait()) continue;
    const Clock::time_point wake_at =
        has_deadline ? std::min(deadline, Clock::now() + nap) : Clock::now() + nap;
    if (sleep_until(spec, wake_at, true)) return true;
    nap = std::min<Clock::duration>(nap * 2, kLongestNap);
  }
}

}  // namespace

bool rt::wait_for_word(std::atomic<std::uint32_t>& word, std::uint32_t sleeper_bit,
                       WordCondition holds, std::uint32_t arg, Clock::time_point deadline) {
  const WaitSpec spec{&word, sleeper_bit, holds, arg};
  std::uint32_t seen = 0;
  if (holds_now(spec, seen)) return true;
  if (deadline == Clock::time_point::min()) return false;  // a poll
  const bool has_deadline = deadline != kNoDeadline;
  if (WorkerContext* context = current_worker_context()) {
    // The tasks run while helping are not the waiting task: they read their own stop node or
    // none (this_task::stop_requested), not the waiter's. Per wait, not per task.
    const StopScope no_stop_of_the_waiter(nullptr);
    return help_until(spec, *context->scheduler, deadline, has_deadline);
  }
  return sleep_until(spec, deadline, has_deadline);
}

void rt::wake_word_sleepers(std::atomic<std::uint32_t>& word) noexcept { futex_wake(word, -1); }

}  // namespace forage::detail
