#include "sleep/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>

namespace forage::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "the kernel reads the futex word through the atomic's address");

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::uint32_t tag) noexcept {
  // The kernel compares *word with expected atomically against futex_wake, so a wake that
  // follows a change of the word is never missed. EINTR/EAGAIN are spurious returns.
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_BITSET_PRIVATE, expected,
          nullptr, nullptr, tag);
}

void futex_wait_until(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                      std::chrono::steady_clock::time_point deadline) noexcept {
  const auto since_epoch = deadline.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  timespec absolute{};
  absolute.tv_sec = static_cast<time_t>(seconds.count());
  absolute.tv_nsec = static_cast<long>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count());
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. ETIMEDOUT, EINTR and
  // EAGAIN all return; the caller re-checks the word and the clock.
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_BITSET_PRIVATE, expected,
          &absolute, nullptr, kAnyWaiter);
}

int futex_wake(std::atomic<std::uint32_t>& word, int count, std::uint32_t mask) noexcept {
  const long woken =
      syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_BITSET_PRIVATE,
              count < 0 ? INT_MAX : count, nullptr, nullptr, mask);
  return woken > 0 ? static_cast<int>(woken) : 0;
}

}  // namespace forage::detail
