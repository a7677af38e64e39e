// The compiled half of spawn_all's batch groups (forage/detail/task_slab.hpp): reaching the
// calling worker's pool and counters.
#include <cstdint>

#include "forage/detail/task_slab.hpp"
#include "lifecycle/scheduler.hpp"
#include "lifecycle/worker_context.hpp"

namespace forage::detail::rt {

bool post_on_current_worker(Task* task) noexcept {
  const WorkerContext* context = current_worker_context();
  if (context == nullptr) return false;
  try {
    context->scheduler->post(task);  // from a worker: spawned, accepted even while closing
  } catch (...) {
    // Out of memory: post() cancelled the task, which finished it (see Scheduler::post).
  }
  return true;
}

bool pool_cancelling() noexcept {
  const WorkerContext* context = current_worker_context();
  return context != nullptr && context->scheduler->cancelling();
}

void count_batch_items(TaskAction action, std::uint64_t ran, std::uint64_t dropped) noexcept {
  const WorkerContext* context = current_worker_context();
  if (context == nullptr || context->counters == nullptr) return;
  WorkerCounters& counters = *context->counters;
  // The worker counts the entry itself as one task, executed or cancelled by `action`.
  const std::int64_t entry_executed = action == TaskAction::run ? 1 : 0;
  const std::int64_t executed_change = static_cast<std::int64_t>(ran) - entry_executed;
  const std::int64_t cancelled_change = static_cast<std::int64_t>(dropped) - (1 - entry_executed);
  // relaxed (loads and stores): statistics, and this worker is the only writer.
  counters.batch_executed_adjust.store(
      counters.batch_executed_adjust.load(std::memory_order_relaxed) + executed_change,
      std::memory_order_relaxed);
  counters.batch_cancelled_adjust.store(
      counters.batch_cancelled_adjust.load(std::memory_order_relaxed) + cancelled_change,
      std::memory_order_relaxed);
}

}  // namespace forage::detail::rt
