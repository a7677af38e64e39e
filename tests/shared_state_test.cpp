// The futures' shared state (forage/detail/shared_state.hpp): its packed status word, what
// decode() says of it, and the contract checks on its transitions and reference count.
#include "forage/detail/shared_state.hpp"

#include <gtest/gtest.h>

namespace forage {
namespace {

using detail::SharedState;
using detail::StateBase;
using detail::Status;

constexpr std::uint32_t word_of(Status status) { return static_cast<std::uint32_t>(status); }

TEST(SharedStateWord, DecodeNamesTheStatusAndTheFlags) {
  EXPECT_EQ(StateBase::decode(word_of(Status::pending)), "pending");
  EXPECT_EQ(StateBase::decode(word_of(Status::running) | StateBase::kHasSleepers),
            "running +sleepers");
  EXPECT_EQ(StateBase::decode(word_of(Status::pending) | StateBase::kHasSleepers |
                              StateBase::kHasContinuations),
            "pending +sleepers +continuations");
  EXPECT_EQ(StateBase::decode(word_of(Status::cancelled)), "cancelled");
}

TEST(SharedStateWord, DecodeShowsACorruptedWordForWhatItIs) {
  EXPECT_EQ(StateBase::decode(7 | 0x40), "invalid status 7 +unknown bits 64");
  EXPECT_FALSE(StateBase::valid_word(7));
  EXPECT_FALSE(StateBase::valid_word(word_of(Status::running) | 0x40));
  // A done word never carries a flag: completion clears them and refuses new ones.
  EXPECT_FALSE(StateBase::valid_word(word_of(Status::value) | StateBase::kHasSleepers));
  EXPECT_TRUE(StateBase::valid_word(word_of(Status::value)));
  EXPECT_TRUE(StateBase::valid_word(word_of(Status::pending) | StateBase::kHasContinuations));
}

// A state with one reference, owned by the test.
struct TestState final : SharedState<int> {
  TestState() noexcept : SharedState<int>(1, detail::kNoScheduler) {}
};

TEST(SharedStateWord, StatusFollowsStartAndFinish) {
  auto* state = new TestState;
  EXPECT_EQ(state->status(), Status::pending);
  EXPECT_TRUE(state->try_start());
  EXPECT_FALSE(state->try_cancel()) << "a started state cannot be cancelled";
  state->set_value(42);
  EXPECT_EQ(state->status(), Status::value);
  EXPECT_EQ(state->value(), 42);
  state->release();
}

#if FORAGE_ASSERTS
TEST(SharedStateDeathTest, FinishWithoutWinningStartFailsWithTheDecodedWord) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto* state = new TestState;
        state->set_value(1);  // nobody won try_start: the word is still pending
      },
      "contract violated: StateBase::finish by a thread that did not win try_start: the word "
      "was pending");
}
#endif

}  // namespace
}  // namespace forage
