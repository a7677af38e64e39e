// The central free lists (central_list.hpp). Every list is guarded by its own mutex: a thread
// takes one once per batch (kBatchLength blocks), so the lock is cheap next to the work it
// saves, and it needs no ABA argument a lock-free stack of batches would.
#include "alloc/central_list.hpp"

#include <pthread.h>

#include <array>
#include <cstdlib>
#include <new>
#include <utility>

namespace forage::detail::alloc {
namespace {

struct alignas(64) CentralList {  // one line each: threads freeing different classes don't share
  std::mutex mutex;
  FreeBlock* top = nullptr;  // first block of the newest batch; batches chain by next_batch
  std::size_t blocks = 0;
  bool closed = false;  // after release_all_at_exit: every batch goes to the system
};

// Totals for allocator_counts(); each written by whichever thread crosses the matching path.
struct Counters {
  std::atomic<std::uint64_t> blocks_from_system{0};
  std::atomic<std::uint64_t> blocks_to_system{0};
  std::atomic<std::uint64_t> batches_to_central{0};
  std::atomic<std::uint64_t> batches_from_central{0};
};

// Constant-initialised, never destroyed (central_list.hpp says why): a union member's
// destructor runs only if the union's does, and this one does nothing.
template <class T>
union Immortal {
  constexpr Immortal() : value() {}
  ~Immortal() {}
  T value;
};

constinit Immortal<std::array<CentralList, kClassCount>> g_lists;
constinit Immortal<Counters> g_counters;

void count(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) noexcept {
  // relaxed: statistics; a reader that must see a given increment is ordered after it by
  // something else (the test joins the thread that made it).
  counter.fetch_add(by, std::memory_order_relaxed);
}

std::uint64_t read(const std::atomic<std::uint64_t>& counter) noexcept {
  // relaxed: as count().
  return counter.load(std::memory_order_relaxed);
}

// fork() in a process whose other threads may hold a central list's lock: the child would
// inherit it locked, with no thread left to unlock it. As glibc's malloc does for its arenas,
// every lock is taken around the fork (in class order, the only place that takes two) and
// released on both sides.
void lock_all_for_fork() noexcept {
  for (CentralList& list : g_lists.value) list.mutex.lock();
}
void unlock_all_after_fork() noexcept {
  for (CentralList& list : g_lists.value) list.mutex.unlock();
}
[[maybe_unused]] const int g_fork_handlers_registered =
    pthread_atfork(&lock_all_for_fork, &unlock_all_after_fork, &unlock_all_after_fork);

void free_chain(std::size_t size_class, FreeBlock* block) noexcept {
  while (block != nullptr) {
    FreeBlock* next = next_of(block);
    block_to_system(size_class, block);
    block = next;
  }
}

// At exit (after the main thread's cache went to the central lists), every central block
// goes back to the system and the lists close: a batch given later (a thread still running, a
// static destructor) goes to the system too. Memory is returned, and a leak checker finds no
// block it cannot account for: under ASan the links inside held blocks are poisoned, and
// LeakSanitizer does not follow pointers stored in poisoned memory.
void release_all_at_exit() noexcept {
  for (std::size_t size_class = 0; size_class < kClassCount; ++size_class) {
    CentralList& list = g_lists.value[size_class];
    FreeBlock* batches = nullptr;
    {
      const std::lock_guard lock(list.mutex);
      batches = std::exchange(list.top, nullptr);
      list.blocks = 0;
      list.closed = true;
    }
    while (batches != nullptr) {
      unpoison(batches, sizeof(FreeBlock));
      FreeBlock* next_batch = batches->next_batch;
      poison(batches, sizeof(FreeBlock));
      free_chain(size_class, batches);
      batches = next_batch;
    }
  }
}
[[maybe_unused]] const int g_exit_handler_registered = std::atexit(&release_all_at_exit);

}  // namespace

AllocatorCounts allocator_counts() noexcept {
  const Counters& c = g_counters.value;
  return {read(c.blocks_from_system), read(c.blocks_to_system), read(c.batches_to_central),
          read(c.batches_from_central)};
}

std::size_t central_blocks(std::size_t size_class) noexcept {
  CentralList& list = g_lists.value[size_class];
  const std::lock_guard lock(list.mutex);
  return list.blocks;
}

Batch take_batch(std::size_t size_class) noexcept {
  CentralList& list = g_lists.value[size_class];
  Batch batch;
  {
    const std::lock_guard lock(list.mutex);
    FreeBlock* first = list.top;
    if (first == nullptr) return batch;
    unpoison(first, sizeof(FreeBlock));
    list.top = first->next_batch;
    batch = {first, first->batch_length};
    poison(first, sizeof(FreeBlock));
    list.blocks -= batch.length;
  }
  count(g_counters.value.batches_from_central);
  return batch;
}

void give_batch(std::size_t size_class, Batch batch) noexcept {
  CentralList& list = g_lists.value[size_class];
  const std::size_t limit = kRetainedBytesPerClass / class_size(size_class);
  {
    const std::lock_guard lock(list.mutex);
    if (!list.closed && list.blocks + batch.length <= limit) {
      unpoison(batch.first, sizeof(FreeBlock));
      batch.first->next_batch = list.top;
      batch.first->batch_length = batch.length;
      poison(batch.first, sizeof(FreeBlock));
      list.top = batch.first;
      list.blocks += batch.length;
      batch.first = nullptr;
    }
  }
  if (batch.first == nullptr) {
    count(g_counters.value.batches_to_central);
    return;
  }
  // Past the limit, or closed: to the system, outside the lock.
  free_chain(size_class, batch.first);
}

void* block_from_system(std::size_t size_class) {
  void* block = ::operator new(class_size(size_class));
  count(g_counters.value.blocks_from_system);
  return block;
}

void block_to_system(std::size_t size_class, FreeBlock* block) noexcept {
  unpoison(block, class_size(size_class));
  ::operator delete(block);  // unsized: clang before 19 declares no sized global form by default
  count(g_counters.value.blocks_to_system);
}

}  // namespace forage::detail::alloc
