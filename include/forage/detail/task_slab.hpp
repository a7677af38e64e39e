// TaskSlab: the tasks of one spawn_all batch of a sized input, in one allocation.
//
// A spawn_all of n items used to be n blocks of the block allocator. While the batch is queued
// all n are alive at once, far more than the allocator keeps (8 MiB per size class, so that a
// burst does not pin memory for good): a batch of 10^6 took about 740,000 blocks from the
// system on every call and gave them back as the workers ran them, which made spawn_all slower
// than a loop of spawn() calls whose tasks die as fast as they are made. A slab is one
// allocation for the whole batch, written in order by the building thread and freed when the
// last of its tasks has run (or been cancelled).
//
// Layout: the header, then one Group per kGroupTasks tasks, then the tasks. A finished task
// counts down its group's counter, and the group's last task counts down the header's: the
// workers share a line only when they run tasks of the same group (consecutive items, which a
// worker usually takes together as one share of the injection queue), instead of every task
// of the batch meeting on one counter.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <utility>

#include "forage/detail/task.hpp"
#include "forage/result_allocator.hpp"

namespace forage::detail {

template <class Call>
class TaskSlab {
 public:
  static constexpr std::size_t kGroupTasks = 64;

  // Storage for `count` tasks (count > 0), none constructed yet. Throws std::bad_alloc.
  static TaskSlab* allocate(std::size_t count) {
    const std::size_t groups = (count + kGroupTasks - 1) / kGroupTasks;
    const std::size_t bytes = tasks_offset(groups) + count * sizeof(SlabTask);
    void* storage = bytes >= kLargeResultBytes
                        ? rt::allocate_large_result(bytes)
                        : ::operator new (bytes, std::align_val_t{kAlignment});
    auto* slab = ::new (storage) TaskSlab(groups, bytes);
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t in_group = std::min(kGroupTasks, count - g * kGroupTasks);
      ::new (slab->group_storage(g)) PaddedGroup{{slab, static_cast<std::uint32_t>(in_group)}};
    }
    return slab;
  }

  // Constructs task `index` from its callable. Tasks are built in index order; if a build
  // throws, the caller destroys the built ones with discard_built() instead of running them.
  template <class... Args>
  Task* construct(std::size_t index, Args&&... args) {
    return ::new (task_storage(index))
        SlabTask(&group_storage(index / kGroupTasks)->group, std::forward<Args>(args)...);
  }
  // The batch was never handed over: destroys the first `built` tasks without running them
  // and frees the slab.
  void discard_built(std::size_t built) noexcept {
    for (std::size_t i = 0; i < built; ++i)
      std::launder(static_cast<SlabTask*>(task_storage(i)))->~SlabTask();
    free();
  }

 private:
  static constexpr std::size_t kAlignment = 64;  // a cache line: the groups' counters

  struct Group {
    TaskSlab* slab;
    std::atomic<std::uint32_t> remaining;  // tasks of this group not finished yet
  };
  struct alignas(kAlignment) PaddedGroup {
    Group group;
  };

  struct SlabTask final : Task {
    template <class... Args>
    explicit SlabTask(Group* owner, Args&&... args)
        : Task{&SlabTask::invoke_impl}, owner_(owner), call_(std::forward<Args>(args)...) {}

    static void invoke_impl(Task* self, TaskAction action) noexcept {
      auto* task = static_cast<SlabTask*>(self);
      if (action == TaskAction::run) {
        try {
          std::invoke(task->call_);
        } catch (...) {
          rt::report_task_error(std::current_exception());
        }
      }
      Group* owner = task->owner_;
      task->~SlabTask();
      // acq_rel: release, so that this task's work and destruction happen before the slab is
      // freed by whichever task counts last; acquire, so that the last one sees all of them.
      if (owner->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        owner->slab->finish_group();
      }
    }

    Group* owner_;
    Call call_;
  };
  static_assert(alignof(SlabTask) <= kAlignment, "see kFitsTaskSlab");

  TaskSlab(std::size_t groups, std::size_t bytes) noexcept
      : groups_remaining_(groups), groups_(groups), bytes_(bytes) {}

  static constexpr std::size_t groups_offset() noexcept {
    return (sizeof(TaskSlab) + kAlignment - 1) / kAlignment * kAlignment;
  }
  static constexpr std::size_t tasks_offset(std::size_t groups) noexcept {
    return groups_offset() + groups * sizeof(PaddedGroup);
  }
  // The parts of the one allocation (see the layout above), as the void* they are built in.
  void* at(std::size_t offset) noexcept {
    return static_cast<void*>(reinterpret_cast<std::byte*>(this) + offset);
  }
  PaddedGroup* group_storage(std::size_t g) noexcept {
    return std::launder(static_cast<PaddedGroup*>(at(groups_offset() + g * sizeof(PaddedGroup))));
  }
  void* task_storage(std::size_t index) noexcept {
    return at(tasks_offset(groups_) + index * sizeof(SlabTask));
  }

  void finish_group() noexcept {
    // acq_rel: as for a group's counter, one level up.
    if (groups_remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) free();
  }
  void free() noexcept {
    const std::size_t bytes = bytes_;
    this->~TaskSlab();
    if (bytes >= kLargeResultBytes) {
      rt::deallocate_large_result(this, bytes);
    } else {
      ::operator delete (static_cast<void*>(this), std::align_val_t{kAlignment});
    }
  }

  std::atomic<std::size_t> groups_remaining_;  // groups with a task not finished yet
  std::size_t groups_;
  std::size_t bytes_;
};

// Whether a callable can live in a slab: not over-aligned (such a batch takes one block of the
// block allocator per task, as spawn() does).
template <class Call>
inline constexpr bool kFitsTaskSlab = alignof(Call) <= alignof(std::max_align_t);

}  // namespace forage::detail
