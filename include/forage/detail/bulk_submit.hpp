// spawn_all() and submit_all(): one task per input item, handed to the pool as one batch.
// Pool and SingleQueuePool both come here.
//
// submit_all builds, per item, the block submit() would build (make_submit_state): the futures
// keep them. spawn_all of a sized input builds every item in one TaskSlab (task_slab.hpp: one
// allocation, freed when the last item finishes), queued as groups of consecutive items that
// up to two workers claim item by item; of an unsized input, one block per item as spawn()
// does. Once per batch, what a single call costs in scheduling: one admission, one enqueue,
// one wake-up decision (SchedulerAccess::post_batch).
//
// All or nothing. The tasks are built first, into a TaskBatch; only a complete batch is
// posted. If building throws (an item's copy, fn's copy, out of memory), the TaskBatch (or
// the slab) cancels the tasks built so far (their blocks are freed, nothing ran, nothing was
// queued) and the exception propagates. post_batch itself either queues every task or cancels every
// one and throws (PoolClosed, std::bad_alloc).
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "forage/detail/assert.hpp"
#include "forage/detail/scheduler_id.hpp"
#include "forage/detail/submit.hpp"
#include "forage/detail/task.hpp"
#include "forage/detail/task_slab.hpp"
#include "forage/errors.hpp"
#include "forage/future.hpp"

namespace forage::detail {

// The type a task keeps of one item: the range's value type, constructed from what iterating
// the range yields (a copy from a container; a move through move iterators).
template <class R>
using BulkItem = std::ranges::range_value_t<R>;

// What spawn_all and submit_all accept: an input range (read once) whose items can be stored
// in a task, and a copyable callable that takes a stored item as an rvalue.
template <class R, class F>
concept BulkInvocable = std::ranges::input_range<R> &&
    std::constructible_from<BulkItem<R>, std::ranges::range_reference_t<R>> &&
    std::copy_constructible<std::decay_t<F>> && std::invocable<std::decay_t<F>, BulkItem<R>>;

template <class R, class F>
using BulkResult = std::invoke_result_t<std::decay_t<F>, BulkItem<R>>;

// The tasks of a batch while it is built. Owns them until post(): a batch destroyed before
// that (an exception while building) cancels each task, which frees it without running it.
class TaskBatch {
 public:
  TaskBatch() = default;
  TaskBatch(const TaskBatch&) = delete;
  TaskBatch& operator=(const TaskBatch&) = delete;
  ~TaskBatch() {
    for (Task* task : tasks_) task->invoke(task, TaskAction::cancel);
  }

  void reserve(std::size_t count) { tasks_.reserve(count); }
  // Makes room for one more task, so that add() cannot throw once the task exists.
  void make_room() {
    if (tasks_.size() == tasks_.capacity()) tasks_.reserve(tasks_.size() * 2 + 16);
  }
  void add(Task* task) noexcept {
    FORAGE_ASSERT(tasks_.size() < tasks_.capacity(), "TaskBatch::add without make_room()");
    tasks_.push_back(task);  // cannot throw or reallocate: make_room() made the space
  }
  std::size_t size() const noexcept { return tasks_.size(); }

  // Hands every task to the executor in one post_batch. Ownership passes even when it throws
  // (it cancelled every task then), so the batch is emptied first.
  template <class Executor>
  void post(Executor& executor) {
    const std::vector<Task*> tasks = std::move(tasks_);
    tasks_.clear();  // a moved-from vector is valid but unspecified
    if (!tasks.empty()) SchedulerAccess::post_batch(executor, tasks.data(), tasks.size());
  }

