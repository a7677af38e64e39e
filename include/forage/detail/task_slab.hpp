// TaskSlab: the items of one spawn_all batch of a sized input, in one allocation, queued as
// groups of consecutive items.
//
// One allocation: while a batch is queued all of it is alive at once, far more than the block
// allocator keeps (8 MiB per size class, so that a burst does not pin memory for good); a
// batch of 10^6 blocks took about 740,000 of them from the system on every call. The slab is
// written in order by the building thread and freed when its last group has finished.
//
// Groups: queueing each item as its own task cost a worker about 25 ns per item (a bulk
// dequeue from the injection queue, a push onto and a pop off its deque, a counter) on top of
// the item, so a 10^6 batch took as long to drain as a loop of spawn() calls took in all. A
// group of up to kMaxGroupItems consecutive items is queued once instead, and its items are
// claimed one at a time from the group's cursor by whoever runs it: about one uncontended
// read-modify-write per item. A group has two entries, so that a long item does not hold up
// the rest of its group: the first worker to run the group offers its `helper` entry on its
// own queue (a Pool worker's deque, where an idle worker steals it) before claiming, and
// whoever runs the helper claims from the same cursor. So a group runs on at most two workers
// at once, each item still runs exactly once, and the other groups keep the other workers
// busy. Groups are smaller for small batches: at least kGroupsPerWorker per worker.
//
// Cancellation: a group's posted entry cancelled before it ran (Shutdown::cancel_pending, a
// refused post) destroys every item unrun. A group that is running when the pool starts
// cancelling destroys its remaining items instead of running them (checked before each item),
// as the pool cancels queued tasks. A helper's own cancellation is only its own: the posted
// entry's runner is still there to finish the items.
//
// PoolStats counts items, not entries: each entry tells its worker how many items it ran or
// dropped (rt::count_batch_items), which replaces the one task the worker counts for the
// entry.
//
// Layout: the header, then one Group per cache line, then the items' callables.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <utility>

#include "forage/detail/task.hpp"
#include "forage/export.hpp"
#include "forage/result_allocator.hpp"

namespace forage::detail {

namespace FORAGE_API rt {

// Defined in lib/task_batch.cpp.
//
// On a worker of any pool: hands `task` to that pool as a task spawned there (Scheduler::post:
// a Pool worker's own deque) and returns true; the task is queued, or was cancelled if the
// pool could not take it. Elsewhere: returns false and leaves the task alone.
bool post_on_current_worker(Task* task) noexcept;
// On a worker: whether its pool is cancelling what it has not run (Shutdown::cancel_pending
// or Shutdown::stop). False elsewhere. A hint, as the worker loop's own check.
bool pool_cancelling() noexcept;
// On a worker: the entry of a batch group that the worker is counting as one task (executed
// when `action` is run, cancelled otherwise) ran `ran` items and dropped `dropped`; the
// pool's statistics count those items instead. No effect elsewhere.
void count_batch_items(TaskAction action, std::uint64_t ran, std::uint64_t dropped) noexcept;

}  // namespace rt

template <class Call>
class TaskSlab {
 public:
  static constexpr std::size_t kMaxGroupItems = 64;
  static constexpr std::size_t kGroupsPerWorker = 8;

  // Storage for `count` items (count > 0) in groups sized for `workers` workers, none
  // constructed yet. Throws std::bad_alloc.
  static TaskSlab* allocate(std::size_t count, std::size_t workers) {
    const std::size_t per_group = std::clamp<std::size_t>(
        count / (std::max<std::size_t>(workers, 1) * kGroupsPerWorker), 1, kMaxGroupItems);
    const std::size_t groups = (count + per_group - 1) / per_group;
    const std::size_t bytes = items_offset(groups) + count * sizeof(Call);
    void* storage = bytes >= kLargeResultBytes
                        ? rt::allocate_large_result(bytes)
                        : ::operator new (bytes, std::align_val_t{kAlignment});
    auto* slab = ::new (storage) TaskSlab(groups, bytes);
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t first = g * per_group;
      ::new (slab->group(g))
          Group(slab, first, static_cast<std::uint32_t>(std::min(per_group, count - first)));
    }
    return slab;
  }

  std::size_t groups() const noexcept { return groups_; }

  // Constructs item `index` from its callable. Items are built in index order; if a build
  // throws, the caller destroys the built ones with discard_built() instead of running them.
  template <class... Args>
  void construct(std::size_t index, Args&&... args) {
    ::new (item_storage(index)) Call(std::forward<Args>(args)...);
  }
  // The task to queue for group `g` (each exactly once): it runs or cancels the group.
  Task* group_task(std::size_t g) noexcept { return &group(g)->posted; }
  // The batch was never handed over: destroys the first `built` items without running them
  // and frees the slab.
  void discard_built(std::size_t built) noexcept {
    for (std::size_t i = 0; i < built; ++i) item(i)->~Call();
    free();
  }

