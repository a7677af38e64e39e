/// @file
/// Cooperative cancellation: what running code asks to learn that it should stop.
///
/// Threads cannot be killed, so forage stops work by request: a request reaches a task through
/// the std::stop_token it takes first (submit, spawn, TaskGroup::spawn, as std::jthread passes
/// one), or through this_task::stop_requested(), which code deep inside a task, an element
/// function or a group task reads without the token being threaded through. Requests come from
/// Future::request_stop(), TaskGroup::cancel() (and the group's outside token, and its parent
/// group), MapOptions::stop and deadline, an item's failure (the rest of its algorithm), and
/// Shutdown::stop (everything the pool runs). What has not started is skipped at once; what
/// runs finishes when it next looks.
#pragma once

#include "forage/detail/stop_node.hpp"
#include "forage/export.hpp"

namespace forage {

namespace detail {
namespace FORAGE_API rt {
// Defined in lib/stop.cpp. On a worker: whether its pool is being stopped (Shutdown::stop);
// false elsewhere.
bool pool_stop_requested() noexcept;
}  // namespace rt
}  // namespace detail

/// What the code running on the calling thread can ask about the task it runs in.
namespace this_task {

/// Whether the work running on this thread was asked to stop: the submitted task (its future's
/// request_stop()), the group task (TaskGroup::cancel, its token, a parent group), the
/// algorithm whose element function is running (MapOptions::stop or deadline, another item's
/// failure), or any of these that encloses it, or the pool (Shutdown::stop). False outside any
/// task. Cheap: a thread-local read and a few loads; call it as often as you like. Thread-safe
/// (it reads the calling thread's own task); never throws.
inline bool stop_requested() noexcept {
  const detail::StopNode* node = detail::tls_current_stop;
  if (node != nullptr) return node->requested(std::memory_order_acquire);
  return detail::rt::pool_stop_requested();
}

}  // namespace this_task
}  // namespace forage
