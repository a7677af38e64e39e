// The traits of forage's moodycamel queues (Pool's injection queue, SingleQueuePool's lock-free
// queue): moodycamel's defaults, except that its allocations (blocks of 32 slots, producers,
// the implicit-producer hash; never one per element) pass the allocation fault hook
// (include/forage/detail/alloc_fault.hpp), so a test can make them fail as malloc would: with
// a null pointer, which moodycamel reports as a refused enqueue or an invalid token.
#pragma once

#include <cstddef>
#include <cstdlib>

#include <concurrentqueue/concurrentqueue.h>

#include "forage/detail/alloc_fault.hpp"

namespace forage::detail::alloc {

struct QueueTraits : moodycamel::ConcurrentQueueDefaultTraits {
  static void* malloc(std::size_t size) {
    return allocation_fault_refuses() ? nullptr : std::malloc(size);
  }
  static void free(void* block) { std::free(block); }
};

}  // namespace forage::detail::alloc