 private:
  static constexpr std::size_t kAlignment = 64;  // a cache line per group

  struct Group;
  struct Entry final : Task {
    explicit Entry(Group* owner) noexcept : Task{&Group::invoke_entry}, group(owner) {}
    Group* group;
  };

  struct alignas(kAlignment) Group {
    Group(TaskSlab* owner, std::size_t first_item, std::uint32_t items) noexcept
        : posted(this), helper(this), slab(owner), first(first_item), count(items) {}

    static void invoke_entry(Task* self, TaskAction action) noexcept {
      Entry* entry = static_cast<Entry*>(self);
      Group& g = *entry->group;
      const bool is_helper = entry == &g.helper;
      // Entries this invocation finishes: its own, and the helper's when the helper is
      // never offered (a cancelled posted entry, a one-item group, not on a worker).
      std::uint32_t finishing = 1;
      if (!is_helper) {
        const bool offered =
            action == TaskAction::run && g.count > 1 && rt::post_on_current_worker(&g.helper);
        if (!offered) finishing = 2;
      }
      std::uint64_t ran = 0;
      std::uint64_t dropped = 0;
      // A cancelled helper leaves the items to the posted entry's runner (see the header).
      if (!(is_helper && action == TaskAction::cancel)) {
        bool dropping = action == TaskAction::cancel;
        for (;;) {
          // relaxed: only the claim's atomicity matters (each index goes to one runner). The
          // items were written before the posted entry was queued; both entries reach their
          // runner through a queue's release/acquire, after that.
          const std::uint32_t claimed = g.next.fetch_add(1, std::memory_order_relaxed);
          if (claimed >= g.count) break;
          Call* call = g.slab->item(g.first + claimed);
          if (!dropping && rt::pool_cancelling()) dropping = true;
          if (dropping) {
            ++dropped;
          } else {
            ++ran;
            try {
              std::invoke(*call);
            } catch (...) {
              rt::report_task_error(std::current_exception());
            }
          }
          call->~Call();
        }
      }
      rt::count_batch_items(action, ran, dropped);
      TaskSlab* slab = g.slab;
      // acq_rel: release, so that this entry's items (their work and destruction) happen
      // before the slab is freed by whichever entry finishes last; acquire, so that the last
      // one sees all of them.
      if (g.entries_left.fetch_sub(finishing, std::memory_order_acq_rel) == finishing) {
        slab->finish_group();
      }
    }

    Entry posted;  // queued by post_batch
    Entry helper;  // offered by the posted entry's runner
    TaskSlab* slab;
    std::size_t first;  // index of the group's first item
    std::uint32_t count;
    std::atomic<std::uint32_t> next{0};          // items claimed (may pass count)
    std::atomic<std::uint32_t> entries_left{2};  // entries not finished yet
  };
  static_assert(sizeof(Group) == kAlignment, "a group is one cache line");
  static_assert(alignof(Call) <= kAlignment, "see kFitsTaskSlab");

  TaskSlab(std::size_t groups, std::size_t bytes) noexcept
      : groups_remaining_(groups), groups_(groups), bytes_(bytes) {}

  static constexpr std::size_t groups_offset() noexcept {
    return (sizeof(TaskSlab) + kAlignment - 1) / kAlignment * kAlignment;
  }
  static constexpr std::size_t items_offset(std::size_t groups) noexcept {
    return groups_offset() + groups * sizeof(Group);
  }
  // The parts of the one allocation (see the layout above), as the void* they are built in.
  void* at(std::size_t offset) noexcept {
    return static_cast<void*>(reinterpret_cast<std::byte*>(this) + offset);
  }
  Group* group(std::size_t g) noexcept {
    return std::launder(static_cast<Group*>(at(groups_offset() + g * sizeof(Group))));
  }
  void* item_storage(std::size_t index) noexcept {
    return at(items_offset(groups_) + index * sizeof(Call));
  }
  Call* item(std::size_t index) noexcept {
    return std::launder(static_cast<Call*>(item_storage(index)));
  }

  void finish_group() noexcept {
    // acq_rel: as for a group's entries, one level up.
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

  std::atomic<std::size_t> groups_remaining_;  // groups with an entry not finished yet
  std::size_t groups_;
  std::size_t bytes_;
};

// Whether a callable can live in a slab: not over-aligned (such a batch takes one block of the
// block allocator per item, as spawn() does).
template <class Call>
inline constexpr bool kFitsTaskSlab = alignof(Call) <= alignof(std::max_align_t);

}  // namespace forage::detail
