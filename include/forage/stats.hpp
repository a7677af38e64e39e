// Per-worker counters, read with Pool::stats() / SingleQueuePool::stats().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace forage {

struct WorkerStats {
  std::uint64_t executed = 0;        // tasks this worker ran
  std::uint64_t cancelled = 0;       // tasks this worker dropped at Shutdown::cancel_pending
  std::uint64_t stolen = 0;          // tasks taken from another worker's deque
  std::uint64_t steal_attempts = 0;  // steal calls on another worker's deque
  std::uint64_t parks = 0;           // times the worker went to sleep
  std::optional<int> pinned_cpu;     // OS index of the PU it is bound to; nullopt if not pinned
  std::string pin_error;             // why pinning failed, empty if it did not
};

struct PoolStats {
  std::vector<WorkerStats> workers;

  std::uint64_t executed() const noexcept;
  std::uint64_t cancelled() const noexcept;
  std::uint64_t stolen() const noexcept;
  std::uint64_t steal_attempts() const noexcept;
  std::uint64_t parks() const noexcept;
};

}  // namespace forage
