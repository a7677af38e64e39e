// The thread caches: per thread, one LIFO free list per size class, taken from and given to
// without a lock or an atomic. The fast paths are here, inline; what they fall back on (a
// cache that is empty, full, not yet set up or already torn down) is in thread_cache.cpp.
//
// A list holds at most kListLimit blocks. A free that finds it full sends its older
// kBatchLength blocks to the central list and keeps the newer ones (still in the cache lines it
// just touched); an allocation that finds it empty takes a whole batch from the central list,
// and asks the system for one block only when that is empty too. Between the two there is
// kListLimit - kBatchLength of slack, so a thread alternating allocations and frees at a
// boundary does not move a batch each time.
//
// Lifetime: the lists are constant-initialised thread_locals with no destructor (no guard on
// the fast paths), limits 0 (`unborn`): the first free or empty allocation on a thread takes the
// slow path, which registers a thread_local reaper and opens the limits (`live`). The reaper
// runs at thread exit, gives every list to the central lists and closes the limits again
// (`dead`): from then on this thread's frees go straight to the central list, its allocations
// to the system, so a block freed by a later thread_local destructor is not stranded.
#pragma once

#include <cstddef>
#include <cstdint>

#include "alloc/central_list.hpp"
#include "alloc/free_block.hpp"
#include "alloc/size_classes.hpp"

namespace forage::detail::alloc {

inline constexpr std::uint32_t kBatchLength = 32;
inline constexpr std::uint32_t kListLimit = 2 * kBatchLength;

enum class CacheState : std::uint8_t { unborn, live, dead };

struct FreeList {
  FreeBlock* top = nullptr;
  std::uint32_t length = 0;
  std::uint32_t limit = 0;  // kListLimit while the cache is live, else 0 (every free is slow)
};

struct ThreadCache {
  FreeList lists[kClassCount];
  CacheState state = CacheState::unborn;
};

// Only the owning thread touches it.
extern constinit thread_local ThreadCache tls_cache;

// Out of line: the slow paths.
void* refill_and_take(std::size_t size_class, std::size_t bytes);
void give_back_overflowing(std::size_t size_class, void* block) noexcept;

// A block of `size_class` with its first `bytes` ready; throws std::bad_alloc.
inline void* take(std::size_t size_class, std::size_t bytes) {
  FreeList& list = tls_cache.lists[size_class];
  FreeBlock* block = list.top;
  if (block == nullptr) [[unlikely]]
    return refill_and_take(size_class, bytes);
  list.top = next_of(block);
  --list.length;
  return release_hold(block, bytes);
}

inline void give(std::size_t size_class, void* block) noexcept {
  FreeList& list = tls_cache.lists[size_class];
  if (list.length >= list.limit) [[unlikely]] {
    give_back_overflowing(size_class, block);
    return;
  }
  list.top = hold(block, list.top, class_size(size_class));
  ++list.length;
}

// For tests: blocks in this thread's cache, all classes.
std::size_t cached_blocks_on_this_thread() noexcept;
// For tests: this thread's cache gives everything it holds to the central lists (it stays
// live).
void flush_this_thread() noexcept;

}  // namespace forage::detail::alloc
