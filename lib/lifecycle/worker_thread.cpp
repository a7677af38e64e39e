#include "lifecycle/worker_thread.hpp"

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

}  // namespace

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
