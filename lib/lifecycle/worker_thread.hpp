// A joinable thread with a chosen stack size. std::thread cannot set one, and a worker needs a
// deep stack: a task that waits runs other tasks on top of its own frame (help-while-wait), so
// a chain of tasks that wait for each other nests as deep as the chain is long.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <exception>
#include <functional>
#include <string>
#include <system_error>

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
  // In a fork() child: the thread does not exist there; neither join nor detach it (glibc
  // reuses its stack and id for the child's new threads, so the handle may name one of them).
  void forget() noexcept { joinable_ = false; }

 private:
  pthread_t handle_{};
  bool joinable_ = false;
};

// Validates PoolOptions::stack_size and resolves 0 to the default; throws InvalidArgument.
std::size_t resolve_stack_size(std::size_t requested, const char* who);

// The ResourceError for a worker thread that could not start (`code`: what WorkerThread's
// pthread call returned): which limit was hit and what to change. Worker `index` of
// `workers`, each with `stack_bytes` of stack. Never throws: if even the message cannot be
// built, the result holds that std::bad_alloc.
std::exception_ptr thread_start_error(std::error_code code, const char* pool_type,
                                      const std::string& pool_name, std::size_t index,
                                      std::size_t workers, std::size_t stack_bytes) noexcept;

}  // namespace forage::detail
