// The name a future's shared state keeps of the pool that completes it.
#pragma once

#include <cstdint>

namespace forage::detail {

// Ids are never reused, so a stale id finds nothing rather than another pool.
using SchedulerId = std::uint64_t;
inline constexpr SchedulerId kNoScheduler = 0;

// Reads the id of a Pool or SingleQueuePool (they befriend this).
struct SchedulerAccess {
  template <class Executor>
  static SchedulerId id(const Executor& executor) noexcept {
    return executor.scheduler_id_;
  }
};

}  // namespace forage::detail
