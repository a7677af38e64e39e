// A joinable thread with a chosen stack size. std::thread cannot set one, and a worker needs a
// deep stack: a task that waits runs other tasks on top of its own frame (help-while-wait), so
// a chain of tasks that wait for each other nests as deep as the chain is long.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <functional>

namespace forage::detail {

class WorkerThread {
 public:
  // Starts `body` on a new thread with `stack_bytes` of stack; throws std::system_error.
  WorkerThread(std::function<void()> body, std::size_t stack_bytes);
  WorkerThread(WorkerThread&& other) noexcept;
  WorkerThread& operator=(WorkerThread&&) = delete;
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;
  ~WorkerThread();  // joins if still joinable

  void join();
  void detach();

 private:
  pthread_t handle_{};
  bool joinable_ = false;
};

// Validates PoolOptions::stack_size and resolves 0 to the default; throws InvalidArgument.
std::size_t resolve_stack_size(std::size_t requested, const char* who);

}  // namespace forage::detail
