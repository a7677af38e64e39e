// forage::Pool: construction, post, fork, trace. The worker loop is in worker_loop.cpp; start,
// wait_idle and shutdown in lifecycle/pool_lifecycle.cpp.
#include "forage/pool.hpp"

#include <algorithm>
#include <new>
#include <utility>

#include "pool/pool_core.hpp"

namespace forage {
namespace detail {

namespace {

constexpr PoolKind kPoolKind{.type = "forage::Pool",
                             .new_pool = "a new Pool",
                             .wait_idle_advice = "wait from outside the pool, or use a TaskGroup"};

}  // namespace

PoolCore::PoolCore(PoolOptions options, Pool* owner)
    : options_(std::move(options)),
      topology_(options_.topology ? *options_.topology : Topology::discover()),
      owner_(owner),
      lifecycle_(*this, kPoolKind, options_, topology_, plan_, [this] { parking_.notify_all(); }) {
  const std::size_t workers =
      resolve_worker_count(options_.workers, Pool::kMaxWorkers, topology_, kPoolKind.type);
  plan_ = topology_.pinning_plan(workers, options_.pinning);
  const std::size_t trace_events = options_.trace_buffer_events != 0
                                       ? options_.trace_buffer_events
                                       : PoolOptions::kDefaultTraceBufferEvents;
  const auto trace_origin = TraceBuffer::Clock::now();
  wake_targets_ = WakeTargets(plan_);
  search_limit_ = static_cast<std::uint32_t>(std::max<std::size_t>(2, workers / 2));
  slots_.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) {
    auto slot = std::make_unique<WorkerSlot>(injection_);
    slot->index = i;
    slot->victim_tiers = topology_.victim_tiers(workers, plan_, i);
    slot->random_state = 0x9E3779B97F4A7C15ULL * (i + 1);  // any non-zero seed per worker
    if (options_.trace) {
      slot->trace =
          std::make_unique<TraceBuffer>(static_cast<std::uint32_t>(i), trace_events, trace_origin);
    }
    lifecycle_.add_worker(slot->counters);
    slots_.push_back(std::move(slot));
  }
}

PoolCore::~PoolCore() = default;

void PoolCore::start() {
  std::shared_ptr<PoolCore> self = shared_from_this();
  register_scheduler(self);
  lifecycle_.start(
      [self](std::size_t index, std::latch& started) { self->run_worker(index, started); });
}

WorkerSlot& PoolCore::own_slot(const char* operation) noexcept {
  lifecycle_.assert_on_own_worker(operation);
  return *slots_[current_worker_context()->index];
}

void PoolCore::post(Task* task) {
  if (lifecycle_.on_own_worker()) {
    if (!push_own(*slots_[current_worker_context()->index], task)) throw std::bad_alloc();
    // Every push notifies (a fence and one load while nobody sleeps). Skipping it when the
    // deque looked non-empty loses wake-ups: a thief can empty it between our look and our
    // push, check it, and park.
    if (slots_.size() > 1) notify_published(slots_[current_worker_context()->index].get());
    return;
  }
  lifecycle_.admit(task);
  if (!injection_.enqueue(task)) {
    lifecycle_.retract_admission();
    task->invoke(task, TaskAction::cancel);
    throw std::bad_alloc();
  }
  notify_published(nullptr);
}

// A batch (spawn_all, submit_all): post() for `count` tasks with one count, one enqueue and
// one wake-up decision (with count > 1 the woken worker passes the wake on as it finds work). All
// or nothing (detail::SchedulerAccess::post_batch).
void PoolCore::post_batch(Task* const* tasks, std::size_t count) {
  if (count == 0) return;
  if (lifecycle_.on_own_worker()) {
    WorkerSlot& me = *slots_[current_worker_context()->index];
    try {
      me.deque.reserve(count);  // the only step that can fail; the pushes below cannot
    } catch (...) {
      for (std::size_t i = 0; i < count; ++i) tasks[i]->invoke(tasks[i], TaskAction::cancel);
      throw;
    }
    // relaxed: our own counter, one store for the batch; published as in push_own.
    me.counters.spawned.store(me.counters.spawned.load(std::memory_order_relaxed) + count,
                              std::memory_order_relaxed);
    // In input order: thieves take the oldest first, so the first items are stolen first.
    for (std::size_t i = 0; i < count; ++i) me.deque.push(tasks[i]);
    if (slots_.size() > 1) notify_published(&me, count);
    return;
  }
  lifecycle_.admit_batch(tasks, count);
  if (!injection_.enqueue_bulk(tasks, count)) {  // moodycamel: all or nothing
    lifecycle_.retract_admission(count);
    for (std::size_t i = 0; i < count; ++i) tasks[i]->invoke(tasks[i], TaskAction::cancel);
    throw std::bad_alloc();
  }
  notify_published(nullptr, count);
}

// A join's second half. Unlike post(), it wakes a sleeper only when the deque was empty:
// with tasks already queued, a thief that parked has seen them gone (stolen by a worker that
// is now busy) and the joiner takes its own task back anyway, so a skipped wake-up costs
// parallelism, never progress. That saves a fence per join while the pool is busy (fib at 2
// workers: 9.0 -> 6.6 ns per join, a 2.0x speedup over 1 worker instead of 1.5x).
void PoolCore::fork(Task* task) noexcept {
  WorkerSlot& me = own_slot("fork()");
  const bool was_empty = me.deque.empty_approx();
  // A task the deque could not take was cancelled: the joiner then runs it itself.
  if (push_own(me, task) && was_empty && slots_.size() > 1) notify_published(&me);
}

void PoolCore::notify_published(WorkerSlot* me, std::size_t tasks) noexcept {
  const bool several = tasks > 1;
  if (me == nullptr) {
    if (parking_.notify_unless_searching([this] { return wake_targets_.on_current_cpu(); },
                                         several)) {
      lifecycle_.count_outside_wake();
    }
    return;
  }
  count_wake(*me, parking_.notify_unless_searching(several));
}

void PoolCore::count_wake(WorkerSlot& me, bool woke) noexcept {
  if (!woke) return;
  WorkerCounters::bump(me.counters.wakes, std::memory_order_relaxed);  // statistics
  if (me.trace != nullptr) [[unlikely]] {
    const std::int64_t now = me.trace->now();
    me.trace->record(TraceKind::wake, now, now);
  }
}

Trace PoolCore::trace() const {
  if (!options_.trace) {
    throw InvalidArgument("forage::Pool '" + options_.name +
                          "': trace() needs a pool built with PoolOptions::trace = true");
  }
  Trace trace;
  trace.pool_name = options_.name;
  trace.pinned_cpus = plan_;
  trace.workers = slots_.size();
  for (const std::unique_ptr<WorkerSlot>& slot : slots_) {
    trace.dropped += slot->trace->copy_to(trace.events);
  }
  return trace;
}

// Pushes onto the calling worker's own deque, counted as spawned. If the deque cannot grow,
// the task is cancelled (never queued) and the result is false.
bool PoolCore::push_own(WorkerSlot& me, Task* task) noexcept {
  // relaxed: our own counter; this worker is its only writer.
  const std::uint64_t spawned = me.counters.spawned.load(std::memory_order_relaxed);
  // relaxed: the push's release fence publishes it with the task, and our later release of
  // `executed` (after the running task ends) publishes it to quiescence readers.
  me.counters.spawned.store(spawned + 1, std::memory_order_relaxed);
  try {
    me.deque.push(task);
  } catch (...) {
    // relaxed: undo our own count; nobody can have finished the task.
    me.counters.spawned.store(spawned, std::memory_order_relaxed);
    task->invoke(task, TaskAction::cancel);
    return false;
  }
  return true;
}

void PoolCore::report_error(std::exception_ptr error) noexcept {
  deliver_error(&options_.on_error, options_.name, error);
}

void PoolCore::forget_owner() noexcept {
  // release: pairs with the acquire in Pool::current().
  owner_.store(nullptr, std::memory_order_release);
}

}  // namespace detail

