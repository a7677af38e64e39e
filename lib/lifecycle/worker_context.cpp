#include "lifecycle/worker_context.hpp"

#include <pthread.h>

#include <cstdio>
#include <string>

#include "exception_text.hpp"
#include "forage/errors.hpp"

namespace forage::detail {

namespace {

thread_local WorkerContext* tls_worker_context = nullptr;

// Linux keeps 15 characters of a thread name. snprintf into a fixed buffer: no allocation.
void name_current_thread(const std::string& pool_name, std::size_t index) {
  char name[16];
  std::snprintf(name, sizeof name, "forage-%s-%zu", pool_name.c_str(), index);
  pthread_setname_np(pthread_self(), name);
}

// A description of `error` for the stderr line, or a fixed text when even that cannot be
// built (out of memory): deliver_error must not throw.
std::string describe_or_fixed(const std::exception_ptr& error) noexcept {
  try {
    return describe_exception(error);
  } catch (...) {
    return {};
  }
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
                   pool_name.c_str(), describe_or_fixed(std::current_exception()).c_str(),
                   describe_or_fixed(error).c_str());
      return;
    }
  }
  const std::string text = describe_or_fixed(error);
  std::fprintf(stderr, "forage: pool '%s': %s\n", pool_name.c_str(),
               text.empty() ? "an error (out of memory describing it)" : text.c_str());
}

WorkerThreadScope::WorkerThreadScope(const Setup& setup) noexcept
    : context_(setup.context), options_(setup.options) {
  context_.counters = setup.counters;
  tls_worker_context = &context_;
  try {
    name_and_pin(setup);
  } catch (...) {
    // Nothing to catch it on this thread: the pool's constructor throws it instead, once it
    // has joined every worker. (An allocation failing while pinning is not a pin failure:
    // building the report would need memory too.)
    setup.start_failure->record(std::current_exception());
    return;
  }
  started_ = true;
  if (options_->on_worker_start) {
    try {
      options_->on_worker_start(context_.index);
    } catch (...) {
      deliver_error(context_.on_error, options_->name, std::current_exception());
    }
  }
}

void WorkerThreadScope::name_and_pin(const Setup& setup) {
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
}

WorkerThreadScope::~WorkerThreadScope() {
  if (started_ && options_->on_worker_stop) {
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
