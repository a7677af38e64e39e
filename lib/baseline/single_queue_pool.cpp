// forage::SingleQueuePool: the baseline. Every spawn and every worker goes through one FIFO.
// Written to be a fair opponent: a wake-up only when someone sleeps, spinning before parking
// on the lock-free queue, per-worker tokens, pinning and counters as in Pool.
#include "forage/single_queue_pool.hpp"

#include <condition_variable>
#include <deque>
#include <latch>
#include <mutex>
#include <new>

#include <concurrentqueue/concurrentqueue.h>

#include "sleep/backoff.hpp"
#include "sleep/event_count.hpp"
#include "lifecycle/idle_tracker.hpp"
#include "baseline/queued_fork.hpp"
#include "lifecycle/scheduler.hpp"
#include "sleep/wake_targets.hpp"
#include "lifecycle/worker_context.hpp"
#include "lifecycle/worker_thread.hpp"

namespace forage {
namespace detail {

class SingleQueueCore final : public Scheduler,
                              public std::enable_shared_from_this<SingleQueueCore> {
 public:
  SingleQueueCore(std::size_t workers, QueueKind kind, PoolOptions options)
      : kind_(kind),
        options_(std::move(options)),
        topology_(options_.topology ? *options_.topology : Topology::discover()) {
    if (options_.trace) {
      throw InvalidArgument(
          "forage::SingleQueuePool: PoolOptions::trace is recorded by forage::Pool only; "
          "trace a Pool, or leave trace off");
    }
    const std::size_t count = resolve_worker_count(workers, SingleQueuePool::kMaxWorkers, topology_,
                                                   "forage::SingleQueuePool");
    plan_ = topology_.pinning_plan(count, options_.pinning);
    wake_targets_ = WakeTargets(plan_);
    for (std::size_t i = 0; i < count; ++i) {
      workers_.push_back(std::make_unique<Worker>(lock_free_queue_));
      counters_.push_back(&workers_.back()->counters);
    }
  }

  void start() {
    std::lock_guard lock(lifecycle_mutex_);
    std::latch started(static_cast<std::ptrdiff_t>(workers_.size()));
    std::shared_ptr<SingleQueueCore> self = shared_from_this();
    register_scheduler(self);
    const std::size_t stack_bytes =
        resolve_stack_size(options_.stack_size, "forage::SingleQueuePool");
    threads_.reserve(workers_.size());
    try {
      for (std::size_t i = 0; i < workers_.size(); ++i) {
        threads_.emplace_back([self, i, &started] { self->run_worker(i, started); }, stack_bytes);
      }
    } catch (...) {
      started.count_down(static_cast<std::ptrdiff_t>(workers_.size() - threads_.size()));
      close_and_wake();
      for (WorkerThread& thread : threads_) thread.join();
      joined_ = true;
      throw;
    }
    started.wait();
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
    } else if (!idle_.try_admit()) {
      task->invoke(task, TaskAction::cancel);
      throw PoolClosed("forage::SingleQueuePool '" + options_.name +
                       "': spawn after shutdown(); spawn before calling shutdown(), or create "
                       "a new pool");
    }
    if (!enqueue(task, me)) {
      if (me != nullptr) {
        // relaxed: undo our own count; the task was never visible.
        me->counters.spawned.store(spawned, std::memory_order_relaxed);
      } else {
        idle_.retract();
      }
      wake_all_workers();  // parked workers may be waiting for that count to drain
      task->invoke(task, TaskAction::cancel);
      throw std::bad_alloc();
    }
  }

  void wait_idle() {
    if (own_worker() != nullptr) {
      throw WouldDeadlock("forage::SingleQueuePool '" + options_.name +
                          "': wait_idle() on one of its own workers would wait for the task "
                          "that is calling it; wait from outside the pool");
    }
    idle_.wait_quiescent(counters_);
  }

  void shutdown(Shutdown mode) {
    if (own_worker() != nullptr) {
      throw WouldDeadlock("forage::SingleQueuePool '" + options_.name +
                          "': shutdown() on one of its own workers would join itself; call it "
                          "from the thread that owns the pool");
    }
    std::lock_guard lock(lifecycle_mutex_);
    if (joined_) return;
    // relaxed: ordered before the close, which workers acquire; read as a hint.
    if (mode == Shutdown::cancel_pending) cancelling_.store(true, std::memory_order_relaxed);
    close_and_wake();
    for (WorkerThread& thread : threads_) thread.join();
    joined_ = true;
  }

  void abandon_from_worker() noexcept {
    std::lock_guard lock(lifecycle_mutex_);
    if (joined_) return;
    close_and_wake();
    for (WorkerThread& thread : threads_) thread.detach();
    joined_ = true;
  }

