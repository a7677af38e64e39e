// The compiled half of detail/block_alloc.hpp: which blocks the size-class allocator serves
// (lib/alloc/) and which go to ::operator new.
#include "forage/detail/block_alloc.hpp"

#include "alloc/size_classes.hpp"
#include "alloc/thread_cache.hpp"
#include "forage/detail/alloc_fault.hpp"

namespace forage::detail::rt {

void* allocate_block(std::size_t size, std::size_t alignment) {
  // Disarmed: one relaxed load of a flag no one writes and a branch not taken, in front of the
  // thread cache's pop (lib/alloc/README.md, Failure on purpose).
  allocation_fault_point();
  if (alignment > alignof(std::max_align_t)) [[unlikely]] {
    return ::operator new (size, std::align_val_t{alignment});
  }
  if (size > alloc::kLargestClass) [[unlikely]]
    return ::operator new(size);
  return alloc::take(alloc::class_of(size), size);
}

void free_block(void* block, std::size_t size, std::size_t alignment) noexcept {
  if (block == nullptr) [[unlikely]] {
    return;  // as operator delete
  }
  // The unsized global forms: clang before 19 declares the sized ones only with
  // -fsized-deallocation.
  if (alignment > alignof(std::max_align_t)) [[unlikely]] {
    ::operator delete (block, std::align_val_t{alignment});
    return;
  }
  if (size > alloc::kLargestClass) [[unlikely]] {
    ::operator delete(block);
    return;
  }
  alloc::give(alloc::class_of(size), block);
}

}  // namespace forage::detail::rt
