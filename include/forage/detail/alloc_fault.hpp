// Allocation failure on purpose: a test-facing hook that makes the library's own allocations
// throw std::bad_alloc, as a real failure would, so that a test can sweep "the N-th allocation
// fails" through an API call under every build (clang's TSan does not link a replaced global
// operator new, so tests/failing_allocator.hpp cannot run there).
//
// The allocations it reaches: every block of the block allocator (rt::allocate_block: task
// blocks, shared states, on_done nodes, TaskGroup tasks), a work deque's rings, an imap
// window's slots, MapResults' storage (ResultAllocator::allocate), moodycamel's blocks and
// producers (lib/alloc/queue_traits.hpp), and the SingleQueuePool's locked queue and join
// proxies. Each site calls allocation_fault_point() before it allocates; disarmed, that is one
// relaxed load and a branch not taken.
//
// Not for users: nothing outside tests arms it. Arming while other threads allocate is allowed
// and racy by design: which allocation gets which index is the interleaving under test.
#pragma once

#include <atomic>
#include <cstdint>

#include "forage/export.hpp"

namespace forage::detail {

struct AllocationFault {
  // 1-based: the fail_at-th allocation counted after arming fails; 0 fails none (counting only,
  // to size a sweep).
  std::uint64_t fail_at = 0;
  // false: only that one fails; true: it and every later one fail (memory exhausted for good).
  bool keep_failing = false;
};

// What happened between arming and disarming.
struct AllocationFaultReport {
  std::uint64_t allocations = 0;  // counted allocations, the failed ones included
  std::uint64_t failures = 0;     // of which threw std::bad_alloc
};

namespace FORAGE_API rt {

// Defined in lib/alloc_fault.cpp.
//
// Written by arm/disarm (any thread, a test's); read by every allocation site. Only a hint
// for the fast check: the slow path re-reads it with acquire.
extern std::atomic<bool> allocation_fault_armed;

// Any thread. Starts counting allocations from 0 with `fault`; replaces an earlier arming.
void arm_allocation_fault(AllocationFault fault) noexcept;
// Any thread. Stops counting; returns the counts since arm_allocation_fault.
AllocationFaultReport disarm_allocation_fault() noexcept;
// The armed path of allocation_fault_point: counts this allocation, throws std::bad_alloc if it
// is one armed to fail.
void count_allocation_or_fail();
// The same for an allocator that reports failure with a null pointer: true if this allocation
// is one armed to fail.
bool count_allocation_and_refuse() noexcept;

}  // namespace rt

// Called by each site above right before it allocates; throws std::bad_alloc when armed to.
inline void allocation_fault_point() {
  // relaxed: a hint only; an arming that this load misses is as if it came after the
  // allocation (arming is racy with other threads by design, see the header comment).
  if (rt::allocation_fault_armed.load(std::memory_order_relaxed)) [[unlikely]] {
    rt::count_allocation_or_fail();
  }
}

// allocation_fault_point for an allocator that returns null instead of throwing (moodycamel's
// queues, lib/alloc/queue_traits.hpp): true if this allocation must fail.
inline bool allocation_fault_refuses() noexcept {
  // relaxed: as allocation_fault_point.
  if (rt::allocation_fault_armed.load(std::memory_order_relaxed)) [[unlikely]] {
    return rt::count_allocation_and_refuse();
  }
  return false;
}

// For tests: arms on construction, disarms on destruction; report() disarms early.
class ScopedAllocationFault {
 public:
  explicit ScopedAllocationFault(AllocationFault fault) noexcept {
    rt::arm_allocation_fault(fault);
  }
  ~ScopedAllocationFault() {
    if (armed_) rt::disarm_allocation_fault();
  }
  ScopedAllocationFault(const ScopedAllocationFault&) = delete;
  ScopedAllocationFault& operator=(const ScopedAllocationFault&) = delete;

  AllocationFaultReport report() noexcept {
    armed_ = false;
    return rt::disarm_allocation_fault();
  }

 private:
  bool armed_ = true;
};

}  // namespace forage::detail
