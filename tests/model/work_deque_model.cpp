// Relacy model check of the shipped deque (lib/deque/work_deque.hpp): the same templates,
// DequeOwner and DequeStealer, instantiated with RelacyAtomics instead of std::atomic. (The
// owner-only check is off for this policy: Relacy's threads are fibers of one OS thread.)
//
// Scenarios (one owner, two thieves):
//   - GrowthWhileStealing: initial capacity 1, the owner pushes four values with a pop after
//     every second push, then pops until empty; the ring grows 1 -> 2 at the second push and
//     2 -> 4 at the fourth unless thieves have emptied a slot, all while thieves steal.
//   - TwoItemsPopRacesSteals: the classic race for the fences: two values, the owner pops both
//     while each thief steals once.
// Invariants, checked in every explored execution: every value taken is one that was pushed
// (a stale slot read would show as 0), no value is taken twice, and nothing is lost (after
// the owner's final pop reports empty, every pushed value has been taken by someone).
//
// Mutants: the same scenarios with one fence removed must FAIL, which shows the check is able
// to fail and that each fence is needed.
#include <array>
#include <cstddef>

#include <gtest/gtest.h>

#include "deque/work_deque.hpp"
#include "model/model_runner.hpp"
#include "model/relacy_atomics.hpp"

namespace forage::model {
namespace {

using detail::DequeOwner;
using detail::DequeStealer;
using detail::StealStatus;

constexpr unsigned kOwner = 0;
constexpr unsigned kThreads = 3;  // the owner and two thieves

// Shared by the scenarios: who took which value, and the invariants over it.
template <int kItems>
class TakenLedger {
 public:
  // Called by the thread that took `value`. Each thread writes its own row only.
  void record(unsigned thread, int value) {
    RL_ASSERT(value >= 1 && value <= kItems);  // 0 would be a slot read before its push
    ++taken_[thread][static_cast<std::size_t>(value)];
  }

  // Called from after(): every value taken exactly once.
  void check_each_value_taken_once() const {
    for (int value = 1; value <= kItems; ++value) {
      int times = 0;
      for (const auto& row : taken_) times += row[static_cast<std::size_t>(value)];
      RL_ASSERT(times == 1);
    }
  }

