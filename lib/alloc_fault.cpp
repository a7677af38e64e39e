// The compiled half of detail/alloc_fault.hpp: the armed fault's state and its counting.
#include "forage/detail/alloc_fault.hpp"

#include <new>

namespace forage::detail {
namespace rt {
namespace {

// Written by arm_allocation_fault only (with no allocation racing that matters, see there);
// read by the armed path. Relaxed throughout: each is published by the release store of
// allocation_fault_armed and read after its acquire load.
std::atomic<std::uint64_t> g_fail_at{0};
std::atomic<bool> g_keep_failing{false};
// Incremented by every counted allocation (the index it takes) and every failure.
std::atomic<std::uint64_t> g_allocations{0};
std::atomic<std::uint64_t> g_failures{0};

}  // namespace

constinit std::atomic<bool> allocation_fault_armed{false};

void arm_allocation_fault(AllocationFault fault) noexcept {
  // relaxed: published by the release store below.
  g_fail_at.store(fault.fail_at, std::memory_order_relaxed);
  g_keep_failing.store(fault.keep_failing, std::memory_order_relaxed);
  g_allocations.store(0, std::memory_order_relaxed);
  g_failures.store(0, std::memory_order_relaxed);
  // release: pairs with the acquire load in count_allocation_or_fail; a thread that sees the
  // fault armed sees its parameters and the zeroed counts.
  allocation_fault_armed.store(true, std::memory_order_release);
}

AllocationFaultReport disarm_allocation_fault() noexcept {
  // relaxed: an allocation on another thread that already passed the check may still count;
  // the test reads the report after the allocations it cares about (program order or a join).
  allocation_fault_armed.store(false, std::memory_order_relaxed);
  // relaxed: as above.
  return {g_allocations.load(std::memory_order_relaxed),
          g_failures.load(std::memory_order_relaxed)};
}

void count_allocation_or_fail() {
  if (count_allocation_and_refuse()) throw std::bad_alloc();
}

bool count_allocation_and_refuse() noexcept {
  // acquire: pairs with the release store in arm_allocation_fault (the parameters below).
  if (!allocation_fault_armed.load(std::memory_order_acquire)) return false;
  // relaxed: the read-modify-write alone gives each allocation its own index, so exactly one
  // allocation is the fail_at-th, whichever thread makes it.
  const std::uint64_t index = g_allocations.fetch_add(1, std::memory_order_relaxed) + 1;
  // relaxed: published by the acquire above.
  const std::uint64_t fail_at = g_fail_at.load(std::memory_order_relaxed);
  if (fail_at == 0 || index < fail_at) return false;
  // relaxed: as fail_at.
  if (index > fail_at && !g_keep_failing.load(std::memory_order_relaxed)) return false;
  // relaxed: a count, read after the failing call returned (program order or a join).
  g_failures.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace rt
}  // namespace forage::detail
