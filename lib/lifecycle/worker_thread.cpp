#include "lifecycle/worker_thread.hpp"

#include <sys/resource.h>
#include <sys/sysinfo.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <memory>
#include <string>
#include <system_error>

#include "forage/errors.hpp"
#include "forage/options.hpp"

namespace forage::detail {

namespace {

void* thread_entry(void* raw) {
  std::unique_ptr<std::function<void()>> body(static_cast<std::function<void()>*>(raw));
  (*body)();
  return nullptr;
}

// The most a single stack could be given: the machine's memory and swap (beyond that the
// kernel's overcommit heuristic refuses the mapping), or less under an address-space limit.
std::size_t reservable_bytes() noexcept {
  std::size_t most = SIZE_MAX;
  struct sysinfo info {};
  if (sysinfo(&info) == 0) {
    most = (static_cast<std::size_t>(info.totalram) + info.totalswap) * info.mem_unit;
  }
  rlimit address_space{};
  if (getrlimit(RLIMIT_AS, &address_space) == 0 && address_space.rlim_cur != RLIM_INFINITY) {
    most = std::min<std::size_t>(most, address_space.rlim_cur);
  }
  return most;
}

ResourceError::Limit limit_hit(int error, std::size_t stack_bytes) noexcept {
  // EINVAL: the attributes (the stack size) are invalid. EAGAIN (glibc also reports a stack
  // mapping that failed this way) or ENOMEM with a stack beyond what can be reserved: the
  // stack size. Otherwise EAGAIN is the thread limit, ENOMEM memory.
  if (error == EINVAL) return ResourceError::Limit::stack_size;
  if ((error == EAGAIN || error == ENOMEM) && stack_bytes > reservable_bytes()) {
    return ResourceError::Limit::stack_size;
  }
  return error == ENOMEM ? ResourceError::Limit::memory : ResourceError::Limit::threads;
}

}  // namespace

std::exception_ptr thread_start_error(std::error_code code, const char* pool_type,
                                      const std::string& pool_name, std::size_t index,
                                      std::size_t workers, std::size_t stack_bytes) noexcept {
  try {
    const ResourceError::Limit limit = limit_hit(code.value(), stack_bytes);
    const std::string stack = std::to_string(stack_bytes) + " bytes";
    std::string what = std::string(pool_type) + " '" + pool_name + "': cannot start worker " +
                       std::to_string(index) + " of " + std::to_string(workers) +
                       " (pthread_create: " + code.message() + "): ";
    switch (limit) {
      case ResourceError::Limit::stack_size:
        what += "a stack of " + stack +
                " (PoolOptions::stack_size) cannot be reserved on this machine; pass a smaller "
                "stack_size (0 for the default of " +
                std::to_string(PoolOptions::kDefaultStackSize >> 20) + " MiB)";
        break;
      case ResourceError::Limit::threads:
        what +=
            "the process is out of threads: the limits are RLIMIT_NPROC (ulimit -u, per "
            "user), /proc/sys/kernel/threads-max and a pids cgroup (pids.max), and each "
            "worker also maps a stack of " +
            stack + "; use fewer workers, raise the limit, or pass a smaller stack_size";
        break;
      case ResourceError::Limit::memory:
        what += "out of memory for the thread and its stack of " + stack +
                "; use fewer workers or a smaller stack_size, or free memory";
        break;
    }
    return std::make_exception_ptr(ResourceError(what, limit, code));
  } catch (...) {
    return std::current_exception();
  }
}

WorkerThread::WorkerThread(std::function<void()> body, std::size_t stack_bytes) {
  auto owned = std::make_unique<std::function<void()>>(std::move(body));
  pthread_attr_t attributes;
  if (const int error = pthread_attr_init(&attributes); error != 0) {
    throw std::system_error(error, std::generic_category(), "pthread_attr_init");
  }
  int error = pthread_attr_setstacksize(&attributes, stack_bytes);
  if (error == 0) error = pthread_create(&handle_, &attributes, &thread_entry, owned.get());
  pthread_attr_destroy(&attributes);
  if (error != 0) {
    throw std::system_error(error, std::generic_category(), "starting a forage worker thread");
  }
  owned.release();  // the thread owns it now
  joinable_ = true;
}

WorkerThread::WorkerThread(WorkerThread&& other) noexcept
    : handle_(other.handle_), joinable_(other.joinable_) {
  other.joinable_ = false;
}

WorkerThread::~WorkerThread() {
  if (joinable_) join();
}

void WorkerThread::join() {
  pthread_join(handle_, nullptr);
  joinable_ = false;
}

void WorkerThread::detach() {
  pthread_detach(handle_);
  joinable_ = false;
}

std::size_t resolve_stack_size(std::size_t requested, const char* who) {
  if (requested == 0) return PoolOptions::kDefaultStackSize;
  if (requested < PoolOptions::kMinStackSize) {
    throw InvalidArgument(std::string(who) + ": stack_size " + std::to_string(requested) +
                          " bytes is below the minimum of " +
                          std::to_string(PoolOptions::kMinStackSize) +
                          "; pass 0 for the default (" +
                          std::to_string(PoolOptions::kDefaultStackSize >> 20) + " MiB)");
  }
  return requested;
}

}  // namespace forage::detail
