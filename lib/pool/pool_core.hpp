// PoolCore: the state behind forage::Pool, shared by the Pool handle and its worker threads
// (each worker holds a reference, so a pool destroyed from its own worker can finish draining
// on its own). The worker loop is in worker_loop.cpp, the public operations in pool.cpp; start,
// shutdown, admission and wait_idle are the PoolLifecycle both pools share.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include "alloc/queue_traits.hpp"
#include "deque/work_deque.hpp"
#include "forage/detail/task.hpp"
#include "forage/options.hpp"
#include "forage/stats.hpp"
#include "forage/topology.hpp"
#include "lifecycle/pool_lifecycle.hpp"
#include "lifecycle/scheduler.hpp"
#include "lifecycle/worker_context.hpp"
#include "pool/trace_buffer.hpp"
#include "sleep/event_count.hpp"
#include "sleep/wake_targets.hpp"

namespace forage {
class Pool;
}

namespace forage::detail {

using InjectionQueue = moodycamel::ConcurrentQueue<Task*, alloc::QueueTraits>;

// Most tasks a worker takes from the injection queue at once (it runs one, queues the rest).
inline constexpr std::size_t kInjectionBatch = 32;
// A worker deque's initial capacity; at least kInjectionBatch (see take_from_injection_queue).
inline constexpr std::size_t kDequeCapacity = 256;
static_assert(kDequeCapacity >= kInjectionBatch);

// Everything one worker owns. Padded: neighbours never share a cache line.
struct alignas(kCacheLine) WorkerSlot {
  explicit WorkerSlot(InjectionQueue& injection)
      : deque(kDequeCapacity), injection_token(injection) {}

  std::size_t index = 0;  // fixed before the thread starts
  WorkerCounters counters;
  // The owner side: pushed and popped by this slot's worker thread only (its first push or
  // pop claims it; FORAGE_ASSERT checks the rest). Other workers reach it through stealer().
  DequeOwner<Task*> deque;
  moodycamel::ConsumerToken injection_token;
  // Victims by distance (Topology::victim_tiers); fixed before the thread starts.
  std::vector<std::vector<std::size_t>> victim_tiers;
  std::uint64_t random_state = 0;  // xorshift state for victim choice; owner only
  // The last take from the injection queue found tasks (take_from_injection_queue); owner only.
  bool draining_injection = false;
  // PoolOptions::trace: this worker's events; null when tracing is off, so every recording
  // site is one untaken branch. Fixed before the thread starts.
  std::unique_ptr<TraceBuffer> trace;
  // Set by a thief that found this deque empty, cleared by the owner when it reads it: a
  // running adaptive chunk then splits off half of what it has left (detail/range_job.hpp).
  // On its own line: thieves write it while the owner works.
  alignas(kCacheLine) std::atomic<bool> thieves_waiting{false};

  // The thief side of this worker's deque, for any thread: steal and the size estimate.
  DequeStealer<Task*> stealer() noexcept { return deque.stealer(); }
};

class PoolCore final : public Scheduler, public std::enable_shared_from_this<PoolCore> {
 public:
  PoolCore(PoolOptions options, Pool* owner);
  ~PoolCore() override;

  // Starts the worker threads; returns once every worker has pinned itself.
  void start();

  void post(Task* task) override;
  // As post, for a batch (detail::SchedulerAccess::post_batch says the contract).
  void post_batch(Task* const* tasks, std::size_t count);
  // Owner-only (a worker of this pool; checked): run_one_task, fork, take_back,
  // take_steal_request.
  bool run_one_task() noexcept override;  // worker_loop.cpp
  void fork(Task* task) noexcept override;
  bool take_back(Task* task) noexcept override;  // worker_loop.cpp
  bool take_steal_request() noexcept override;   // worker_loop.cpp
  void report_error(std::exception_ptr error) noexcept override;
  bool cancelling() const noexcept override { return lifecycle_.cancelling(); }

  // wait_idle, shutdown, closed, stats, the handle's destructor.
  PoolLifecycle& lifecycle() noexcept { return lifecycle_; }
  const PoolLifecycle& lifecycle() const noexcept { return lifecycle_; }

  std::size_t worker_count() const noexcept { return slots_.size(); }
  const std::string& name() const noexcept { return options_.name; }
  const std::vector<int>& pinning_plan() const noexcept { return plan_; }
  Trace trace() const;  // pool.cpp
  void forget_owner() noexcept;

  // worker_loop.cpp
  void run_worker(std::size_t index, std::latch& started);

  // After publishing `tasks` tasks (a post, a fork, a share of the injection queue, a batch):
  // wakes one sleeper if nobody is searching, else leaves the mark for the searchers
  // (lib/sleep/README.md, "Bounded searching", rule 5). One call per batch is enough: with
  // tasks > 1 a wake also sets the mark, so each woken worker that finds one wakes the next. `me`:
  // the calling worker, or null from outside the pool (a sleeper on the caller's CPU is then
  // preferred, and the wake is counted in PoolStats::wakes_from_outside). pool.cpp.
  void notify_published(WorkerSlot* me, std::size_t tasks = 1) noexcept;

 private:
  bool push_own(WorkerSlot& me, Task* task) noexcept;  // pool.cpp
  Task* next_task(WorkerSlot& me);
  // A searcher found `task` (worker_loop.cpp): stop searching, pass on what the protocol asks.
  Task* finish_search(WorkerSlot& me, Task* task, bool pushed_share) noexcept;
  // steal.cpp. A search round: the injection queue and a few victims, nearest tier first.
  Task* search_round(WorkerSlot& me, bool& pushed_share);
  // The last searcher's re-check: the injection queue and every victim.
  Task* sweep(WorkerSlot& me, bool& pushed_share, bool& saw_contention);
  Task* take_from_injection_queue(WorkerSlot& me, bool& pushed_share);  // injection_queue.cpp
  Task* steal_from_some_victims(WorkerSlot& me);
  Task* steal_from_all_victims(WorkerSlot& me, bool& saw_contention);
  Task* try_steal(WorkerSlot& me, std::size_t victim, bool& saw_contention,
                  std::int64_t search_start);
  void execute(WorkerSlot& me, Task* task) noexcept;
  // Counts a wake-up `me` sent (when `woke`) and records it in the trace. pool.cpp.
  void count_wake(WorkerSlot& me, bool woke) noexcept;

  // The slot of the calling thread, which must be one of this pool's workers (checked).
  WorkerSlot& own_slot(const char* operation) noexcept;

  PoolOptions options_;
  Topology topology_;
  std::vector<int> plan_;
  std::atomic<Pool*> owner_;  // written by Pool's destructor; read by Pool::current()

  InjectionQueue injection_;
  std::vector<std::unique_ptr<WorkerSlot>> slots_;

  EventCount<> parking_;  // idle workers search and sleep here (its state word counts both)
  // At most this many workers search at once: max(2, workers / 2) (lib/sleep/README.md).
  std::uint32_t search_limit_ = 2;
  WakeTargets wake_targets_;  // built from plan_
  // Start, admission, shutdown; holds &slots_[i]->counters. Last: it holds the worker
  // threads, and refers to options_, topology_ and plan_.
  PoolLifecycle lifecycle_;
};

}  // namespace forage::detail
