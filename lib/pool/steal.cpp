// The steal policy of forage::Pool: which victims an idle worker tries, in what order, and
// when a worker that found work wakes another.
#include "pool/pool_core.hpp"

namespace forage::detail {

namespace {

// A thief that lost the race on a victim retries it this many times before moving on.
constexpr int kStealRetries = 4;

std::uint64_t next_random(std::uint64_t& state) noexcept {
  // xorshift64: victim choice needs spread, not quality.
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

}  // namespace

Task* PoolCore::steal_from_victims(WorkerSlot& me, bool& saw_contention) {
  const std::int64_t search_start = me.trace != nullptr ? me.trace->now() : 0;
  for (const std::vector<std::size_t>& tier : me.victim_tiers) {
    const std::size_t start = next_random(me.random_state) % tier.size();
    for (std::size_t k = 0; k < tier.size(); ++k) {
      WorkerSlot& victim = *slots_[tier[(start + k) % tier.size()]];
      // A victim's deque only through its thief side: steal, never push or pop.
      const DequeStealer<Task*> victim_deque = victim.stealer();
      for (int attempt = 0; attempt < kStealRetries; ++attempt) {
        // relaxed: statistics.
        WorkerCounters::bump(me.counters.steal_attempts, std::memory_order_relaxed);
        const Stolen<Task*> result = victim_deque.steal();
        if (result.status == StealStatus::success) {
          WorkerCounters::bump(me.counters.stolen, std::memory_order_relaxed);  // statistics
          if (me.trace != nullptr) [[unlikely]] {
            me.trace->record(TraceKind::steal, search_start, me.trace->now(),
                             static_cast<std::uint32_t>(victim.index));
          }
          return result.value;
        }
        if (result.status == StealStatus::empty) {
          // relaxed (both): a hint for the victim's running chunk; a lost or late hint costs
          // balance, never correctness. Read first so an idle search does not keep taking
          // the victim's cache line.
          if (!victim.thieves_waiting.load(std::memory_order_relaxed)) {
            victim.thieves_waiting.store(true, std::memory_order_relaxed);
          }
          break;
        }
        saw_contention = true;  // lost a race: retry this victim
      }
    }
  }
  return nullptr;
}

// The spinning-worker rule (lib/sleep/README.md): a worker that leaves the search with a task
// wakes one more only if visibly more work is waiting, so wakes neither cascade nor get lost.
// Our own deque counts: a share taken from the injection queue was just pushed onto it, and
// a worker that checked it a moment earlier may be parking.
void PoolCore::wake_another_if_more_work(WorkerSlot& me) noexcept {
  if (slots_.size() == 1) return;
  bool more = injection_.size_approx() != 0;
  for (std::size_t i = 0; !more && i < slots_.size(); ++i) {
    more = !slots_[i]->stealer().empty_approx();
  }
  if (more) notify_one_from(me);
}

}  // namespace forage::detail