 private:
  std::array<std::array<int, kItems + 1>, kThreads> taken_{};
};

// The owner's script: push 1..kItems, popping once after every kPopEvery-th push, then pop
// until the deque reports empty. Each thief tries kStealAttempts steals.
template <class Atoms, int kCapacity, int kItems, int kPopEvery, int kStealAttempts>
struct OwnerAndTwoThieves
    : rl::test_suite<OwnerAndTwoThieves<Atoms, kCapacity, kItems, kPopEvery, kStealAttempts>,
                     kThreads> {
  DequeOwner<int, Atoms> deque{kCapacity};
  const DequeStealer<int, Atoms> thief = deque.stealer();  // what threads other than kOwner use
  TakenLedger<kItems> ledger;

  void thread(unsigned index) {
    if (index == kOwner) {
      for (int value = 1; value <= kItems; ++value) {
        deque.push(value);
        if (value % kPopEvery == 0) {
          if (const auto popped = deque.pop()) ledger.record(index, *popped);
        }
      }
      // The owner pushes no more, so one empty pop means every value has been claimed.
      while (const auto popped = deque.pop()) ledger.record(index, *popped);
    } else {
      for (int attempt = 0; attempt < kStealAttempts; ++attempt) {
        const auto stolen = thief.steal();
        if (stolen.status == StealStatus::success) ledger.record(index, stolen.value);
      }
    }
  }

  void after() { ledger.check_each_value_taken_once(); }
};

// Initial capacity 1: the ring grows 1 -> 2 (-> 4) while thieves may be reading it.
template <class Atoms>
using GrowthWhileStealing = OwnerAndTwoThieves<Atoms, 1, 4, 2, 2>;
// Capacity 2, no growth: push 1, push 2, then pop twice; each thief steals once.
template <class Atoms>
using TwoItemsPopRacesSteals = OwnerAndTwoThieves<Atoms, 2, 2, 3, 1>;

using Shipped = RelacyAtomics<>;
using NoPopFence = RelacyAtomics<FenceSite::deque_pop_seq_cst>;
using NoStealFence = RelacyAtomics<FenceSite::deque_steal_seq_cst>;
using NoPushFence = RelacyAtomics<FenceSite::deque_push_release>;

// Budgets, measured on a 2-core machine: 10^6 random iterations take 2-5 s per scenario. The
// context-bound searches are exhaustive (Relacy ignores iteration_count for that scheduler):
// TwoItemsPopRacesSteals with 3 preemptions is 3.4 * 10^6 executions (~8 s), and
// GrowthWhileStealing with 1 preemption 6.1 * 10^6 executions (~30 s); one more preemption
// would multiply either by ~15. Mutants fall within ~10^4 iterations of either scheduler.
constexpr rl::iteration_t kRandomIterations = 1'000'000;
constexpr rl::iteration_t kMutantIterations = 1'000'000;

// A mutant must fail an invariant: a value taken twice, lost, or read before its push.
template <class Test>
void expect_caught(const rl::test_params& params) {
  expect_mutant_caught<Test>(params, rl::test_result_user_assert_failed);
}

TEST(WorkDequeModel, GrowthWhileStealingTakesEachValueOnceRandomScheduler) {
  expect_passes<GrowthWhileStealing<Shipped>>(random_scheduler(kRandomIterations));
}

TEST(WorkDequeModel, GrowthWhileStealingTakesEachValueOnceAllSchedulesWithOnePreemption) {
  expect_passes<GrowthWhileStealing<Shipped>>(context_bound_scheduler(1));
}

TEST(WorkDequeModel, TwoItemsPopRacesStealsTakesEachValueOnceRandomScheduler) {
  expect_passes<TwoItemsPopRacesSteals<Shipped>>(random_scheduler(kRandomIterations));
}

TEST(WorkDequeModel, TwoItemsPopRacesStealsTakesEachValueOnceAllSchedulesWithThreePreemptions) {
  expect_passes<TwoItemsPopRacesSteals<Shipped>>(context_bound_scheduler(3));
}

// Without the fence in pop, the owner can read a stale top: a thief has taken value 1 and the
// owner, still seeing top == 0, takes value 2 without a CAS while the second thief, reading
// bottom == 2, also takes value 2 with its CAS on top 1 -> 2.
TEST(WorkDequeModel, MutantWithoutPopFenceIsCaughtByRandomScheduler) {
  expect_caught<TwoItemsPopRacesSteals<NoPopFence>>(random_scheduler(kMutantIterations));
}

TEST(WorkDequeModel, MutantWithoutPopFenceIsCaughtByContextBoundScheduler) {
  expect_caught<TwoItemsPopRacesSteals<NoPopFence>>(context_bound_scheduler(1));
}

// Without the fence in steal, a thief can read a fresh top and a stale bottom, and the
// owner's fence alone does not stop it: the same double take of value 2.
TEST(WorkDequeModel, MutantWithoutStealFenceIsCaughtByRandomScheduler) {
  expect_caught<TwoItemsPopRacesSteals<NoStealFence>>(random_scheduler(kMutantIterations));
}

TEST(WorkDequeModel, MutantWithoutStealFenceIsCaughtByContextBoundScheduler) {
  expect_caught<TwoItemsPopRacesSteals<NoStealFence>>(context_bound_scheduler(1));
}

// Without the release fence in push, a thief that reads the new bottom may read the slot
// before the value written to it: 0, the slot's initial value.
TEST(WorkDequeModel, MutantWithoutPushFenceIsCaughtByRandomScheduler) {
  expect_caught<TwoItemsPopRacesSteals<NoPushFence>>(random_scheduler(kMutantIterations));
}

// The growth scenario catches the same mutants: the check does not hinge on one script.
TEST(WorkDequeModel, MutantsAreCaughtInTheGrowthScenarioToo) {
  expect_caught<GrowthWhileStealing<NoPopFence>>(random_scheduler(kMutantIterations));
  expect_caught<GrowthWhileStealing<NoStealFence>>(random_scheduler(kMutantIterations));
  expect_caught<GrowthWhileStealing<NoPushFence>>(random_scheduler(kMutantIterations));
}

}  // namespace
}  // namespace forage::model
