// Backoff: how long an idle worker keeps searching before it parks. Shared by Pool and the
// lock-free SingleQueuePool so that the comparison between them is about the queues only.
#pragma once

#include <algorithm>
#include <thread>

#include "atomics/atomics.hpp"

namespace forage::detail {

class Backoff {
 public:
  // Waits a little longer than last time. Returns false when the search should give up and
  // park. The first rounds spin with cpu_relax (a wake-up costs microseconds, so a short spin
  // pays when work arrives soon); the last ones yield, so that oversubscribed workers (more
  // workers than cores) hand the core to a thread that has work.
  bool wait() noexcept {
    if (round_ >= kSpinRounds + kYieldRounds) return false;
    if (round_ < kSpinRounds) {
      const int relax = std::min(1 << round_, kMaxRelaxPerRound);
      for (int i = 0; i < relax; ++i) cpu_relax();
    } else {
      std::this_thread::yield();
    }
    ++round_;
    return true;
  }

 private:
  static constexpr int kSpinRounds = 12;
  static constexpr int kYieldRounds = 4;
  static constexpr int kMaxRelaxPerRound = 64;
  int round_ = 0;
};

}  // namespace forage::detail
