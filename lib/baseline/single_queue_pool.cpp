// forage::SingleQueuePool: the baseline. Every spawn and every worker goes through one FIFO.
// Written to be a fair opponent: a wake-up only when someone sleeps, spinning before parking
// on the lock-free queue, per-worker tokens, pinning and counters as in Pool.
//
// The queue is a template parameter (locked_queue.hpp, lock_free_queue.hpp), chosen once when
// the pool is built: the workers never branch on the kind and call their queue directly. The
// public header names only the common base, so a post() through the handle is one virtual
// call (before the split it was a branch on the kind).
// Start, admission, wait_idle and shutdown are the PoolLifecycle both pools share.
#include "forage/single_queue_pool.hpp"

#include <latch>
#include <memory>
#include <new>
#include <utility>

#include "baseline/lock_free_queue.hpp"
#include "baseline/locked_queue.hpp"
#include "baseline/queued_fork.hpp"
#include "forage/detail/alloc_fault.hpp"
#include "lifecycle/pool_lifecycle.hpp"
#include "lifecycle/scheduler.hpp"
#include "lifecycle/worker_context.hpp"

namespace forage {
namespace detail {

namespace {

constexpr PoolKind kSingleQueueKind{.type = "forage::SingleQueuePool",
                                    .new_pool = "a new pool",
                                    .wait_idle_advice = "wait from outside the pool"};

}  // namespace

// What the handle sees, whatever the queue.
class SingleQueueCore : public Scheduler {
 public:
  // Starts the worker threads; returns once every worker has pinned itself.
  virtual void start() = 0;
  // As post, for a batch (detail::SchedulerAccess::post_batch says the contract).
  virtual void post_batch(Task* const* tasks, std::size_t count) = 0;

  // wait_idle, shutdown, closed, stats, the handle's destructor.
  PoolLifecycle& lifecycle() noexcept { return lifecycle_; }
  const PoolLifecycle& lifecycle() const noexcept { return lifecycle_; }
  std::size_t worker_count() const noexcept { return worker_count_; }
  QueueKind kind() const noexcept { return kind_; }
  const std::string& name() const noexcept { return options_.name; }

  bool cancelling() const noexcept override { return lifecycle_.cancelling(); }
  void report_error(std::exception_ptr error) noexcept override {
    deliver_error(&options_.on_error, options_.name, error);
  }

 protected:
  SingleQueueCore(QueueKind kind, std::size_t workers, PoolOptions options,
                  PoolLifecycle::WakeAllWorkers wake_all_workers)
      : kind_(kind),
        options_(std::move(options)),
        topology_(options_.topology ? *options_.topology : Topology::discover()),
        lifecycle_(*this, kSingleQueueKind, options_, topology_, plan_,
                   std::move(wake_all_workers)) {
    if (options_.trace) {
      throw InvalidArgument(
          "forage::SingleQueuePool: PoolOptions::trace is recorded by forage::Pool only; "
          "trace a Pool, or leave trace off");
    }
    worker_count_ = resolve_worker_count(workers, SingleQueuePool::kMaxWorkers, topology_,
                                         kSingleQueueKind.type);
    plan_ = topology_.pinning_plan(worker_count_, options_.pinning);
  }
  ~SingleQueueCore() override = default;

