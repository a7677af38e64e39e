#include "lifecycle/scheduler.hpp"

#include <pthread.h>

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

// fork(): the registry's mutex is held across the fork (prepare), so that the child does not
// inherit it locked by a thread that does not exist there; the child then moves to a new
// generation, which marks every scheduler it inherited (scheduler.hpp). oneTBB and libgomp
// do the same kind of thing: the child's copy of the runtime is not used, a new one starts.
void before_fork() noexcept { registry().mutex.lock(); }
void after_fork_in_parent() noexcept { registry().mutex.unlock(); }
void after_fork_in_child() noexcept {
  // relaxed: see fork_generation.
  fork_generation.fetch_add(1, std::memory_order_relaxed);
  registry().mutex.unlock();  // locked by this very thread in before_fork
}

// Once per process (a child inherits the registration).
void register_fork_handlers() {
  static const bool registered = [] {
    registry();  // exists before any fork, so before_fork never allocates it
    return pthread_atfork(&before_fork, &after_fork_in_parent, &after_fork_in_child) == 0;
  }();
  (void)registered;  // if registration failed (ENOMEM), fork() children are not protected
}

SchedulerId next_id() noexcept {
  static std::atomic<SchedulerId> counter{kNoScheduler};
  // relaxed: only uniqueness matters, which the read-modify-write gives.
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace

std::atomic<std::uint64_t> fork_generation{0};

Scheduler::Scheduler()
    : id_(next_id()),
      // relaxed: see fork_generation.
      generation_(fork_generation.load(std::memory_order_relaxed)) {
  register_fork_handlers();
}

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
