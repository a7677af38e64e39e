// The steal policy of forage::Pool: which victims an idle worker tries, and in what order.
// A search round tries a few random victims, nearest tier first; only the last searcher to
// give up sweeps every victim (lib/sleep/README.md, "Bounded searching").
#include <algorithm>

#include "pool/pool_core.hpp"

namespace forage::detail {

namespace {

// A thief that lost the race on a victim retries it this many times before moving on.
constexpr int kStealRetries = 4;
// Victims a search round tries. A round costs O(1) whatever the worker count; the sweep
// before parking is what guarantees nothing is missed.
constexpr std::size_t kVictimsPerRound = 4;

std::uint64_t next_random(std::uint64_t& state) noexcept {
  // xorshift64: victim choice needs spread, not quality.
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

}  // namespace

Task* PoolCore::search_round(WorkerSlot& me, bool& pushed_share) {
  if (Task* task = take_from_injection_queue(me, pushed_share)) return task;
  return steal_from_some_victims(me);
}

Task* PoolCore::sweep(WorkerSlot& me, bool& pushed_share, bool& saw_contention) {
  if (Task* task = take_from_injection_queue(me, pushed_share)) return task;
  if (Task* stolen = steal_from_all_victims(me, saw_contention)) return stolen;
  // moodycamel's try_dequeue may miss an item an enqueue is still publishing; size_approx
  // sees it once the enqueue's tail store is visible.
  if (injection_.size_approx() != 0) saw_contention = true;
  return nullptr;
}

// kVictimsPerRound victims, nearest tier first: every tier gets one while the budget lasts
// and the nearest gets the rest, so a round prefers a neighbour but still reaches across
// packages. A tier no larger than its share is tried whole, from a random start; otherwise
// each victim is drawn at random.
Task* PoolCore::steal_from_some_victims(WorkerSlot& me) {
  const std::int64_t search_start = me.trace != nullptr ? me.trace->now() : 0;
  bool saw_contention = false;  // a round does not need it: the sweep decides about parking
  std::size_t budget = kVictimsPerRound;
  const std::size_t tiers = me.victim_tiers.size();
  for (std::size_t t = 0; t < tiers && budget > 0; ++t) {
    const std::vector<std::size_t>& tier = me.victim_tiers[t];
    const std::size_t later_tiers = tiers - t - 1;
    const std::size_t share = std::min(
        tier.size(), std::max<std::size_t>(1, budget > later_tiers ? budget - later_tiers : 1));
    budget -= std::min(budget, share);
    if (share == tier.size()) {
      const std::size_t start = next_random(me.random_state) % tier.size();
      for (std::size_t k = 0; k < tier.size(); ++k) {
        if (Task* task =
                try_steal(me, tier[(start + k) % tier.size()], saw_contention, search_start)) {
          return task;
        }
      }
    } else {
      for (std::size_t k = 0; k < share; ++k) {
        const std::size_t victim = tier[next_random(me.random_state) % tier.size()];
        if (Task* task = try_steal(me, victim, saw_contention, search_start)) return task;
      }
    }
  }
  return nullptr;
}

Task* PoolCore::steal_from_all_victims(WorkerSlot& me, bool& saw_contention) {
  const std::int64_t search_start = me.trace != nullptr ? me.trace->now() : 0;
  // relaxed (all three): our own statistics counters; this worker is their only writer.
  const std::uint64_t attempts_before = me.counters.steal_attempts.load(std::memory_order_relaxed);
  Task* found = nullptr;
  for (std::size_t t = 0; t < me.victim_tiers.size() && found == nullptr; ++t) {
    const std::vector<std::size_t>& tier = me.victim_tiers[t];
    const std::size_t start = next_random(me.random_state) % tier.size();
    for (std::size_t k = 0; k < tier.size() && found == nullptr; ++k) {
      found = try_steal(me, tier[(start + k) % tier.size()], saw_contention, search_start);
    }
  }
  const std::uint64_t attempts = me.counters.steal_attempts.load(std::memory_order_relaxed);
  me.counters.sweep_steal_attempts.store(
      me.counters.sweep_steal_attempts.load(std::memory_order_relaxed) + attempts - attempts_before,
      std::memory_order_relaxed);
  return found;
}

Task* PoolCore::try_steal(WorkerSlot& me, std::size_t victim_index, bool& saw_contention,
                          std::int64_t search_start) {
  WorkerSlot& victim = *slots_[victim_index];
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
      // balance, never correctness. Read first so an idle search does not keep taking the
      // victim's cache line.
      if (!victim.thieves_waiting.load(std::memory_order_relaxed)) {
        victim.thieves_waiting.store(true, std::memory_order_relaxed);
      }
      return nullptr;
    }
    saw_contention = true;  // lost a race: retry this victim
  }
  return nullptr;
}

}  // namespace forage::detail
