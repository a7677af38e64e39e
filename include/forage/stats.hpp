/// @file
/// Per-worker counters, read with Pool::stats() / SingleQueuePool::stats().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "forage/export.hpp"

namespace forage {

/// One worker's counters, as read at the stats() call. A plain value.
///
/// The search and wake counters describe Pool's sleep protocol (lib/sleep/README.md, "Bounded
/// searching"); a SingleQueuePool leaves them 0.
struct WorkerStats {
  std::uint64_t executed = 0;        ///< tasks this worker ran
  std::uint64_t cancelled = 0;       ///< tasks this worker dropped at Shutdown::cancel_pending
  std::uint64_t stolen = 0;          ///< tasks taken from another worker's deque
  std::uint64_t steal_attempts = 0;  ///< steal calls on another worker's deque
  std::uint64_t parks = 0;           ///< times the worker went to sleep
  /// Times it ran out of work and was admitted as a searcher (at most half the workers search
  /// at once; one refused parks at once).
  std::uint64_t searches = 0;
  /// Search rounds it made: one look at the injection queue and a few victims (not everyone),
  /// between backoff pauses. steal_attempts / search_rounds is the victims a round touches.
  std::uint64_t search_rounds = 0;
  /// Full sweeps (the injection queue and every victim) it made as the last searcher to stop
  /// searching, just before sleeping.
  std::uint64_t sweeps = 0;
  /// Of steal_attempts, those made by sweeps; the rest were made in search rounds.
  std::uint64_t sweep_steal_attempts = 0;
  /// Wake-ups it sent: notifies (after a spawn, fork or a share it took) that found a sleeper.
  std::uint64_t wakes = 0;
  std::optional<int> pinned_cpu;  ///< OS index of the PU it is bound to; nullopt if not pinned
  std::string pin_error;          ///< why pinning failed, empty if it did not
};

/// A pool's counters (Pool::stats(), SingleQueuePool::stats()): a snapshot that belongs to its
/// caller, so reading it needs no synchronisation with the pool. The totals never throw.
struct FORAGE_API PoolStats {
  std::vector<WorkerStats> workers;  ///< one per worker, by index
  /// Wake-ups sent by spawns from outside the pool (no worker to count them on).
  std::uint64_t wakes_from_outside = 0;

  std::uint64_t executed() const noexcept;              ///< the workers' `executed`, summed
  std::uint64_t cancelled() const noexcept;             ///< the workers' `cancelled`, summed
  std::uint64_t stolen() const noexcept;                ///< the workers' `stolen`, summed
  std::uint64_t steal_attempts() const noexcept;        ///< the workers' `steal_attempts`, summed
  std::uint64_t parks() const noexcept;                 ///< the workers' `parks`, summed
  std::uint64_t searches() const noexcept;              ///< the workers' `searches`, summed
  std::uint64_t search_rounds() const noexcept;         ///< the workers' `search_rounds`, summed
  std::uint64_t sweeps() const noexcept;                ///< the workers' `sweeps`, summed
  std::uint64_t sweep_steal_attempts() const noexcept;  ///< `sweep_steal_attempts`, summed
  /// Every wake-up sent: the workers' `wakes` plus wakes_from_outside.
  std::uint64_t wakes() const noexcept;
};

}  // namespace forage
