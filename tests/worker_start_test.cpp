// A worker thread that cannot start: the pool's constructor joins the workers it started and
// throws ResourceError, whose message names the limit that was hit and what to change, over
// both pools. The thread limit is hit for real, in a forked child, through RLIMIT_NPROC (as an
// unprivileged user: root ignores that limit).
#include <dirent.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace forage {
namespace {

template <class System>
class WorkerStartTest : public ::testing::Test {};

using test::Systems;
TYPED_TEST_SUITE(WorkerStartTest, Systems);

// The error a pool with this stack size throws, or nullopt-like empty message when none.
template <class System>
void expect_stack_size_refused(std::size_t stack_size) {
  SCOPED_TRACE(testing::Message() << "stack_size " << stack_size);
  PoolOptions options;
  options.stack_size = stack_size;
  options.name = "huge";
  try {
    auto pool = System::make(2, options);
    ADD_FAILURE() << "a pool with this stack size started";
  } catch (const ResourceError& error) {
    EXPECT_EQ(error.limit(), ResourceError::Limit::stack_size) << error.what();
    EXPECT_NE(error.code().value(), 0);
    const std::string what = error.what();
    EXPECT_NE(what.find("'huge'"), std::string::npos) << what;
    EXPECT_NE(what.find("stack_size"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(stack_size)), std::string::npos) << what;
  }
  // A normal pool still starts.
  auto pool = System::make(2);
  EXPECT_EQ(pool->submit([] { return 7; }).get(), 7);
}

TYPED_TEST(WorkerStartTest, AStackSizeOfSizeMaxThrowsResourceError) {
  expect_stack_size_refused<TypeParam>(std::numeric_limits<std::size_t>::max());
}

TYPED_TEST(WorkerStartTest, AStackOfOneTebibyteThrowsResourceError) {
  expect_stack_size_refused<TypeParam>(std::size_t{1} << 40);
}

// Exit codes of the child below.
enum ChildResult : int {
  kThrewThreadLimit = 0,
  kSetupFailed = 2,
  kNoError = 3,
  kWrongError = 4,
  kWrongLimit = 5,
  kThreadsLeft = 6,
  kNoThreadsLimitInMessage = 7,
};

// Worker threads of this process: threads named "forage-..." (the sanitizers' own threads
// are not counted).
std::size_t forage_thread_count() {
  std::size_t count = 0;
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return 0;
  while (const dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    const std::string path = std::string("/proc/self/task/") + entry->d_name + "/comm";
    if (FILE* comm = std::fopen(path.c_str(), "r")) {
      char name[32] = {};
      if (std::fgets(name, sizeof name, comm) != nullptr &&
          std::string(name).rfind("forage-", 0) == 0) {
        ++count;
      }
      std::fclose(comm);
    }
  }
  closedir(tasks);
  return count;
}

// In a forked child: become an unprivileged user if root (root ignores RLIMIT_NPROC), allow
// this user `processes` processes and threads, then build a pool of 4 workers.
template <class System>
int build_pool_with_process_limit(rlim_t processes) {
  if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) return kSetupFailed;
  const rlimit limit{processes, processes};
  if (setrlimit(RLIMIT_NPROC, &limit) != 0) return kSetupFailed;
  try {
    auto pool = System::make(4);
    return kNoError;
  } catch (const ResourceError& error) {
    if (error.limit() != ResourceError::Limit::threads) return kWrongLimit;
    if (error.code() != std::errc::resource_unavailable_try_again) return kWrongError;
    if (std::string(error.what()).find("RLIMIT_NPROC") == std::string::npos) {
      return kNoThreadsLimitInMessage;
    }
    return forage_thread_count() == 0 ? kThrewThreadLimit : kThreadsLeft;
  } catch (...) {
    return kWrongError;
  }
}

// A process out of threads: the first worker (limit 1: the process itself is the one
// allowed), or a later one (limit 3: two workers start, the third is refused and the two are
// joined).
TYPED_TEST(WorkerStartTest, AProcessOutOfThreadsThrowsResourceErrorAfterJoiningTheStartedWorkers) {
  for (rlim_t processes : {rlim_t{1}, rlim_t{3}}) {
    SCOPED_TRACE(testing::Message() << "RLIMIT_NPROC " << processes);
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_NE(child, -1);
    if (child == 0) _exit(build_pool_with_process_limit<TypeParam>(processes));
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status)) << "the child died (signal " << WTERMSIG(status) << ")";
    EXPECT_EQ(WEXITSTATUS(status), kThrewThreadLimit);
  }
}

}  // namespace
}  // namespace forage
