// A block while the allocator holds it: the links it is kept by, written into the block itself,
// and its poisoning under AddressSanitizer.
//
// A free block is a FreeBlock (placement-constructed over whatever object ended there): `next`
// chains the blocks of one free list or batch; the first block of a batch in a central list
// also holds the next batch and the batch's length. Every class is at least sizeof(FreeBlock).
//
// Under ASan a held block is poisoned whole, so task code that touches a task block after it was
// freed (a use-after-free) is reported even though the memory went to a cache and not to
// ASan's free(). The allocator unpoisons the links around its own reads and writes, and the
// block's requested bytes when it hands it out (the class's slack past them stays poisoned, so
// an overflow into it is reported too).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include "alloc/size_classes.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define FORAGE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FORAGE_ASAN 1
#endif
#endif
#ifndef FORAGE_ASAN
#define FORAGE_ASAN 0
#endif

#if FORAGE_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace forage::detail::alloc {

struct FreeBlock {
  FreeBlock* next = nullptr;        // the next block of this list or batch
  FreeBlock* next_batch = nullptr;  // first block of a batch in a central list: the next batch
  std::uint32_t batch_length = 0;   // likewise: blocks in this batch, this one included
};
static_assert(sizeof(FreeBlock) <= kClassSizes.front());

inline void poison(const void* memory, std::size_t bytes) noexcept {
#if FORAGE_ASAN
  ASAN_POISON_MEMORY_REGION(memory, bytes);
#else
  static_cast<void>(memory);
  static_cast<void>(bytes);
#endif
}

inline void unpoison(const void* memory, std::size_t bytes) noexcept {
#if FORAGE_ASAN
  ASAN_UNPOISON_MEMORY_REGION(memory, bytes);
#else
  static_cast<void>(memory);
  static_cast<void>(bytes);
#endif
}

// A block handed back: becomes a FreeBlock on top of `next`, poisoned whole (class_bytes).
inline FreeBlock* hold(void* block, FreeBlock* next, std::size_t class_bytes) noexcept {
  // The links may reach past the bytes the block was handed out with (an 8-byte task in a
  // 32-byte class), which stayed poisoned.
  unpoison(block, sizeof(FreeBlock));
  auto* free_block = ::new (block) FreeBlock{next};
  poison(free_block, class_bytes);
  return free_block;
}

// The links of a held block, read or written with them unpoisoned for the access only.
inline FreeBlock* next_of(FreeBlock* block) noexcept {
  unpoison(block, sizeof(FreeBlock));
  FreeBlock* next = block->next;
  poison(block, sizeof(FreeBlock));
  return next;
}
inline void set_next(FreeBlock* block, FreeBlock* next) noexcept {
  unpoison(block, sizeof(FreeBlock));
  block->next = next;
  poison(block, sizeof(FreeBlock));
}

// A held block handed out: its first `bytes` unpoisoned, for the caller to construct into.
inline void* release_hold(FreeBlock* block, std::size_t bytes) noexcept {
  unpoison(block, bytes);
  return block;
}

}  // namespace forage::detail::alloc