  bool closed() const noexcept { return idle_.closed(); }
  std::size_t worker_count() const noexcept { return workers_.size(); }
  QueueKind kind() const noexcept { return kind_; }
  const std::string& name() const noexcept { return options_.name; }
  PoolStats stats() const { return collect_stats(counters_); }
  bool on_own_worker() const noexcept { return own_worker() != nullptr; }

  // Help-while-wait: one task from the queue if there is one, never sleeping.
  bool run_one_task() noexcept override {
    Worker& me = *own_worker();
    Task* task = nullptr;
    if (kind_ == QueueKind::locked) {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) return false;
      task = queue_.front();
      queue_.pop_front();
    } else if (!lock_free_queue_.try_dequeue(me.consumer_token, task)) {
      return false;
    }
    execute(me, task);
    return true;
  }

  // One queue: a proxy of the forked task goes to the back like any other; see
  // queued_fork.hpp for why the joiner's own node never enters the queue.
  void fork(Task* task) noexcept override {
    Worker& me = *own_worker();
    QueuedFork* proxy = nullptr;
    try {
      me.forks.reserve(me.forks.size() + 1);  // so the push_back below cannot throw
      proxy = new QueuedFork(task);
    } catch (...) {  // out of memory: the joiner runs the task inline
      task->invoke(task, TaskAction::cancel);
      me.forks.push_back(nullptr);
      return;
    }
    me.forks.push_back(proxy);
    try {
      post(proxy);
    } catch (...) {  // post() cancelled the proxy, which cancelled the task
    }
  }

  bool take_back(Task*) noexcept override {
    Worker& me = *own_worker();
    QueuedFork* proxy = me.forks.back();
    me.forks.pop_back();
    return proxy != nullptr && proxy->claim_for_joiner();
  }

  void report_error(std::exception_ptr error) noexcept override {
    deliver_error(&options_.on_error, options_.name, error);
  }

 private:
  struct alignas(kCacheLine) Worker {
    explicit Worker(moodycamel::ConcurrentQueue<Task*>& queue)
        : consumer_token(queue), producer_token(queue) {}
    WorkerCounters counters;
    moodycamel::ConsumerToken consumer_token;  // lock_free only
    moodycamel::ProducerToken producer_token;  // lock_free only: spawns from this worker
    QueuedForkStack forks;                     // this worker's joins in progress
  };

  Worker* own_worker() const noexcept {
    const WorkerContext* context = current_worker_context();
    if (context == nullptr || context->scheduler != this) return nullptr;
    return workers_[context->index].get();
  }

  bool finished() const noexcept { return idle_.closed() && idle_.quiescent(counters_); }

  void close_and_wake() {
    idle_.close();
    wake_all_workers();
  }

  void wake_all_workers() {
    if (kind_ == QueueKind::locked) {
      // Taking the mutex orders what changed before any worker's next check under it.
      { std::lock_guard lock(mutex_); }
      ready_.notify_all();
    } else {
      parking_.notify_all();
    }
  }

  bool enqueue(Task* task, Worker* me) {
    if (kind_ == QueueKind::locked) {
      bool wake = false;
      try {
        std::lock_guard lock(mutex_);
        queue_.push_back(task);
        wake = sleepers_ > 0;
      } catch (const std::bad_alloc&) {
        return false;  // nothing queued; post() rolls the count back
      }
      // Python's queue signals on every put; signalling only when a worker waits saves the
      // futex call while everyone is busy.
      if (wake) ready_.notify_one();
      return true;
    }
    const bool queued = me != nullptr ? lock_free_queue_.enqueue(me->producer_token, task)
                                      : lock_free_queue_.enqueue(task);
    if (!queued) return false;
    if (me != nullptr) {
      parking_.notify_one();
    } else {  // from outside: prefer a sleeper on our CPU, as Pool does (wake_targets.hpp)
      parking_.notify_one_preferring([this] { return wake_targets_.on_current_cpu(); });
    }
    return true;
  }

  void run_worker(std::size_t index, std::latch& started) {
    Worker& me = *workers_[index];
    WorkerThreadScope scope({.context = {.scheduler = this,
                                         .pool = nullptr,
                                         .index = index,
                                         .on_error = &options_.on_error,
                                         .pool_name = &options_.name},
                             .options = &options_,
                             .topology = &topology_,
                             .pin_cpu = plan_.empty() ? -1 : plan_[index],
                             .counters = &me.counters,
                             .pin_error_reported = &pin_error_reported_});
    started.count_down();
    for (;;) {
      Task* task = kind_ == QueueKind::locked ? next_locked(me) : next_lock_free(me, index);
      if (task == nullptr) break;
      execute(me, task);
    }
  }

