// The thread caches' slow paths (thread_cache.hpp): refilling from the central lists,
// overflowing into them, and the thread's setup and teardown.
#include "alloc/thread_cache.hpp"

namespace forage::detail::alloc {

constinit thread_local ThreadCache tls_cache;

namespace {

// Its destructor runs at thread exit (thread_cache.hpp, Lifetime).
struct CacheReaper {
  CacheReaper() = default;
  CacheReaper(const CacheReaper&) = delete;
  CacheReaper& operator=(const CacheReaper&) = delete;
  ~CacheReaper() {
    flush_this_thread();
    for (FreeList& list : tls_cache.lists) list.limit = 0;
    tls_cache.state = CacheState::dead;
  }
};

// On a thread's first slow path: live, unless it is already past its teardown. (Registering a
// thread_local destructor throws nothing: glibc's __cxa_thread_atexit_impl is C.)
void open_cache() noexcept {
  if (tls_cache.state != CacheState::unborn) return;
  // Constructing the thread_local registers its destructor for this thread's exit.
  static thread_local CacheReaper reaper;
  static_cast<void>(reaper);
  for (FreeList& list : tls_cache.lists) list.limit = kListLimit;
  tls_cache.state = CacheState::live;
}

}  // namespace

void* refill_and_take(std::size_t size_class, std::size_t bytes) {
  open_cache();
  if (tls_cache.state == CacheState::live) {
    const Batch batch = take_batch(size_class);
    if (batch.first != nullptr) {
      FreeList& list = tls_cache.lists[size_class];
      list.top = next_of(batch.first);
      list.length = batch.length - 1;
      return release_hold(batch.first, bytes);
    }
  }
  return block_from_system(size_class);
}

void give_back_overflowing(std::size_t size_class, void* block) noexcept {
  open_cache();
  const std::size_t class_bytes = class_size(size_class);
  FreeList& list = tls_cache.lists[size_class];
  if (tls_cache.state != CacheState::live) {
    give_batch(size_class, {hold(block, nullptr, class_bytes), 1});
    return;
  }
  if (list.length >= list.limit) {
    // Keep the newest limit - kBatchLength blocks; the older ones leave as one batch.
    FreeBlock* last_kept = list.top;
    for (std::uint32_t i = 1; i < list.limit - kBatchLength; ++i) last_kept = next_of(last_kept);
    const Batch older{next_of(last_kept), list.length - (list.limit - kBatchLength)};
    set_next(last_kept, nullptr);
    list.length -= older.length;
    give_batch(size_class, older);
  }
  list.top = hold(block, list.top, class_bytes);
  ++list.length;
}

std::size_t cached_blocks_on_this_thread() noexcept {
  std::size_t blocks = 0;
  for (const FreeList& list : tls_cache.lists) blocks += list.length;
  return blocks;
}

void flush_this_thread() noexcept {
  for (std::size_t size_class = 0; size_class < kClassCount; ++size_class) {
    FreeList& list = tls_cache.lists[size_class];
    if (list.top == nullptr) continue;
    give_batch(size_class, {list.top, list.length});
    list.top = nullptr;
    list.length = 0;
  }
}

}  // namespace forage::detail::alloc
