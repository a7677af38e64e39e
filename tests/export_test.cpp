// What crosses the boundary of libforage.so: in the checked preset (BUILD_SHARED_LIBS=ON) these
// run against the shared library, built with hidden visibility (include/forage/export.hpp), and
// would fail if FORAGE_API were missing where it is needed. Which symbols the library exports is
// checked by tests/abi/check_exported_symbols.py.
#include <atomic>
#include <latch>
#include <typeinfo>

#include <gtest/gtest.h>

#include "forage/forage.hpp"

namespace forage {
namespace {

// The library throws, the program catches by type: the exception classes' typeinfo must be one
// and the same on both sides, or the catch clause would not match.
TEST(Export, AnExceptionTheLibraryThrowsIsCaughtByItsType) {
  bool caught = false;
  try {
    (void)Chunking::fixed(0);  // compiled in lib/algorithm.cpp
  } catch (const InvalidArgument& error) {
    caught = true;
    EXPECT_EQ(typeid(error), typeid(InvalidArgument));
  }
  EXPECT_TRUE(caught);
  EXPECT_THROW((void)Topology::synthetic("not a topology"), InvalidArgument);
}

TEST(Export, ALibraryExceptionIsCaughtAsForageError) {
  Pool pool(PoolOptions{.workers = 1});
  pool.shutdown();
  EXPECT_THROW(pool.spawn([] {}), Error);  // PoolClosed, thrown from lib/lifecycle
}

// detail::tls_current_stop is an `inline thread_local` of a header: the header's inline code
// sets and reads it, and the library clears it while a waiting task helps run others
// (lib/wait_word.cpp). If each side had its own copy, the spawned task below, run by the
// waiting task, would read its waiter's stop request instead of its own (it has none).
TEST(Export, HeaderAndLibrarySeeTheSameCurrentTaskWhileAWaitingTaskHelps) {
  Pool pool(PoolOptions{.workers = 1});
  std::latch outer_started(1);
  std::atomic<bool> release{false};
  std::atomic<int> helped_saw_stop{-1};
  Future<bool> outer = pool.submit([&]() {
    outer_started.count_down();
    // acquire: pairs with the release below, which comes after request_stop().
    while (!release.load(std::memory_order_acquire)) {
    }
    const bool outer_saw_stop = this_task::stop_requested();
    Promise<void> done;
    Future<void> helped = done.get_future();
    pool.spawn([&] {
      // relaxed: read after outer.get(), which synchronizes with this task's end.
      helped_saw_stop.store(this_task::stop_requested() ? 1 : 0, std::memory_order_relaxed);
      done.set_value();
    });
    helped.get();  // one worker: the spawned task runs here, inside this wait
    return outer_saw_stop;
  });
  outer_started.wait();
  outer.request_stop();
  release.store(true, std::memory_order_release);  // publishes the stop request above
  EXPECT_TRUE(outer.get());
  EXPECT_EQ(helped_saw_stop.load(std::memory_order_relaxed), 0);
}

}  // namespace
}  // namespace forage
