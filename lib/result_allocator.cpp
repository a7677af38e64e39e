// The compiled half of ResultAllocator: storage for large results, advised as huge pages.
#include "forage/result_allocator.hpp"

#include <sys/mman.h>

#include <new>

namespace forage::detail::rt {

void* allocate_large_result(std::size_t bytes) {
  // Aligned operator new keeps malloc's behaviour (a fresh mapping for blocks this large, reuse
  // of smaller freed ones) and a user's replacement of operator new.
  void* storage = ::operator new (bytes, std::align_val_t{kHugePageBytes});
  // Only whole huge pages inside the block: the advice must not change memory next to it.
  const std::size_t whole_pages = bytes / kHugePageBytes * kHugePageBytes;
  // A hint: where transparent huge pages are off (or madvise fails), 4 KiB pages serve as before.
  (void)::madvise(storage, whole_pages, MADV_HUGEPAGE);
  return storage;
}

void deallocate_large_result(void* storage, std::size_t bytes) noexcept {
  (void)bytes;  // the unsized form: clang enables sized deallocation only on request
  ::operator delete (storage, std::align_val_t{kHugePageBytes});
}

}  // namespace forage::detail::rt
