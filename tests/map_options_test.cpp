// Chunking and MapOptions: Python's chunk-size rule, the sizes each chunking gives, and the
// options every algorithm rejects (with a message that says what to do instead).
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "future_test_support.hpp"
#include "test_support.hpp"

namespace forage {
namespace {

using test::message_of;

// --- Python's rule ---------------------------------------------------------------------------

struct PythonCase {
  std::size_t items;
  std::size_t workers;
  std::size_t expected;  // worked out by hand from divmod(items, 4 * workers)
};

TEST(Chunking, PythonChunkSizeFollowsPythonsRule) {
  const std::vector<PythonCase> cases = {
      {0, 1, 0},                   // empty input: no chunks
      {0, 8, 0},                   //
      {1, 1, 1},                   // divmod(1, 4) = (0, 1)
      {3, 1, 1},                   // (0, 3)
      {4, 1, 1},                   // (1, 0)
      {5, 1, 2},                   // (1, 1)
      {8, 1, 2},                   // (2, 0)
      {9, 1, 3},                   // (2, 1)
      {7, 2, 1},                   // divmod(7, 8) = (0, 7)
      {8, 2, 1},                   // (1, 0)
      {9, 2, 2},                   // (1, 1)
      {100, 2, 13},                // (12, 4)
      {10'000'000, 2, 1'250'000},  // (1250000, 0)
      {1000, 3, 84},               // divmod(1000, 12) = (83, 4)
      {64, 4, 4},                  // divmod(64, 16) = (4, 0)
      {65, 4, 5},                  // (4, 1)
      {7, 8, 1},                   // divmod(7, 32) = (0, 7)
      {32, 8, 1},                  // (1, 0)
      {33, 8, 2},                  // (1, 1)
      {1'000'003, 16, 15'626},     // divmod(1000003, 64) = (15625, 3)
      {std::numeric_limits<std::size_t>::max(), 1, std::size_t{1} << 62},  // (2^62 - 1, 3)
  };
  for (const PythonCase& c : cases) {
    EXPECT_EQ(Chunking::python_chunk_size(c.items, c.workers), c.expected)
        << "items " << c.items << ", workers " << c.workers;
  }
  // Usable at compile time.
  static_assert(Chunking::python_chunk_size(100, 2) == 13);
}

TEST(Chunking, PythonChunksCoverTheInputInAboutFourPerWorker) {
  for (std::size_t workers = 1; workers <= 16; ++workers) {
    for (std::size_t items = 1; items <= 500; ++items) {
      const std::size_t size = Chunking::python_chunk_size(items, workers);
      ASSERT_GE(size, 1u) << items << " items, " << workers << " workers";
      const std::size_t chunks = (items + size - 1) / size;
      EXPECT_LE(chunks, 4 * workers) << items << " items, " << workers << " workers";
      // One item less per chunk would need more than 4 * workers chunks.
      if (size > 1) {
        EXPECT_GT(items, (size - 1) * 4 * workers) << items << " items, " << workers << " workers";
      }
    }
  }
}

// --- The kinds -------------------------------------------------------------------------------

TEST(Chunking, KindsAndSizes) {
  EXPECT_EQ(Chunking::adaptive().kind(), Chunking::Kind::adaptive);
  EXPECT_EQ(Chunking::python().kind(), Chunking::Kind::python);
  EXPECT_EQ(Chunking::fixed(5).kind(), Chunking::Kind::fixed);
  EXPECT_EQ(Chunking::fixed(5).items(), 5u);
  EXPECT_EQ(Chunking::adaptive().items(), 0u);
  EXPECT_EQ(Chunking::python().items(), 0u);
  EXPECT_EQ(Chunking::fixed(std::numeric_limits<std::size_t>::max()).items(),
            std::numeric_limits<std::size_t>::max());

  EXPECT_EQ(Chunking::fixed(3), Chunking::fixed(3));
  EXPECT_NE(Chunking::fixed(3), Chunking::fixed(4));
  EXPECT_NE(Chunking::adaptive(), Chunking::python());
  EXPECT_NE(Chunking::fixed(1), Chunking::python());
}

TEST(Chunking, ChunkSizeIsTheFixedSizeOrPythonsNeverZeroForInput) {
  EXPECT_EQ(Chunking::fixed(5).chunk_size(100, 2), 5u);
  EXPECT_EQ(Chunking::fixed(5).chunk_size(3, 2), 5u);
  EXPECT_EQ(Chunking::python().chunk_size(100, 2), 13u);
  EXPECT_EQ(Chunking::python().chunk_size(10'000'000, 2), 1'250'000u);
  EXPECT_EQ(Chunking::python().chunk_size(1, 8), 1u);
  // Adaptive on a pool without stealing is the Python rule.
  EXPECT_EQ(Chunking::adaptive().chunk_size(100, 2), 13u);
  EXPECT_EQ(Chunking::adaptive().chunk_size(33, 8), 2u);
  for (std::size_t items = 1; items < 200; ++items) {
    for (std::size_t workers = 1; workers < 9; ++workers) {
      EXPECT_GE(Chunking::python().chunk_size(items, workers), 1u);
      EXPECT_GE(Chunking::adaptive().chunk_size(items, workers), 1u);
    }
  }
  static_assert(Chunking::python().chunk_size(7, 8) == 1);
}

TEST(Chunking, FixedZeroIsRejectedWithTheFix) {
  const std::string message = message_of<InvalidArgument>([] { (void)Chunking::fixed(0); });
  EXPECT_NE(message.find("Chunking::fixed(0)"), std::string::npos) << message;
  EXPECT_NE(message.find("fixed(1)"), std::string::npos) << message;
  EXPECT_NE(message.find("Chunking::adaptive()"), std::string::npos) << message;
}

TEST(MapOptions, DefaultsAreAdaptiveWithoutProgressOrWindow) {
  const MapOptions options;
  EXPECT_EQ(options.chunking, Chunking::adaptive());
  EXPECT_FALSE(options.on_progress);
  EXPECT_FALSE(options.max_in_flight.has_value());
}

// --- Validation by the algorithms ------------------------------------------------------------

template <class System>
class MapOptionsTest : public test::WatchedTest {};

using test::Systems;
TYPED_TEST_SUITE(MapOptionsTest, Systems);

template <class Call>
void expect_rejected_naming_the_fix(const char* algorithm, Call call) {
  const std::string message = message_of<InvalidArgument>(call);
  EXPECT_NE(message.find(algorithm), std::string::npos) << message;
  EXPECT_NE(message.find("max_in_flight is 0"), std::string::npos) << message;
  EXPECT_NE(message.find("give at least 1"), std::string::npos) << message;
}

TYPED_TEST(MapOptionsTest, ZeroMaxInFlightIsRejectedByEveryAlgorithmBeforeAnyWork) {
  auto pool = TypeParam::make(2);
  const std::vector<int> input = {1, 2, 3};
  MapOptions zero;
  zero.max_in_flight = 0;
  bool called = false;
  auto fn = [&called](int x) {
    called = true;
    return x;
  };
  const std::uint64_t tasks = test::tasks_run_by(*pool, [&] {
    expect_rejected_naming_the_fix("forage::parallel_map",
                                   [&] { (void)parallel_map(*pool, input, fn, zero); });
    expect_rejected_naming_the_fix("forage::parallel_for",
                                   [&] { parallel_for(*pool, 0, 3, fn, zero); });
    expect_rejected_naming_the_fix("forage::parallel_for_each",
                                   [&] { parallel_for_each(*pool, input, fn, zero); });
    expect_rejected_naming_the_fix("forage::parallel_reduce", [&] {
      (void)parallel_reduce(
          *pool, 0, 3, 0, fn, [](int a, int b) { return a + b; }, zero);
    });
    expect_rejected_naming_the_fix("forage::map_async",
                                   [&] { (void)map_async(*pool, input, fn, zero); });
    expect_rejected_naming_the_fix("forage::imap", [&] { (void)imap(*pool, input, fn, zero); });
    expect_rejected_naming_the_fix("forage::imap_unordered",
                                   [&] { (void)imap_unordered(*pool, input, fn, zero); });
  });
  EXPECT_FALSE(called);
  EXPECT_EQ(tasks, 0u);
}

TYPED_TEST(MapOptionsTest, OnProgressIsRejectedByTheStreams) {
  auto pool = TypeParam::make(2);
  const std::vector<int> input = {1, 2, 3};
  MapOptions with_progress;
  with_progress.on_progress = [](std::size_t, std::size_t) {};
  bool called = false;
  auto fn = [&called](int x) {
    called = true;
    return x;
  };
  const std::uint64_t tasks = test::tasks_run_by(*pool, [&] {
    for (const char* where : {"forage::imap", "forage::imap_unordered"}) {
      const std::string message = message_of<InvalidArgument>([&] {
        if (std::string(where) == "forage::imap") {
          (void)imap(*pool, input, fn, with_progress);
        } else {
          (void)imap_unordered(*pool, input, fn, with_progress);
        }
      });
      EXPECT_NE(message.find(where), std::string::npos) << message;
      EXPECT_NE(message.find("on_progress is not used here"), std::string::npos) << message;
      EXPECT_NE(message.find("count them there"), std::string::npos) << message;
    }
  });
  EXPECT_FALSE(called);
  EXPECT_EQ(tasks, 0u);
}

TYPED_TEST(MapOptionsTest, MaxInFlightIsIgnoredByTheAlgorithmsThatReturnEverything) {
  auto pool = TypeParam::make(2);
  MapOptions one;
  one.max_in_flight = 1;
  std::vector<int> input(1000);
  for (int i = 0; i < 1000; ++i) input[static_cast<std::size_t>(i)] = i;
  const auto out = parallel_map(
      *pool, input, [](int x) { return x + 1; }, one);
  ASSERT_EQ(out.size(), input.size());
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], input[i] + 1);
  EXPECT_EQ(map_async(
                *pool, input, [](int x) { return x; }, one)
                .get(),
            input);
  EXPECT_EQ(
      parallel_reduce(
          *pool, 0, 1000, 0, [](int x) { return x; }, [](int a, int b) { return a + b; }, one),
      999 * 1000 / 2);
}

TYPED_TEST(MapOptionsTest, StreamsAcceptAWindowOfOneAndAnyChunking) {
  auto pool = TypeParam::make(2);
  std::vector<int> input(100);
  for (int i = 0; i < 100; ++i) input[static_cast<std::size_t>(i)] = i;
  for (Chunking chunking : {Chunking::adaptive(), Chunking::python(), Chunking::fixed(1),
                            Chunking::fixed(3), Chunking::fixed(1000)}) {
    for (std::size_t window : {1, 2, 5, 64}) {
      SCOPED_TRACE(testing::Message() << "window " << window << ", chunk " << chunking.items());
      MapOptions options;
      options.chunking = chunking;
      options.max_in_flight = window;
      std::vector<int> out;
      // An rvalue input: the stream owns it.
      for (int r : imap(
               *pool, std::vector<int>(input), [](int x) { return x * 2; }, options)) {
        out.push_back(r);
      }
      ASSERT_EQ(out.size(), input.size());
      for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], input[i] * 2);
    }
  }
}

}  // namespace
}  // namespace forage