  const QueueKind kind_;
  PoolOptions options_;
  Topology topology_;
  std::size_t worker_count_ = 0;
  std::vector<int> plan_;
  PoolLifecycle lifecycle_;  // refers to options_, topology_ and plan_
};

namespace {

// The pool on one queue type (locked_queue.hpp describes the interface).
template <class Queue>
class SingleQueueCoreOn final : public SingleQueueCore,
                                public std::enable_shared_from_this<SingleQueueCoreOn<Queue>> {
 public:
  SingleQueueCoreOn(std::size_t workers, PoolOptions options)
      : SingleQueueCore(Queue::kKind, workers, std::move(options), [this] { queue_.wake_all(); }),
        queue_(worker_count_, plan_) {
    for (std::size_t i = 0; i < worker_count_; ++i) {
      workers_.push_back(std::make_unique<Worker>(queue_));
      lifecycle_.add_worker(workers_.back()->counters);
    }
  }
  ~SingleQueueCoreOn() override = default;

  void start() override {
    std::shared_ptr<SingleQueueCoreOn> self = this->shared_from_this();
    register_scheduler(self);
    lifecycle_.start(
        [self](std::size_t index, std::latch& started) { self->run_worker(index, started); });
  }

  void post(Task* task) override {
    Worker* me = own_worker();
    std::uint64_t spawned = 0;
    if (me != nullptr) {
      // relaxed: our own counter; this worker is its only writer.
      spawned = me->counters.spawned.load(std::memory_order_relaxed);
      // relaxed: the enqueue's release publishes it with the task, and our later release of
      // `executed` (after the running task ends) publishes it to quiescence readers.
      me->counters.spawned.store(spawned + 1, std::memory_order_relaxed);
    } else {
      lifecycle_.admit(task);
    }
    if (!queue_.push(task, me != nullptr ? &me->tokens : nullptr)) {
      if (me != nullptr) {
        // relaxed: undo our own count; the task was never visible.
        me->counters.spawned.store(spawned, std::memory_order_relaxed);
        queue_.wake_all();  // parked workers may be waiting for that count to drain
      } else {
        lifecycle_.retract_admission();  // wakes every worker too
      }
      task->invoke(task, TaskAction::cancel);
      throw std::bad_alloc();
    }
  }

  // post() for `count` tasks: one count (or admission), one bulk push, whose queue makes one
  // wake-up decision. All or nothing.
  void post_batch(Task* const* tasks, std::size_t count) override {
    if (count == 0) return;
    Worker* me = own_worker();
    std::uint64_t spawned = 0;
    if (me != nullptr) {
      // relaxed: as in post, one store for the batch.
      spawned = me->counters.spawned.load(std::memory_order_relaxed);
      // relaxed: as in post.
      me->counters.spawned.store(spawned + count, std::memory_order_relaxed);
    } else {
      lifecycle_.admit_batch(tasks, count);
    }
    if (!queue_.push_batch(tasks, count, me != nullptr ? &me->tokens : nullptr)) {
      if (me != nullptr) {
        // relaxed: undo our own count; no task of the batch was visible.
        me->counters.spawned.store(spawned, std::memory_order_relaxed);
        queue_.wake_all();  // parked workers may be waiting for that count to drain
      } else {
        lifecycle_.retract_admission(count);  // wakes every worker too
      }
      for (std::size_t i = 0; i < count; ++i) tasks[i]->invoke(tasks[i], TaskAction::cancel);
      throw std::bad_alloc();
    }
  }

  // Help-while-wait: one task from the queue if there is one, never sleeping.
  bool run_one_task() noexcept override {
    Worker& me = own_worker_checked("run_one_task()");
    Task* task = queue_.try_pop(me.tokens);
    if (task == nullptr) return false;
    execute(me, task);
    return true;
  }

  // One queue: a proxy of the forked task goes to the back like any other; see
  // queued_fork.hpp for why the joiner's own node never enters the queue.
  void fork(Task* task) noexcept override {
    Worker& me = own_worker_checked("fork()");
    // Once a fork could not be recorded, the deeper ones are not recorded either (they are
    // counted), so that take_back still pairs each join with its own fork, last in first out.
    if (me.unrecorded_forks > 0) {
      ++me.unrecorded_forks;
      task->invoke(task, TaskAction::cancel);  // the joiner runs it inline
      return;
    }
    try {
      if (me.forks.size() == me.forks.capacity()) {
        allocation_fault_point();  // a test's injected failure (detail/alloc_fault.hpp)
      }
      me.forks.reserve(me.forks.size() + 1);  // so the push_back below cannot throw
    } catch (...) {  // out of memory: no room to record the fork; the joiner runs it inline
      ++me.unrecorded_forks;
      task->invoke(task, TaskAction::cancel);
      return;
    }
    QueuedFork* proxy = nullptr;
    try {
      allocation_fault_point();  // a test's injected failure (detail/alloc_fault.hpp)
      proxy = new QueuedFork(task);
    } catch (...) {  // out of memory: the joiner runs the task inline
      task->invoke(task, TaskAction::cancel);
      me.forks.push_back(nullptr);  // reserved above: cannot throw
      return;
    }
    me.forks.push_back(proxy);
    try {
      post(proxy);
    } catch (...) {  // post() cancelled the proxy, which cancelled the task
    }
  }

  bool take_back(Task*) noexcept override {
    Worker& me = own_worker_checked("take_back()");
    if (me.unrecorded_forks > 0) {  // the innermost fork was not recorded (see fork)
      --me.unrecorded_forks;
      return false;
    }
    QueuedFork* proxy = me.forks.back();
    me.forks.pop_back();
    return proxy != nullptr && proxy->claim_for_joiner();
  }

  // No stealing, so nobody asks; checked like the other owner-only operations.
  bool take_steal_request() noexcept override {
    lifecycle_.assert_on_own_worker("take_steal_request()");
    return false;
  }

 private:
  struct alignas(kCacheLine) Worker {
    explicit Worker(Queue& queue) : tokens(queue) {}
    WorkerCounters counters;
    typename Queue::WorkerTokens tokens;
    QueuedForkStack forks;  // this worker's joins in progress
    // Joins in progress deeper than `forks`, forked while it could not grow (their tasks were
    // cancelled, so their joiners run them inline).
    std::size_t unrecorded_forks = 0;
  };

  // The calling thread's worker, or null off this pool.
  Worker* own_worker() const noexcept {
    const WorkerContext* context = current_worker_context();
    if (context == nullptr || context->scheduler != this) return nullptr;
    return workers_[context->index].get();
  }

  // The calling thread's worker, which must be one of ours (checked).
  Worker& own_worker_checked(const char* operation) noexcept {
    lifecycle_.assert_on_own_worker(operation);
    return *workers_[current_worker_context()->index];
  }

  void run_worker(std::size_t index, std::latch& started) {
    Worker& me = *workers_[index];
    WorkerThreadScope scope(lifecycle_.worker_setup(index, me.counters, nullptr));
    started.count_down();
    while (Task* task = queue_.next(me.tokens, me.counters, index, lifecycle_)) {
      execute(me, task);
    }
  }

  void execute(Worker& me, Task* task) noexcept {
    if (lifecycle_.cancelling()) {  // a hint, as in Pool (PoolLifecycle::cancelling)
      task->invoke(task, TaskAction::cancel);
      // release: pairs with IdleTracker::quiescent's acquire, as in Pool.
      WorkerCounters::bump(me.counters.cancelled, std::memory_order_release);
    } else {
      task->invoke(task, TaskAction::run);
      // release: pairs with IdleTracker::quiescent's acquire, as in Pool.
      WorkerCounters::bump(me.counters.executed, std::memory_order_release);
    }
  }

  Queue queue_;  // before workers_: their tokens refer to it
  std::vector<std::unique_ptr<Worker>> workers_;
};

std::shared_ptr<SingleQueueCore> make_single_queue_core(std::size_t workers, QueueKind kind,
                                                        PoolOptions options) {
  if (kind == QueueKind::locked) {
    return std::make_shared<SingleQueueCoreOn<LockedQueue>>(workers, std::move(options));
  }
  return std::make_shared<SingleQueueCoreOn<LockFreeQueue>>(workers, std::move(options));
}

}  // namespace
}  // namespace detail

SingleQueuePool::SingleQueuePool(std::size_t workers, QueueKind kind, PoolOptions options)
    : core_(detail::make_single_queue_core(workers, kind, std::move(options))),
      scheduler_id_(core_->id()),
      stop_root_(&core_->stop_root()) {
  core_->start();
}

SingleQueuePool::~SingleQueuePool() noexcept(false) {
  if (!core_) return;
  core_->lifecycle().destroy_handle({});
}

void SingleQueuePool::post(detail::Task* task) { core_->post(task); }
void SingleQueuePool::post_batch(detail::Task* const* tasks, std::size_t count) {
  core_->post_batch(tasks, count);
}
void SingleQueuePool::wait_idle() { core_->lifecycle().wait_idle(); }
void SingleQueuePool::shutdown(Shutdown mode) { core_->lifecycle().shutdown(mode); }
bool SingleQueuePool::closed() const noexcept { return core_->lifecycle().closed(); }
std::size_t SingleQueuePool::worker_count() const noexcept { return core_->worker_count(); }
QueueKind SingleQueuePool::kind() const noexcept { return core_->kind(); }
const std::string& SingleQueuePool::name() const noexcept { return core_->name(); }
PoolStats SingleQueuePool::stats() const { return core_->lifecycle().stats(); }

}  // namespace forage
