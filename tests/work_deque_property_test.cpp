// The deque against a model: random sequences of push / pop / steal on one thread behave
// exactly like a std::deque whose back is the owner's end and whose front is the thieves'.
// Small initial capacities make the sequences grow the ring, and steals make the live range
// wrap around it. On one thread nobody races a steal, so it is always success or empty.
#include <cstddef>
#include <deque>
#include <ostream>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include "deque/work_deque.hpp"

namespace forage::detail {
namespace {

struct Model {
  std::deque<int> values;  // front: oldest (stolen next); back: newest (popped next)
};
using Deque = DequeOwner<int>;  // steal goes through deque.stealer()
using Command = rc::state::Command<Model, Deque>;

// Checked after every command: the estimates are exact when nothing runs concurrently.
void check_sizes(const Model& model, const Deque& deque) {
  RC_ASSERT(deque.size_approx() == model.values.size());
  RC_ASSERT(deque.empty_approx() == model.values.empty());
  RC_ASSERT(deque.capacity() >= model.values.size());
}

struct Push : Command {
  int value = *rc::gen::arbitrary<int>();

  void apply(Model& model) const override { model.values.push_back(value); }
  void run(const Model& model, Deque& deque) const override {
    deque.push(value);
    Model after = model;
    apply(after);
    check_sizes(after, deque);
  }
  void show(std::ostream& os) const override { os << "push(" << value << ")"; }
};

struct Pop : Command {
  void apply(Model& model) const override {
    if (!model.values.empty()) model.values.pop_back();
  }
  void run(const Model& model, Deque& deque) const override {
    const auto popped = deque.pop();
    if (model.values.empty()) {
      RC_ASSERT(!popped.has_value());
    } else {
      RC_ASSERT(popped.has_value());
      RC_ASSERT(*popped == model.values.back());
    }
    Model after = model;
    apply(after);
    check_sizes(after, deque);
  }
  void show(std::ostream& os) const override { os << "pop()"; }
};

struct Steal : Command {
  void apply(Model& model) const override {
    if (!model.values.empty()) model.values.pop_front();
  }
  void run(const Model& model, Deque& deque) const override {
    const Stolen<int> stolen = deque.stealer().steal();
    if (model.values.empty()) {
      RC_ASSERT(stolen.status == StealStatus::empty);
    } else {
      RC_ASSERT(stolen.status == StealStatus::success);
      RC_ASSERT(stolen.value == model.values.front());
    }
    Model after = model;
    apply(after);
    check_sizes(after, deque);
  }
  void show(std::ostream& os) const override { os << "steal()"; }
};

RC_GTEST_PROP(WorkDequeProperty, SingleThreadedPushPopStealBehaveLikeADeque, ()) {
  const auto initial_capacity = *rc::gen::inRange<std::size_t>(1, 5);
  Model model;
  Deque deque(initial_capacity);
  rc::state::check(model, deque, rc::state::gen::execOneOfWithArgs<Push, Pop, Steal>());
}

// Pushes weighted up, so the deque gets deep and grows several times.
RC_GTEST_PROP(WorkDequeProperty, DeepSequencesGrowAndStillBehaveLikeADeque, ()) {
  Model model;
  Deque deque(1);
  rc::state::check(model, deque, rc::state::gen::execOneOfWithArgs<Push, Push, Push, Pop, Steal>());
}

}  // namespace
}  // namespace forage::detail
