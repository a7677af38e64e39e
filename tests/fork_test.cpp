// fork() with a live pool, over both pools: in the child, the inherited pool refuses every
// operation that needs its workers (they were not copied) with ForkedPool, its destructor
// returns without joining threads that do not exist, and a new pool works. Each case runs in
// a real forked child that reports through its exit code.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "test_support.hpp"

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer cannot start threads in the child of a process that had threads at the fork
// (it still counts the parent's threads, and glibc hands their ids to the child's new ones:
// "dup thread with used id"), so the cases where such a child starts a pool are skipped.
constexpr bool kChildOfThreadsMayStartThreads = false;
#else
constexpr bool kChildOfThreadsMayStartThreads = true;
#endif

namespace forage {
namespace {

using namespace std::chrono_literals;

// Runs `child` in a forked child (with a watchdog: a hang exits with kHung) and returns its
// exit code, or 100 + the signal that killed it.
constexpr int kHung = 90;
constexpr int kPassed = 0;

int in_child(const std::function<int()>& child) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == -1) return -1;
  if (pid == 0) {
    alarm(30);  // a hang dies of SIGALRM (100 + 14)
    int code = kHung;
    try {
      code = child();
    } catch (...) {
      code = 80;
    }
    std::fflush(nullptr);
    _exit(code);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  if (WIFSIGNALED(status)) return 100 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

// 0 when `call` throws ForkedPool naming the parent, else a code saying what happened.
int expect_forked_pool(const std::function<void()>& call, int base) {
  try {
    call();
    return base + 1;  // accepted
  } catch (const ForkedPool& error) {
    const std::string what = error.what();
    return what.find("fork()") != std::string::npos && what.find("parent") != std::string::npos
               ? kPassed
               : base + 2;
  } catch (...) {
    return base + 3;  // another error
  }
}

template <class System>
class ForkTest : public ::testing::Test {};

using test::Systems;
TYPED_TEST_SUITE(ForkTest, Systems);

TYPED_TEST(ForkTest, ANewPoolInTheChildRunsTasks) {
  if (!kChildOfThreadsMayStartThreads) GTEST_SKIP() << "ThreadSanitizer: see the top";
  auto parent_pool = TypeParam::make(2);
  EXPECT_EQ(parent_pool->submit([] { return 1; }).get(), 1);
  EXPECT_EQ(in_child([] {
              auto pool = TypeParam::make(2);
              std::atomic<int> sum{0};
              for (int i = 1; i <= 100; ++i) {
                // relaxed: read after wait_idle
                pool->spawn([&sum, i] { sum.fetch_add(i, std::memory_order_relaxed); });
              }
              pool->wait_idle();
              if (sum.load(std::memory_order_relaxed) != 5050) return 1;
              if (pool->submit([] { return 42; }).get() != 42) return 2;
              pool->shutdown();
              return kPassed;
            }),
            kPassed);
  // The parent's pool is untouched.
  EXPECT_EQ(parent_pool->submit([] { return 2; }).get(), 2);
}

TYPED_TEST(ForkTest, EveryCallOnTheInheritedPoolThrowsForkedPool) {
  auto pool = TypeParam::make(2);
  EXPECT_EQ(pool->submit([] { return 1; }).get(), 1);
  auto& inherited = *pool;
  EXPECT_EQ(
      in_child([&inherited] {
        if (int code = expect_forked_pool([&] { (void)inherited.submit([] { return 1; }); }, 10)) {
          return code;
        }
        if (int code = expect_forked_pool([&] { inherited.spawn([] {}); }, 20)) return code;
        if (int code = expect_forked_pool([&] { inherited.wait_idle(); }, 30)) return code;
        if (int code = expect_forked_pool([&] { inherited.shutdown(); }, 40)) return code;
        if (int code =
                expect_forked_pool([&] { inherited.shutdown(Shutdown::cancel_pending); }, 50)) {
          return code;
        }
        return kPassed;
      }),
      kPassed);
  EXPECT_EQ(pool->submit([] { return 2; }).get(), 2);
}

// The submitted task's future is not left pending: the task was cancelled when refused.
TYPED_TEST(ForkTest, ATaskRefusedByTheInheritedPoolIsCancelled) {
  auto pool = TypeParam::make(2);
  auto& inherited = *pool;
  EXPECT_EQ(in_child([&inherited] {
              bool ran = false;
              try {
                inherited.spawn([&ran] { ran = true; });
                return 1;
              } catch (const ForkedPool&) {
              }
              return ran ? 2 : kPassed;
            }),
            kPassed);
}

// Destroying the inherited pool returns (no join of the parent's threads, no crash), and a
// new pool works after it.
TYPED_TEST(ForkTest, DestroyingTheInheritedPoolReturnsAndANewPoolWorks) {
  auto pool = TypeParam::make(2);
  EXPECT_EQ(pool->submit([] { return 1; }).get(), 1);
  EXPECT_EQ(in_child([&pool] {
              pool.reset();
              if (!kChildOfThreadsMayStartThreads) return kPassed;  // see the top
              auto fresh = TypeParam::make(2);
              return fresh->submit([] { return 3; }).get() == 3 ? kPassed : 1;
            }),
            kPassed);
  EXPECT_EQ(pool->submit([] { return 2; }).get(), 2);
}

// The child of a child: a pool created in the first child is inherited by the second.
TYPED_TEST(ForkTest, APoolCreatedInAChildIsInheritedByItsOwnChild) {
  EXPECT_EQ(in_child([] {
              auto pool = TypeParam::make(2);
              if (pool->submit([] { return 1; }).get() != 1) return 1;
              auto& inherited = *pool;
              const int grandchild = in_child(
                  [&inherited] { return expect_forked_pool([&] { inherited.spawn([] {}); }, 10); });
              if (grandchild != kPassed) return 20 + grandchild;
              return pool->submit([] { return 2; }).get() == 2 ? kPassed : 2;
            }),
            kPassed);
}

// A fork while the pool is busy: the child still sees the typed error, the parent's work
// completes.
TYPED_TEST(ForkTest, AForkWhileTasksRunLeavesTheParentsPoolWorking) {
  auto pool = TypeParam::make(2);
  std::atomic<int> done{0};
  for (int i = 0; i < 1000; ++i) {
    // relaxed: read after wait_idle
    pool->spawn([&done] { done.fetch_add(1, std::memory_order_relaxed); });
  }
  auto& inherited = *pool;
  EXPECT_EQ(
      in_child([&inherited] { return expect_forked_pool([&] { inherited.spawn([] {}); }, 10); }),
      kPassed);
  pool->wait_idle();
  EXPECT_EQ(done.load(std::memory_order_relaxed), 1000);
}

}  // namespace
}  // namespace forage
