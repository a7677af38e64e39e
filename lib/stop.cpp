// The compiled half of forage/stop.hpp: the pool's stop as seen from a worker.
#include "forage/stop.hpp"

#include "lifecycle/scheduler.hpp"
#include "lifecycle/worker_context.hpp"

namespace forage::detail::rt {

bool pool_stop_requested() noexcept {
  WorkerContext* context = current_worker_context();
  // acquire: as this_task::stop_requested (pairs with StopNode::request's seq_cst exchange).
  return context != nullptr && context->scheduler->stop_root().own_requested();
}

}  // namespace forage::detail::rt