Pool::Pool(PoolOptions options)
    : core_(std::make_shared<detail::PoolCore>(std::move(options), this)),
      scheduler_id_(core_->id()),
      stop_root_(&core_->stop_root()) {
  core_->start();
}

Pool::~Pool() noexcept(false) {
  if (!core_) return;
  core_->lifecycle().destroy_handle([this] { core_->forget_owner(); });
}

void Pool::post(detail::Task* task) { core_->post(task); }
void Pool::post_batch(detail::Task* const* tasks, std::size_t count) {
  core_->post_batch(tasks, count);
}
void Pool::wait_idle() { core_->lifecycle().wait_idle(); }
void Pool::shutdown(Shutdown mode) { core_->lifecycle().shutdown(mode); }
bool Pool::closed() const noexcept { return core_->lifecycle().closed(); }
std::size_t Pool::worker_count() const noexcept { return core_->worker_count(); }
const std::string& Pool::name() const noexcept { return core_->name(); }
const std::vector<int>& Pool::pinning_plan() const noexcept { return core_->pinning_plan(); }
PoolStats Pool::stats() const { return core_->lifecycle().stats(); }
Trace Pool::trace() const { return core_->trace(); }

Pool* Pool::current() noexcept {
  const detail::WorkerContext* context = detail::current_worker_context();
  if (context == nullptr || context->pool == nullptr) return nullptr;
  // acquire: pairs with forget_owner(); a destroyed pool is reported as null.
  return context->pool->load(std::memory_order_acquire);
}

std::optional<std::size_t> Pool::current_worker() noexcept {
  const detail::WorkerContext* context = detail::current_worker_context();
  if (context == nullptr || context->pool == nullptr) return std::nullopt;
  return context->index;
}

}  // namespace forage
