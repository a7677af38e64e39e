#include "forage/stats.hpp"

#include "lifecycle/worker_context.hpp"

namespace forage {

namespace {
template <class Field>
std::uint64_t sum(const std::vector<WorkerStats>& workers, Field field) {
  std::uint64_t total = 0;
  for (const WorkerStats& worker : workers) total += worker.*field;
  return total;
}
}  // namespace

std::uint64_t PoolStats::executed() const noexcept { return sum(workers, &WorkerStats::executed); }
std::uint64_t PoolStats::cancelled() const noexcept {
  return sum(workers, &WorkerStats::cancelled);
}
std::uint64_t PoolStats::stolen() const noexcept { return sum(workers, &WorkerStats::stolen); }
std::uint64_t PoolStats::steal_attempts() const noexcept {
  return sum(workers, &WorkerStats::steal_attempts);
}
std::uint64_t PoolStats::parks() const noexcept { return sum(workers, &WorkerStats::parks); }
std::uint64_t PoolStats::searches() const noexcept { return sum(workers, &WorkerStats::searches); }
std::uint64_t PoolStats::search_rounds() const noexcept {
  return sum(workers, &WorkerStats::search_rounds);
}
std::uint64_t PoolStats::sweeps() const noexcept { return sum(workers, &WorkerStats::sweeps); }
std::uint64_t PoolStats::sweep_steal_attempts() const noexcept {
  return sum(workers, &WorkerStats::sweep_steal_attempts);
}
std::uint64_t PoolStats::wakes() const noexcept {
  return sum(workers, &WorkerStats::wakes) + wakes_from_outside;
}

namespace detail {

namespace {

// A task count with a batch adjustment (WorkerCounters::batch_executed_adjust), clamped at 0
// for a snapshot taken between an entry's count and its items'.
std::uint64_t adjusted(std::uint64_t tasks, std::int64_t adjust) noexcept {
  if (adjust >= 0) return tasks + static_cast<std::uint64_t>(adjust);
  const auto less = static_cast<std::uint64_t>(-adjust);
  return tasks > less ? tasks - less : 0;
}

}  // namespace

WorkerStats WorkerCounters::snapshot() const {
  // relaxed: statistics; each counter is exact, the set is not one instant.
  return WorkerStats{.executed = adjusted(executed.load(std::memory_order_relaxed),
                                          batch_executed_adjust.load(std::memory_order_relaxed)),
                     .cancelled = adjusted(cancelled.load(std::memory_order_relaxed),
                                           batch_cancelled_adjust.load(std::memory_order_relaxed)),
                     .stolen = stolen.load(std::memory_order_relaxed),
                     .steal_attempts = steal_attempts.load(std::memory_order_relaxed),
                     .parks = parks.load(std::memory_order_relaxed),
                     .searches = searches.load(std::memory_order_relaxed),
                     .search_rounds = search_rounds.load(std::memory_order_relaxed),
                     .sweeps = sweeps.load(std::memory_order_relaxed),
                     .sweep_steal_attempts = sweep_steal_attempts.load(std::memory_order_relaxed),
                     .wakes = wakes.load(std::memory_order_relaxed),
                     .pinned_cpu = pinned_cpu,
                     .pin_error = pin_error};
}

PoolStats collect_stats(const std::vector<WorkerCounters*>& counters,
                        std::uint64_t wakes_from_outside) {
  PoolStats stats;
  stats.wakes_from_outside = wakes_from_outside;
  stats.workers.reserve(counters.size());
  for (const WorkerCounters* worker : counters) stats.workers.push_back(worker->snapshot());
  return stats;
}

}  // namespace detail
}  // namespace forage