 private:
  std::vector<Task*> tasks_;
};

// How many tasks to reserve for up front: the size of a sized range, else grow as we read.
template <class R>
void reserve_for(R& range, TaskBatch& batch) {
  if constexpr (std::ranges::sized_range<R>) {
    batch.reserve(static_cast<std::size_t>(std::ranges::size(range)));
  }
}

// A spawned item's callable: fn and the item, called once as std::invoke(fn, item) with both
// as rvalues (as submit does).
template <class Fn, class Item>
struct ItemCall {
  Fn fn;
  Item item;
  void operator()() { std::invoke(std::move(fn), std::move(item)); }
};

// A sized input whose callable fits a slab: every item in one TaskSlab, built in input order,
// then its groups posted as one batch. All or nothing as TaskBatch: a build that throws
// destroys the items built so far and frees the slab; a refused post cancels every group,
// which destroys its items and at last frees the slab.
template <class Call, class Executor, class R, class F>
void spawn_all_in_slab(Executor& executor, const char* where, R& inputs, std::size_t count,
                       const F& fn) {
  TaskSlab<Call>* slab = TaskSlab<Call>::allocate(count, executor.worker_count());
  std::vector<Task*> groups;
  std::size_t built = 0;
  bool items_left = false;
  try {
    groups.reserve(slab->groups());
    auto it = std::ranges::begin(inputs);
    const auto end = std::ranges::end(inputs);
    for (; it != end && built < count; ++it, ++built) slab->construct(built, Call{fn, *it});
    items_left = it != end;
  } catch (...) {
    slab->discard_built(built);
    throw;
  }
  if (built != count || items_left) {
    // A range whose size() is not its length (a broken sized_range): refuse the batch whole.
    slab->discard_built(built);
    throw InvalidArgument(std::string(where) + ": the input's size() is " + std::to_string(count) +
                          " but it holds " +
                          (items_left ? "more items" : std::to_string(built) + " items"));
  }
  for (std::size_t g = 0; g < slab->groups(); ++g) groups.push_back(slab->group_task(g));
  SchedulerAccess::post_batch(executor, groups.data(), groups.size());
}

template <class Executor, class R, class F>
void spawn_all_to(Executor& executor, const char* where, R&& inputs, F&& fn) {
  using Call = ItemCall<std::decay_t<F>, BulkItem<std::remove_reference_t<R>>>;
  require_callable(fn, where);
  if constexpr (std::ranges::sized_range<std::remove_reference_t<R>> && kFitsTaskSlab<Call>) {
    const auto count = static_cast<std::size_t>(std::ranges::size(inputs));
    if (count == 0) return;
    spawn_all_in_slab<Call>(executor, where, inputs, count, fn);
  } else {
    TaskBatch batch;
    reserve_for(inputs, batch);
    for (auto&& item : inputs) {
      batch.make_room();
      batch.add(make_heap_task(where, Call{fn, std::forward<decltype(item)>(item)}));
    }
    batch.post(executor);
  }
}

template <class Executor, class R, class F>
auto submit_all_to(Executor& executor, const char* where, R&& inputs, F&& fn) {
  using Item = BulkItem<std::remove_reference_t<R>>;
  using State = SubmitState<std::decay_t<F>, Item>;
  using Result = typename State::Result;
  require_callable(fn, where);
  std::vector<Future<Result>> futures;
  TaskBatch batch;  // after `futures`: on an exception the tasks are cancelled first
  reserve_for(inputs, batch);
  if constexpr (std::ranges::sized_range<std::remove_reference_t<R>>) {
    futures.reserve(static_cast<std::size_t>(std::ranges::size(inputs)));
  }
  for (auto&& item : inputs) {
    batch.make_room();
    if (futures.size() == futures.capacity()) futures.reserve(futures.size() * 2 + 16);
    State* state = make_submit_state<State>(SchedulerAccess::id(executor),
                                            SchedulerAccess::stop_root(executor), fn,
                                            std::forward<decltype(item)>(item));
    futures.push_back(FutureAccess::adopt<Result>(state));  // room made above: no throw
    batch.add(state);
  }
  batch.post(executor);
  return futures;
}

}  // namespace forage::detail
