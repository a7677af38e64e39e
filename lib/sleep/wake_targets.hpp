// WakeTargets: which sleeping worker a submit from outside should wake first.
//
// Waking a worker pinned to the CPU the submitter runs on costs about 1.5 µs on the
// development VM; waking an idle other CPU costs 15-40 µs there (the host must schedule that
// vCPU again). So a submit from outside prefers a sleeper on its own CPU, and falls back to
// any sleeper (FutexBlocking::wake), which keeps the no-lost-wake-up argument unchanged. A
// woken worker that sees more work wakes another (lib/sleep/README.md), so a burst still spreads.
#pragma once

#include <sched.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sleep/futex.hpp"

namespace forage::detail {

class WakeTargets {
 public:
  WakeTargets() = default;
  // `plan`: the OS PU of each worker (Topology::pinning_plan); empty when unpinned.
  explicit WakeTargets(const std::vector<int>& plan) {
    for (std::size_t worker = 0; worker < plan.size(); ++worker) {
      const auto cpu = static_cast<std::size_t>(plan[worker]);
      if (cpu >= tags_by_cpu_.size()) tags_by_cpu_.resize(cpu + 1, 0);
      tags_by_cpu_[cpu] |= tag_of(worker);
    }
  }

  // The futex tag a worker sleeps with: one of 32 bits (workers beyond 32 share bits, which
  // only widens a preference).
  static std::uint32_t tag_of(std::size_t worker) noexcept {
    return std::uint32_t{1} << (worker % 32);
  }

  // Tags of the workers pinned to the calling thread's CPU, or kAnyWaiter.
  std::uint32_t on_current_cpu() const noexcept {
    const int cpu = sched_getcpu();
    if (cpu < 0 || static_cast<std::size_t>(cpu) >= tags_by_cpu_.size()) return kAnyWaiter;
    const std::uint32_t tags = tags_by_cpu_[static_cast<std::size_t>(cpu)];
    return tags != 0 ? tags : kAnyWaiter;
  }

 private:
  std::vector<std::uint32_t> tags_by_cpu_;
};

}  // namespace forage::detail
