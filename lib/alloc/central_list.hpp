// The central free lists: one per size class, shared by every thread, holding batches of
// blocks that thread caches gave back (a cache that overflowed, a thread that exited). A
// cache that runs dry takes a whole batch from here before it asks the system for a block, so a
// block freed by one thread reaches the thread that allocates, whichever it is, one lock per
// batch rather than one per block.
//
// A list keeps at most kRetainedBytesPerClass; a batch that would take it past that goes back
// to the system (::operator delete), so memory held after a burst of live blocks is bounded.
// The lists are never destroyed, so a block freed during static destruction, after the thread
// caches are gone, still has a place to go. At exit they give every block back to the system
// and close: later batches go to the system directly (nothing is left for a leak checker).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "alloc/free_block.hpp"
#include "alloc/size_classes.hpp"

namespace forage::detail::alloc {

inline constexpr std::size_t kRetainedBytesPerClass = std::size_t{8} << 20;

// A chain of held blocks linked by `next`, the last one's null.
struct Batch {
  FreeBlock* first = nullptr;
  std::uint32_t length = 0;
};

// For tests and the README's claims: totals since the process started.
struct AllocatorCounts {
  std::uint64_t blocks_from_system = 0;    // ::operator new calls for class blocks
  std::uint64_t blocks_to_system = 0;      // ::operator delete calls for class blocks
  std::uint64_t batches_to_central = 0;    // batches a thread cache gave a central list
  std::uint64_t batches_from_central = 0;  // batches a thread cache took from one
};
AllocatorCounts allocator_counts() noexcept;
// Blocks sitting in the central list of this class now.
std::size_t central_blocks(std::size_t size_class) noexcept;

// Any thread. Takes the batch at the top of the class's list; an empty batch if there is none.
Batch take_batch(std::size_t size_class) noexcept;
// Any thread. Gives `batch` (length >= 1) to the class's list, or to the system past the limit.
void give_batch(std::size_t size_class, Batch batch) noexcept;

// A new block of the class from the system; throws std::bad_alloc as operator new.
void* block_from_system(std::size_t size_class);
// A held block or a whole batch back to the system.
void block_to_system(std::size_t size_class, FreeBlock* block) noexcept;

}  // namespace forage::detail::alloc
