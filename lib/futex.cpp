#include "futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

namespace forage::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "the kernel reads the futex word through the atomic's address");

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
  // The kernel compares *word with expected atomically against futex_wake, so a wake that
  // follows a change of the word is never missed. EINTR/EAGAIN are spurious returns.
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE,
          count < 0 ? INT_MAX : count, nullptr, nullptr, 0);
}

}  // namespace forage::detail
