// Task: the intrusive node every scheduler queue holds.
//
// A task is one word: a function pointer that is called exactly once, either to run the task
// or to tell it that it was dropped (Shutdown::cancel_pending). Whoever embeds the node (a
// heap-allocated spawned callable, a future's shared state, a join frame on a stack) owns its
// memory and frees it from inside that one call, so dropping a task needs no second
// allocation and no second pointer.
#pragma once

#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <new>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "forage/detail/block_alloc.hpp"
#include "forage/detail/stop_node.hpp"
#include "forage/export.hpp"

namespace forage::detail {

enum class TaskAction : std::uint8_t {
  run,    // execute the work
  cancel  // the pool will never run it: release its resources, report it cancelled
};

struct Task {
  using Invoke = void (*)(Task* self, TaskAction action) noexcept;

  // Called exactly once. After it returns the node may be freed memory.
  Invoke invoke;
};

// rt: the functions that public headers declare and the compiled library defines (lib/); the
// only names a program's object code links against besides the public classes' members.
namespace FORAGE_API rt {

// Defined in lib/task.cpp.
//
// Routes an exception escaping a fire-and-forget task to the running pool's on_error handler
// (stderr outside a worker).
void report_task_error(std::exception_ptr error) noexcept;
// Throws InvalidArgument naming `where`.
[[noreturn]] void throw_empty_callable(const char* where);

}  // namespace rt

// A spawned callable and its node in one block of the block allocator.
template <class F>
struct HeapTask final : Task, BlockAllocated {
  explicit HeapTask(F&& fn) : Task{&HeapTask::invoke_impl}, fn_(std::move(fn)) {}
  explicit HeapTask(const F& fn) : Task{&HeapTask::invoke_impl}, fn_(fn) {}

  static void invoke_impl(Task* self, TaskAction action) noexcept {
    auto* task = static_cast<HeapTask*>(self);
    if (action == TaskAction::run) {
      try {
        std::invoke(task->fn_);
      } catch (...) {
        rt::report_task_error(std::current_exception());
      }
    }
    delete task;
  }

  F fn_;
};

// A spawned callable that takes a std::stop_token (as std::jthread's do): it gets its own
// stop node under the pool's, so Shutdown::stop fires its token. Only such callables pay for a
// node and a std::stop_source.
template <class F>
struct StoppableHeapTask final : Task, BlockAllocated {
  template <class G>
  StoppableHeapTask(const StopNode* parent, G&& fn)
      : Task{&StoppableHeapTask::invoke_impl}, stop_(parent), fn_(std::forward<G>(fn)) {}

  static void invoke_impl(Task* self, TaskAction action) noexcept {
    auto* task = static_cast<StoppableHeapTask*>(self);
    if (action == TaskAction::run) {
      const StopScope scope(&task->stop_);
      try {
        std::invoke(task->fn_, task->stop_.token());
      } catch (...) {
        rt::report_task_error(std::current_exception());
      }
    }
    delete task;
  }

  StopNode stop_;
  F fn_;
};

// Is this callable object empty (a null function pointer, an empty std::function)?
template <class F>
bool is_empty_callable(const F& fn) noexcept {
  if constexpr (std::is_function_v<F>) {
    return false;  // a function (passed by reference) always has an address
  } else if constexpr (std::is_pointer_v<F> || std::is_member_pointer_v<F>) {
    return fn == nullptr;
  } else if constexpr (std::is_constructible_v<bool, const F&> && !std::is_class_v<F>) {
    return !static_cast<bool>(fn);
  } else if constexpr (
      requires { static_cast<bool>(fn); } && requires { fn == nullptr; }) {
    return !static_cast<bool>(fn);  // std::function, std::move_only_function
  } else {
    return false;  // a lambda or function object is never empty
  }
}

// Throws InvalidArgument naming `where` for an empty callable (spawn, submit, then, on_done).
template <class F>
void require_callable(const F& fn, const char* where) {
  if (is_empty_callable(fn)) rt::throw_empty_callable(where);
}

// The node for a spawned callable; throws InvalidArgument (naming `where`) for an empty one.
template <class F>
Task* make_heap_task(const char* where, F&& fn) {
  require_callable(fn, where);
  return new HeapTask<std::decay_t<F>>(std::forward<F>(fn));
}

// Pool::spawn: as above, or, for a callable that takes a std::stop_token, a task whose token
// fires when `pool_root` (the pool's stop node) is requested.
template <class F>
Task* make_spawned_task(const char* where, const StopNode* pool_root, F&& fn) {
  if constexpr (std::invocable<std::decay_t<F>&, std::stop_token>) {
    require_callable(fn, where);
    return new StoppableHeapTask<std::decay_t<F>>(pool_root, std::forward<F>(fn));
  } else {
    return make_heap_task(where, std::forward<F>(fn));
  }
}

}  // namespace forage::detail
