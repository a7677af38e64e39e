#include "lifecycle/scheduler.hpp"

#include <atomic>
#include <mutex>
#include <unordered_map>

namespace forage::detail {

namespace {

// Touched only when a pool starts or dies, and on the slow paths of the futures layer
// (a continuation fired off its pool's workers, an error report): a mutex is enough.
struct Registry {
  std::mutex mutex;
  std::unordered_map<SchedulerId, std::weak_ptr<Scheduler>> live;
};

Registry& registry() {
  static Registry* const instance = new Registry;  // never destroyed: pools may outlive main
  return *instance;
}

SchedulerId next_id() noexcept {
  static std::atomic<SchedulerId> counter{kNoScheduler};
  // relaxed: only uniqueness matters, which the read-modify-write gives.
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace

Scheduler::Scheduler() : id_(next_id()) {}

Scheduler::~Scheduler() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.live.erase(id_);
}

void register_scheduler(const std::shared_ptr<Scheduler>& self) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.live[self->id()] = self;
}

std::shared_ptr<Scheduler> find_scheduler(SchedulerId id) {
  if (id == kNoScheduler) return nullptr;
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  const auto found = r.live.find(id);
  return found == r.live.end() ? nullptr : found->second.lock();
}

}  // namespace forage::detail