  void execute(Worker& me, Task* task) noexcept {
    // relaxed: a hint, as in Pool (worker.cpp).
    if (cancelling_.load(std::memory_order_relaxed)) {
      task->invoke(task, TaskAction::cancel);
      // release: pairs with IdleTracker::quiescent's acquire, as in Pool.
      WorkerCounters::bump(me.counters.cancelled, std::memory_order_release);
    } else {
      task->invoke(task, TaskAction::run);
      // release: pairs with IdleTracker::quiescent's acquire, as in Pool.
      WorkerCounters::bump(me.counters.executed, std::memory_order_release);
    }
  }

  Task* next_locked(Worker& me) {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (!queue_.empty()) {
        Task* task = queue_.front();
        queue_.pop_front();
        return task;
      }
      if (finished()) {
        ready_.notify_all();  // the others exit too
        lock.unlock();
        idle_.notify_idle_waiters();
        return nullptr;
      }
      idle_.notify_idle_waiters();
      ++sleepers_;
      WorkerCounters::bump(me.counters.parks, std::memory_order_relaxed);  // statistics
      ready_.wait(lock);
      --sleepers_;
    }
  }

  Task* next_lock_free(Worker& me, std::size_t index) {
    Task* task = nullptr;
    for (;;) {
      Backoff backoff;
      do {
        if (lock_free_queue_.try_dequeue(me.consumer_token, task)) return took(task);
      } while (backoff.wait());

      idle_.notify_idle_waiters();
      const auto key = parking_.prepare_wait();
      if (lock_free_queue_.try_dequeue(me.consumer_token, task)) {
        parking_.cancel_wait();
        return took(task);
      }
      if (lock_free_queue_.size_approx() != 0) {  // an enqueue still publishing: retry
        parking_.cancel_wait();
        continue;
      }
      if (finished()) {
        parking_.cancel_wait();
        parking_.notify_all();
        idle_.notify_idle_waiters();
        return nullptr;
      }
      WorkerCounters::bump(me.counters.parks, std::memory_order_relaxed);  // statistics
      parking_.commit_wait(key, WakeTargets::tag_of(index));
    }
  }

  // The spinning-worker rule, as in Pool: wake one more only if more work is visible.
  Task* took(Task* task) noexcept {
    if (workers_.size() > 1 && lock_free_queue_.size_approx() != 0) parking_.notify_one();
    return task;
  }

  const QueueKind kind_;
  PoolOptions options_;
  Topology topology_;
  std::vector<int> plan_;

  // QueueKind::locked
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Task*> queue_;   // guarded by mutex_
  std::size_t sleepers_ = 0;  // guarded by mutex_

  // QueueKind::lock_free (constructed for both; the tokens need it)
  moodycamel::ConcurrentQueue<Task*> lock_free_queue_;
  EventCount<> parking_;
  WakeTargets wake_targets_;

  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<WorkerCounters*> counters_;
  IdleTracker idle_;
  std::atomic<bool> cancelling_{false};
  std::atomic<bool> pin_error_reported_{false};

  std::mutex lifecycle_mutex_;
  std::vector<WorkerThread> threads_;
  bool joined_ = false;  // guarded by lifecycle_mutex_
};

}  // namespace detail

SingleQueuePool::SingleQueuePool(std::size_t workers, QueueKind kind, PoolOptions options)
    : core_(std::make_shared<detail::SingleQueueCore>(workers, kind, std::move(options))),
      scheduler_id_(core_->id()) {
  core_->start();
}

SingleQueuePool::~SingleQueuePool() noexcept(false) {
  if (!core_) return;
  if (core_->on_own_worker()) {
    const std::string name = core_->name();
    core_->abandon_from_worker();
    core_.reset();
    throw WouldDeadlock("forage::SingleQueuePool '" + name +
                        "' destroyed on one of its own workers: it cannot join itself, so it "
                        "was closed and drains in the background; destroy a pool from the "
                        "thread that created it");
  }
  core_->shutdown(Shutdown::drain);
}

void SingleQueuePool::post(detail::Task* task) { core_->post(task); }
void SingleQueuePool::wait_idle() { core_->wait_idle(); }
void SingleQueuePool::shutdown(Shutdown mode) { core_->shutdown(mode); }
bool SingleQueuePool::closed() const noexcept { return core_->closed(); }
std::size_t SingleQueuePool::worker_count() const noexcept { return core_->worker_count(); }
QueueKind SingleQueuePool::kind() const noexcept { return core_->kind(); }
const std::string& SingleQueuePool::name() const noexcept { return core_->name(); }
PoolStats SingleQueuePool::stats() const { return core_->stats(); }

}  // namespace forage
