// libFuzzer target: the Chase–Lev deque (lib/deque/work_deque.hpp) driven by a byte string,
// against a sequential model (a std::deque whose back is the owner's end and whose front is the
// thieves'). One thread plays the owner and every thief in the order the bytes decide, so a
// run is deterministic and a crashing input replays exactly; the concurrent interleavings are
// the stress and model tests' business (tests/stress/work_deque_stress_test.cpp,
// tests/model/work_deque_model.cpp).
//
// Input: byte 0 picks the initial capacity (1 to 64, so short inputs already grow the ring),
// then one byte per operation: the low 3 bits pick it, the high 5 bits are its argument.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <vector>

#include "deque/work_deque.hpp"
#include "fuzz_target.hpp"

namespace {

using forage::detail::DequeOwner;
using forage::detail::DequeStealer;
using forage::detail::StealStatus;

[[noreturn]] void fail(const char* what, std::size_t step) {
  std::fprintf(stderr, "work_deque_fuzz: %s (operation %zu)\n", what, step);
  std::abort();
}

void check(bool ok, const char* what, std::size_t step) {
  if (!ok) fail(what, step);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t initial_capacity = 1 + data[0] % 64;
  DequeOwner<std::uint64_t> owner(initial_capacity);
  // Several stealer handles: each is only a pointer to the deque, and any of them must do.
  std::vector<DequeStealer<std::uint64_t>> thieves{owner.stealer(), owner.stealer(),
                                                   owner.stealer()};
  std::deque<std::uint64_t> model;
  std::uint64_t next_value = 1;  // distinct values, so a duplicate or a lost value shows

  for (std::size_t step = 1; step < size; ++step) {
    const unsigned op = data[step] & 7u;
    const unsigned arg = data[step] >> 3;  // 0 to 31
    switch (op) {
      case 0:  // push one
      case 1: {
        owner.push(next_value);
        model.push_back(next_value++);
        break;
      }
      case 2: {  // push a burst (grows the ring past any initial capacity)
        for (unsigned i = 0; i <= arg; ++i) {
          owner.push(next_value);
          model.push_back(next_value++);
        }
        break;
      }
      case 3: {  // pop
        const auto popped = owner.pop();
        if (model.empty()) {
          check(!popped.has_value(), "pop of an empty deque returned a value", step);
        } else {
          check(popped.has_value(), "pop of a non-empty deque returned nothing", step);
          check(*popped == model.back(), "pop did not return the newest value", step);
          model.pop_back();
        }
        break;
      }
      case 4:  // steal, through the thief the argument names
      case 5: {
        const auto stolen = thieves[arg % thieves.size()].steal();
        // Nobody races a steal on one thread: it is success or empty, never lost_race.
        if (model.empty()) {
          check(stolen.status == StealStatus::empty, "steal of an empty deque was not empty", step);
        } else {
          check(stolen.status == StealStatus::success, "steal of a non-empty deque failed", step);
          check(stolen.value == model.front(), "steal did not return the oldest value", step);
          model.pop_front();
        }
        break;
      }
      case 6: {  // reserve room, then push that many: none of those pushes may grow the ring
        const std::size_t more = arg;
        owner.reserve(more);
        const std::size_t capacity = owner.capacity();
        check(capacity >= model.size() + more, "reserve left too little room", step);
        for (std::size_t i = 0; i < more; ++i) {
          owner.push(next_value);
          model.push_back(next_value++);
        }
        check(owner.capacity() == capacity, "a push after reserve grew the ring", step);
        break;
      }
      default: {  // drain: alternate pops and steals down to empty
        bool from_bottom = (arg & 1u) != 0;
        while (!model.empty()) {
          if (from_bottom) {
            const auto popped = owner.pop();
            check(popped.has_value() && *popped == model.back(), "drain: wrong pop", step);
            model.pop_back();
          } else {
            const auto stolen = thieves[0].steal();
            check(stolen.status == StealStatus::success && stolen.value == model.front(),
                  "drain: wrong steal", step);
            model.pop_front();
          }
          from_bottom = !from_bottom;
        }
        check(!owner.pop().has_value(), "drain: pop after the last value", step);
        check(thieves[1].steal().status == StealStatus::empty, "drain: steal after the last", step);
        break;
      }
    }
    // Exact when nothing runs concurrently.
    check(owner.size_approx() == model.size(), "size_approx differs from the model", step);
    check(thieves[0].empty_approx() == model.empty(), "empty_approx differs from the model", step);
    check(owner.capacity() >= model.size(), "the ring holds fewer slots than values", step);
  }
  return 0;
}
