// Where task blocks and shared states get their memory: the library's block allocator
// (lib/alloc/README.md), per-thread caches of fixed size classes, so a spawn, a submit or a
// TaskGroup spawn calls malloc only while the caches warm up, not in steady state.
//
// rt::allocate_block / rt::free_block are the only way in: every block of a spawned task
// (HeapTask), a TaskGroup task, a shared state (submit, then, when_all/when_any, Promise) and
// an on_done node comes from here, so a test that makes allocations fail has one place to do
// it. Classes get them through BlockAllocated, whose class-specific operator new/delete the
// ordinary `new T(...)` / `delete p` expressions call (for a class with a virtual destructor,
// `delete` passes the size of the most derived object).
#pragma once

#include <cstddef>
#include <new>

#include "forage/export.hpp"

namespace forage::detail {

namespace FORAGE_API rt {

// Defined in lib/block_alloc.cpp.
//
// `size` bytes aligned to `alignment` (a power of two); throws std::bad_alloc as operator new
// does. Up to the largest size class (512 bytes) and alignof(std::max_align_t), from the calling
// thread's cache; larger or more aligned blocks from ::operator new.
void* allocate_block(std::size_t size, std::size_t alignment = alignof(std::max_align_t));
// Frees a block from allocate_block with the same size and alignment, on any thread.
void free_block(void* block, std::size_t size,
                std::size_t alignment = alignof(std::max_align_t)) noexcept;

}  // namespace rt

// A base whose class-specific allocation functions send `new` and `delete` of the derived
// class to the block allocator. Empty: it adds no bytes.
struct BlockAllocated {
  static void* operator new(std::size_t size) { return rt::allocate_block(size); }
  static void* operator new(std::size_t size, std::align_val_t alignment) {
    return rt::allocate_block(size, static_cast<std::size_t>(alignment));
  }
  static void operator delete(void* block, std::size_t size) noexcept {
    rt::free_block(block, size);
  }
  static void operator delete(void* block, std::size_t size, std::align_val_t alignment) noexcept {
    rt::free_block(block, size, static_cast<std::size_t>(alignment));
  }
  // Class-specific operator new hides the global placement form; keep it usable.
  static void* operator new(std::size_t /*size*/, void* where) noexcept { return where; }
  static void operator delete(void* /*block*/, void* /*where*/) noexcept {}
};

}  // namespace forage::detail
