// Replaces global operator new in the test binary that includes this header (include it in
// exactly one source file) so that a test can make an allocation throw std::bad_alloc:
//   FailAllocation           the N-th next allocation of the calling thread (other threads
//                            are not affected)
//   FailAnyThreadAllocation  the N-th next allocation of any thread (a pool's workers too)
// Both are disarmed by default and fire once per arming. allocation_count() counts every
// allocation of every thread, to size a sweep over N.
//
// Under ThreadSanitizer, clang's runtime defines operator new in the executable itself and a
// second definition does not link; g++ links libtsan as a shared library, whose operator new
// ours overrides, so the tsan preset (g++) can use this header.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace forage::test {

// -1: disarmed; 0: the next allocation fails; n > 0: n allocations succeed first.
inline thread_local long allocations_before_failure = -1;
// The same for every thread.
inline std::atomic<long> any_thread_allocations_before_failure{-1};
inline std::atomic<std::uint64_t> allocations_so_far{0};

class FailAllocation {
 public:
  explicit FailAllocation(long succeed_first) { allocations_before_failure = succeed_first; }
  ~FailAllocation() { allocations_before_failure = -1; }
  FailAllocation(const FailAllocation&) = delete;
  FailAllocation& operator=(const FailAllocation&) = delete;
};

class FailAnyThreadAllocation {
 public:
  explicit FailAnyThreadAllocation(long succeed_first) {
    // relaxed: the arming thread's own later allocations see it (program order); other
    // threads are started after it, or are racing anyway (the sweep covers both outcomes).
    any_thread_allocations_before_failure.store(succeed_first, std::memory_order_relaxed);
  }
  ~FailAnyThreadAllocation() { disarm(); }
  // relaxed: as above.
  void disarm() { any_thread_allocations_before_failure.store(-1, std::memory_order_relaxed); }
  // True once the armed failure was thrown.
  static bool fired() noexcept { return fired_flag().load(std::memory_order_relaxed); }
  static void reset_fired() noexcept { fired_flag().store(false, std::memory_order_relaxed); }
  static std::atomic<bool>& fired_flag() noexcept {
    static std::atomic<bool> flag{false};  // relaxed everywhere: read after the threads joined
    return flag;
  }
  FailAnyThreadAllocation(const FailAnyThreadAllocation&) = delete;
  FailAnyThreadAllocation& operator=(const FailAnyThreadAllocation&) = delete;
};

// relaxed: a count, read by the thread that caused the allocations, or after a join.
inline std::uint64_t allocation_count() noexcept {
  return allocations_so_far.load(std::memory_order_relaxed);
}

// True if this allocation is the one armed to fail.
inline bool should_fail_allocation() noexcept {
  // relaxed: a statistic.
  allocations_so_far.fetch_add(1, std::memory_order_relaxed);
  long& budget = allocations_before_failure;
  if (budget == 0) {
    budget = -1;  // one failure per arming
    return true;
  }
  if (budget > 0) --budget;
  // relaxed: the CAS makes exactly one allocation take the armed failure.
  long shared = any_thread_allocations_before_failure.load(std::memory_order_relaxed);
  while (shared >= 0) {
    const long next = shared == 0 ? -1 : shared - 1;
    if (any_thread_allocations_before_failure.compare_exchange_weak(
            shared, next, std::memory_order_relaxed, std::memory_order_relaxed)) {
      if (shared != 0) return false;
      FailAnyThreadAllocation::fired_flag().store(true, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

}  // namespace forage::test

// noinline: inlined into call sites, g++ would pair the malloc/free inside with the
// new/delete outside and warn (-Wmismatched-new-delete) about a pairing that is correct.
[[gnu::noinline]] void* operator new(std::size_t size) {
  if (forage::test::should_fail_allocation()) throw std::bad_alloc();
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new(std::size_t size, std::align_val_t alignment) {
  if (forage::test::should_fail_allocation()) throw std::bad_alloc();
  void* memory = nullptr;
  if (posix_memalign(&memory, static_cast<std::size_t>(alignment), size == 0 ? 1 : size) == 0) {
    return memory;
  }
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* memory) noexcept { std::free(memory); }
[[gnu::noinline]] void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }
[[gnu::noinline]] void operator delete(void* memory, std::align_val_t) noexcept {
  std::free(memory);
}
[[gnu::noinline]] void operator delete(void* memory, std::size_t, std::align_val_t) noexcept {
  std::free(memory);
}
