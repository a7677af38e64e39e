// Replaces global operator new in the test binary that includes this header (include it in
// exactly one source file) so that a test can make the N-th next allocation of the calling
// thread throw std::bad_alloc. Disarmed by default; only the arming thread is affected.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace forage::test {

// -1: disarmed; 0: the next allocation fails; n > 0: n allocations succeed first.
inline thread_local long allocations_before_failure = -1;

class FailAllocation {
 public:
  explicit FailAllocation(long succeed_first) { allocations_before_failure = succeed_first; }
  ~FailAllocation() { allocations_before_failure = -1; }
  FailAllocation(const FailAllocation&) = delete;
  FailAllocation& operator=(const FailAllocation&) = delete;
};

}  // namespace forage::test

// noinline: inlined into call sites, g++ would pair the malloc/free inside with the
// new/delete outside and warn (-Wmismatched-new-delete) about a pairing that is correct.
[[gnu::noinline]] void* operator new(std::size_t size) {
  long& budget = forage::test::allocations_before_failure;
  if (budget == 0) {
    budget = -1;  // one failure per arming
    throw std::bad_alloc();
  }
  if (budget > 0) --budget;
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* memory) noexcept { std::free(memory); }
[[gnu::noinline]] void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }
