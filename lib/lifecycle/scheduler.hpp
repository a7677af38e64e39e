// Scheduler: what the futures layer needs from a pool, whichever kind it is. PoolCore and
// SingleQueueCore implement it; a future's shared state names its scheduler by id, and
// find_scheduler() turns the id back into a live object, or nothing once the pool is gone. So
// a future that outlives its pool never touches freed memory.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>

#include "forage/detail/scheduler_id.hpp"
#include "forage/detail/stop_node.hpp"
#include "forage/detail/task.hpp"

namespace forage::detail {

// fork(): the child has only the thread that called fork(), so a pool it inherits has no
// workers. A pthread_atfork child handler (registered with the first scheduler; scheduler.cpp)
// increments this generation in every child; a scheduler created in an earlier generation
// was inherited. Marking every live pool at once, without walking them: the child handler
// may not take locks that a thread of the parent held at the fork.
// relaxed everywhere: the child handler runs on the child's only thread before fork()
// returns, so every later read in the child (or in threads it starts) is ordered after it.
extern std::atomic<std::uint64_t> fork_generation;

class Scheduler {
 public:
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  SchedulerId id() const noexcept { return id_; }

  // True in a fork() child, for a scheduler created before the fork (see fork_generation).
  bool inherited() const noexcept {
    // relaxed: see fork_generation.
    return generation_ != fork_generation.load(std::memory_order_relaxed);
  }

  // As Pool::post: takes ownership; on any throw the task was already cancelled.
  virtual void post(Task* task) = 0;
  // Only on one of this scheduler's own workers: runs one queued task if it can find one
  // (help-while-wait). Returns whether it ran or cancelled a task.
  virtual bool run_one_task() noexcept = 0;
  // Fork-join, only on one of this scheduler's own workers. fork() queues a join's second
  // task where other workers can take it; it never throws (a task it cannot queue is
  // cancelled: its invoke runs with TaskAction::cancel). take_back(), called after the first
  // task ran, removes it again if no other worker took it and returns true: the caller then
  // runs it inline (it counts as executed). Tasks queued after it are run on the way.
  virtual void fork(Task* task) noexcept = 0;
  virtual bool take_back(Task* task) noexcept = 0;
  // On one of this scheduler's workers: did an idle worker look for work in this worker's
  // queue and find none since the last call? Schedulers without stealing say no.
  virtual bool take_steal_request() noexcept { return false; }
  // Delivers an error to PoolOptions::on_error (stderr when unset).
  virtual void report_error(std::exception_ptr error) noexcept = 0;
  // Whether the pool cancels what it has not run yet (Shutdown::cancel_pending or stop): a
  // hint, as PoolLifecycle::cancelling. Read by batch groups between their items.
  virtual bool cancelling() const noexcept = 0;

  // The root of the stop nodes of this scheduler's tasks, groups and algorithms
  // (detail/stop_node.hpp); Shutdown::stop requests it.
  StopNode& stop_root() noexcept { return stop_root_; }

 protected:
  Scheduler();           // takes a fresh id
  virtual ~Scheduler();  // forgets the id

 private:
  const SchedulerId id_;
  const std::uint64_t generation_;  // fork_generation when created
  StopNode stop_root_;
};

// Makes `self` findable by its id. Called once the owning shared_ptr exists.
void register_scheduler(const std::shared_ptr<Scheduler>& self);
// The scheduler with this id, or null when it has been destroyed (or id is kNoScheduler).
std::shared_ptr<Scheduler> find_scheduler(SchedulerId id);

}  // namespace forage::detail
