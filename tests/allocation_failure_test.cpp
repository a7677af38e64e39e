// Pool construction when an allocation fails, on any thread (the workers set themselves up on
// their own threads: naming, pinning). Every N-th allocation failing must give either a
// working pool or an exception from the constructor with every started worker joined, never
// a crash. A dedicated executable: it replaces global operator new (failing_allocator.hpp).
#include <dirent.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <string>

#include <gtest/gtest.h>

#include "failing_allocator.hpp"
#include "test_support.hpp"

namespace forage {
namespace {

using namespace std::chrono_literals;

// Threads of this process, from /proc/self/task (opendir allocates with malloc, not new).
std::size_t thread_count() {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return 0;
  std::size_t count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

template <class System>
class AllocationFailureTest : public ::testing::Test {};

using test::Systems;
TYPED_TEST_SUITE(AllocationFailureTest, Systems);

// Counts the allocations of a clean construction (all threads, up to the constructor's
// return), then fails each of them in turn, and a few more (a worker may still allocate
// after the constructor returned).
TYPED_TEST(AllocationFailureTest, EveryFailingAllocationGivesAPoolOrAConstructorException) {
  PoolOptions options;
  options.pinning = Pinning::cores;  // the workers pin themselves: the path that crashed
  const std::uint64_t before = test::allocation_count();
  { auto pool = TypeParam::make(2, options); }
  const std::uint64_t clean = test::allocation_count() - before;
  ASSERT_GT(clean, 0u);
  const std::size_t threads_before = thread_count();
  std::size_t built = 0;
  std::size_t refused = 0;
  for (long n = 0; n < static_cast<long>(clean) + 16; ++n) {
    SCOPED_TRACE(testing::Message() << "allocation " << n << " of " << clean << " fails");
    test::FailAnyThreadAllocation::reset_fired();
    std::unique_ptr<typename TypeParam::PoolType> pool;
    {
      test::FailAnyThreadAllocation fail(n);
      try {
        pool = TypeParam::make(2, options);
      } catch (const std::bad_alloc&) {
        ++refused;
      } catch (const Error& error) {
        ++refused;  // e.g. TopologyError: hwloc's discovery out of memory
        (void)error;
      }
    }
    if (pool) {
      ++built;
      EXPECT_EQ(pool->submit([] { return 42; }).get(), 42);
      pool->shutdown();
      pool.reset();
    } else {
      EXPECT_TRUE(test::FailAnyThreadAllocation::fired());
    }
    // Every worker the constructor started was joined.
    EXPECT_EQ(thread_count(), threads_before);
  }
  EXPECT_GT(refused, 0u);
  EXPECT_GT(built, 0u);
  std::printf("%s: %llu allocations in a clean construction; %zu refused, %zu built\n",
              ::testing::UnitTest::GetInstance()->current_test_info()->type_param(),
              static_cast<unsigned long long>(clean), refused, built);
}

}  // namespace
}  // namespace forage
