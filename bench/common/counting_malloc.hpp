// Counting heap allocations: this header REPLACES the C allocator (malloc and its family) of
// the binary that includes it, so that every allocation in the process is counted, whoever
// makes it: C++ operator new (libstdc++'s goes through malloc), libgomp, oneTBB, libstdc++'s
// std::function / std::shared_ptr / std::future, glibc itself. All systems compared are
// counted the same way, at the one entry they all share.
//
// It DEFINES (not declares) malloc, calloc, realloc, reallocarray, free, aligned_alloc,
// posix_memalign, memalign, valloc and pvalloc with C linkage, so: include it from exactly
// one .cpp of one executable (a second copy is a multiple-definition link error), never from
// a library, and never in a sanitizer build (ASan and TSan replace the same functions; the
// alloc suite is left out of those builds in bench/CMakeLists.txt).
//
// How: glibc supports replacing its malloc ("Replacing malloc" in the glibc manual): a
// program that defines malloc, free, calloc, realloc (and the aligned forms) is used by every
// shared library, and by glibc itself, instead of glibc's own. Each replacement here counts
// the call and forwards to glibc's allocator under its exported internal names
// (__libc_malloc, __libc_calloc, __libc_realloc, __libc_free, __libc_memalign,
// __libc_valloc, __libc_pvalloc), so the memory, its layout and malloc_usable_size are
// glibc's own. glibc only: elsewhere this header does not compile.
//
// What is counted: calls that allocate (everything above but free; a realloc counts as one
// allocation whether or not it moves the block) and the bytes they were asked for. Frees are
// not counted. Blocks a library takes from somewhere other than malloc are not seen: oneTBB
// takes its task objects from its small-object pool, whose blocks come from libtbbmalloc
// (dlopen'ed by libtbb where installed: Debian's libtbbmalloc2) rather than malloc, and
// glibc's own mmap for large blocks is behind malloc (counted as the malloc call).
//
// The count is process-wide and always on: read allocation_count() before and after the
// window to measure, with the threads whose allocations the window should include
// synchronised with the reader (the tasks' results fetched, wait_idle() returned).
#pragma once

#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#ifndef __GLIBC__
#error "counting_malloc.hpp replaces glibc's malloc: glibc only"
#endif

// glibc's allocator under the names it exports for replacements to forward to.
extern "C" {
void* __libc_malloc(std::size_t size) noexcept;
void* __libc_calloc(std::size_t count, std::size_t size) noexcept;
void* __libc_realloc(void* block, std::size_t size) noexcept;
void __libc_free(void* block) noexcept;
void* __libc_memalign(std::size_t alignment, std::size_t size) noexcept;
void* __libc_valloc(std::size_t size) noexcept;
void* __libc_pvalloc(std::size_t size) noexcept;
}

namespace forage::bench {

struct AllocationCount {
  std::uint64_t calls = 0;  // allocating calls (malloc, calloc, realloc, aligned forms)
  std::uint64_t bytes = 0;  // bytes they asked for
};

namespace counting_malloc_detail {

// Written by every allocating thread of the process; read by the benchmark thread. One line
// for both: the thread that bumps one bumps the other.
struct alignas(64) Counters {
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> bytes{0};
};
// Constant-initialised (no constructor runs), so it is valid for the allocations the loader
// and the static initialisers make before main.
constinit inline Counters counters;

inline void note(std::size_t bytes) noexcept {
  // relaxed: these are totals, ordered for the reader by whatever synchronises it with the
  // allocating threads (a future's get(), wait_idle(), a task_group's wait(), the end of an
  // OpenMP region); an increment that happens-before the reader's load is seen by it (the
  // read-write coherence of one atomic), and that is all the reader needs.
  counters.calls.fetch_add(1, std::memory_order_relaxed);
  counters.bytes.fetch_add(bytes, std::memory_order_relaxed);
}

inline bool is_power_of_two(std::size_t value) noexcept {
  return value != 0 && (value & (value - 1)) == 0;
}

}  // namespace counting_malloc_detail

// Allocations so far in the whole process. See the header comment for when a count made by
// another thread is guaranteed to be included.
inline AllocationCount allocation_count() noexcept {
  using counting_malloc_detail::counters;
  // relaxed: see note(); the reader's synchronisation with the allocating threads orders
  // their increments before these loads.
  return {counters.calls.load(std::memory_order_relaxed),
          counters.bytes.load(std::memory_order_relaxed)};
}

inline AllocationCount operator+(const AllocationCount& a, const AllocationCount& b) {
  return {a.calls + b.calls, a.bytes + b.bytes};
}

inline AllocationCount operator-(const AllocationCount& after, const AllocationCount& before) {
  return {after.calls - before.calls, after.bytes - before.bytes};
}

}  // namespace forage::bench

// --- The replacements (definitions: this header belongs to one .cpp per binary) -------------

extern "C" {

void* malloc(std::size_t size) noexcept {
  forage::bench::counting_malloc_detail::note(size);
  return __libc_malloc(size);
}

void* calloc(std::size_t count, std::size_t size) noexcept {
  // count * size may overflow; __libc_calloc checks and fails. Count what it was asked for.
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes)) bytes = SIZE_MAX;
  forage::bench::counting_malloc_detail::note(bytes);
  return __libc_calloc(count, size);
}

void* realloc(void* block, std::size_t size) noexcept {
  forage::bench::counting_malloc_detail::note(size);
  return __libc_realloc(block, size);
}

void* reallocarray(void* block, std::size_t count, std::size_t size) noexcept {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes)) {
    errno = ENOMEM;  // as glibc's reallocarray
    return nullptr;
  }
  return realloc(block, bytes);
}

void free(void* block) noexcept { __libc_free(block); }

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  forage::bench::counting_malloc_detail::note(size);
  return __libc_memalign(alignment, size);
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  // glibc's aligned_alloc refuses an alignment that is not a power of two (since 2.38; before
  // that it rounded up, as memalign does): refuse it here, in every version.
  if (!forage::bench::counting_malloc_detail::is_power_of_two(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  return memalign(alignment, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  if (alignment % sizeof(void*) != 0 ||
      !forage::bench::counting_malloc_detail::is_power_of_two(alignment)) {
    return EINVAL;
  }
  void* block = memalign(alignment, size);
  if (block == nullptr) return ENOMEM;
  *out = block;
  return 0;
}

void* valloc(std::size_t size) noexcept {
  forage::bench::counting_malloc_detail::note(size);
  return __libc_valloc(size);
}

void* pvalloc(std::size_t size) noexcept {
  forage::bench::counting_malloc_detail::note(size);
  return __libc_pvalloc(size);
}

}  // extern "C"
