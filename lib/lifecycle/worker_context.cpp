#include "lifecycle/worker_context.hpp"

#include <pthread.h>

#include <cstdio>
#include <string>

#include "exception_text.hpp"
#include "forage/errors.hpp"

namespace forage::detail {

namespace {

thread_local WorkerContext* tls_worker_context = nullptr;

// Linux keeps 15 characters of a thread name.
void name_current_thread(const std::string& pool_name, std::size_t index) {
  std::string name = "forage-" + pool_name + "-" + std::to_string(index);
  if (name.size() > 15) name.resize(15);
  pthread_setname_np(pthread_self(), name.c_str());
}

}  // namespace

WorkerContext* current_worker_context() noexcept { return tls_worker_context; }

void deliver_error(const std::function<void(std::exception_ptr)>* handler,
                   const std::string& pool_name, std::exception_ptr error) noexcept {
  if (handler != nullptr && *handler) {
    try {
      (*handler)(error);
      return;
    } catch (...) {
      std::fprintf(stderr, "forage: pool '%s': on_error threw (%s); the original error was: %s\n",
                   pool_name.c_str(), describe_exception(std::current_exception()).c_str(),
                   describe_exception(error).c_str());
      return;
    }
  }
  std::fprintf(stderr, "forage: pool '%s': %s\n", pool_name.c_str(),
               describe_exception(error).c_str());
}

WorkerThreadScope::WorkerThreadScope(const Setup& setup)
    : context_(setup.context), options_(setup.options) {
  tls_worker_context = &context_;
  name_current_thread(options_->name, context_.index);
  if (setup.pin_cpu >= 0) {
    std::string error = setup.topology->bind_current_thread(setup.pin_cpu);
    if (error.empty()) {
      setup.counters->pinned_cpu = setup.pin_cpu;
    } else {
      setup.counters->pin_error = error;
      // relaxed: only the exchange's atomicity matters (one report per pool).
      if (!setup.pin_error_reported->exchange(true, std::memory_order_relaxed)) {
        deliver_error(context_.on_error, options_->name,
                      std::make_exception_ptr(
                          Error("forage: pool '" + options_->name + "': worker " +
                                std::to_string(context_.index) + " could not be pinned (" + error +
                                "); it runs unpinned. Use Pinning::none to silence this, or check "
                                "the cpuset (taskset, cgroups)")));
      }
    }
  }
  if (options_->on_worker_start) {
    try {
      options_->on_worker_start(context_.index);
    } catch (...) {
      deliver_error(context_.on_error, options_->name, std::current_exception());
    }
  }
}

WorkerThreadScope::~WorkerThreadScope() {
  if (options_->on_worker_stop) {
    try {
      options_->on_worker_stop(context_.index);
    } catch (...) {
      deliver_error(context_.on_error, options_->name, std::current_exception());
    }
  }
  tls_worker_context = nullptr;
}

std::size_t resolve_worker_count(std::size_t requested, std::size_t maximum,
                                 const Topology& topology, const char* who) {
  if (requested > maximum) {
    throw InvalidArgument(std::string(who) + ": " + std::to_string(requested) +
                          " workers requested, the maximum is " + std::to_string(maximum) +
                          "; ask for at most " + std::to_string(maximum) +
                          " (0 means one per allowed core)");
  }
  if (requested != 0) return requested;
  return topology.core_count() > 0 ? topology.core_count() : 1;
}

}  // namespace forage::detail
