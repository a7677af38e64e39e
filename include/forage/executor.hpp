// Executor: what join, TaskGroup and the parallel algorithms need from a pool. Pool and
// SingleQueuePool both model it, so every algorithm is written once; `work_stealing` picks
// how it schedules (recursive splitting with join on Pool, chunks on one queue otherwise).
#pragma once

#include <concepts>
#include <cstddef>

#include "forage/detail/scheduler_id.hpp"
#include "forage/detail/task.hpp"

namespace forage {

template <class E>
concept Executor = requires(E& executor, detail::Task* task) {
  executor.post(task);
  { executor.worker_count() } -> std::convertible_to<std::size_t>;
  { E::work_stealing } -> std::convertible_to<bool>;
  { detail::SchedulerAccess::id(executor) } -> std::same_as<detail::SchedulerId>;
};

namespace detail {

// Defined in lib/join.cpp.
//
// Is the calling thread a worker of the scheduler with this id?
bool on_scheduler(SchedulerId scheduler) noexcept;
// On a worker (of any pool): Scheduler::fork / take_back of that worker's pool (see
// lib/lifecycle/scheduler.hpp). fork returns false off the pool, where nothing was done.
bool fork_on_current_worker(Task* task) noexcept;
bool take_back_on_current_worker(Task* task) noexcept;

}  // namespace detail

}  // namespace forage
