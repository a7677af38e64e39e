// The compiled half of detail/task.hpp: where a fire-and-forget task's exception goes, and the
// error for an empty callable.
#include "forage/detail/task.hpp"

#include <string>

#include "forage/errors.hpp"
#include "lifecycle/worker_context.hpp"

namespace forage::detail::rt {

void report_task_error(std::exception_ptr error) noexcept {
  const WorkerContext* context = current_worker_context();
  static const std::string kNoPool = "(not a worker)";
  if (context == nullptr) {
    deliver_error(nullptr, kNoPool, error);
  } else {
    deliver_error(context->on_error, *context->pool_name, error);
  }
}

[[noreturn]] void throw_empty_callable(const char* where) {
  throw InvalidArgument(std::string(where) +
                        ": the callable is empty (a null function pointer or an empty "
                        "std::function); pass something that can be called");
}

}  // namespace forage::detail::rt
