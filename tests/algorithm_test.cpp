// parallel_for, parallel_for_each, parallel_map, parallel_reduce and map_async on the three
// schedulers: results and their order for every chunking, each item exactly once, how many
// tasks a single queue gets, empty input, skewed work, errors, progress, nesting and result
// types. imap/imap_unordered are in map_stream_test.cpp, the Chunking rule in
// map_options_test.cpp.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iterator>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "future_test_support.hpp"
#include "range_test_support.hpp"
#include "test_support.hpp"

namespace forage {
namespace {

using test::CountingInput;
using test::GatedPool;
using test::iota_vector;
using test::message_of;
using test::mix;
using test::NamedChunking;

template <class System>
class AlgorithmTest : public test::WatchedTest {};

using test::Systems;
TYPED_TEST_SUITE(AlgorithmTest, Systems);

template <class System>
class SingleQueueAlgorithmTest : public test::WatchedTest {};

using test::SingleQueueSystems;
TYPED_TEST_SUITE(SingleQueueAlgorithmTest, SingleQueueSystems);

using AlgorithmFixture = test::WatchedTest;

// --- Helpers ---------------------------------------------------------------------------------

// `iterations` steps of a dependent LCG: work the optimizer cannot drop, proportional to the
// count.
std::uint64_t spin(std::uint64_t iterations) {
  std::uint64_t x = iterations;
  for (std::uint64_t k = 0; k < iterations; ++k)
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

MapOptions with(Chunking chunking) {
  MapOptions options;
  options.chunking = chunking;
  return options;
}

std::vector<NamedChunking> every_chunking() {
  return {{"adaptive", Chunking::adaptive()},
          {"fixed(1)", Chunking::fixed(1)},
          {"fixed(7)", Chunking::fixed(7)},
          {"python", Chunking::python()}};
}

// The sizes where off-by-one mistakes in splitting and chunking show, plus a large one.
std::vector<std::size_t> interesting_sizes(std::size_t workers) {
  return {0, 1, 2, 3, workers - 1, workers, workers + 1, test::scaled(1'000'000)};
}

using Counters = std::vector<std::atomic<std::uint32_t>>;

// The first index whose counter is not 1, or the size when each item ran exactly once.
// relaxed: read after the algorithm returned, which happens-after every item.
std::size_t first_not_once(const Counters& counters) {
  for (std::size_t i = 0; i < counters.size(); ++i) {
    if (counters[i].load(std::memory_order_relaxed) != 1) return i;
  }
  return counters.size();
}

template <class Vector, class Expected>
std::size_t first_mismatch(const Vector& values, Expected expected) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!(values[i] == expected(i))) return i;
  }
  return values.size();
}

// --- Results in order, each item once ------------------------------------------------------

template <class System>
void expect_every_size_in_order_and_once(Chunking chunking) {
  for (std::size_t workers : {1, 2, 3}) {
    auto pool = System::make(workers);
    for (std::size_t n : interesting_sizes(workers)) {
      SCOPED_TRACE(testing::Message() << workers << " workers, " << n << " items");
      const std::vector<std::uint64_t> input = iota_vector(n);
      Counters mapped(n);
      auto out = parallel_map(
          *pool, input,
          [&mapped](std::uint64_t x) {
            // relaxed: read after parallel_map returned.
            mapped[x].fetch_add(1, std::memory_order_relaxed);
            return mix(x);
          },
          with(chunking));
      static_assert(std::is_same_v<decltype(out), MapResults<std::uint64_t>>);
      ASSERT_EQ(out.size(), n);
      EXPECT_EQ(first_mismatch(out, [](std::size_t i) { return mix(i); }), n);
      EXPECT_EQ(first_not_once(mapped), n);

      Counters visited(n);
      parallel_for(
          *pool, std::size_t{0}, n,
          // relaxed: read after parallel_for returned.
          [&visited](std::size_t i) { visited[i].fetch_add(1, std::memory_order_relaxed); },
          with(chunking));
      EXPECT_EQ(first_not_once(visited), n);
    }
  }
}

TYPED_TEST(AlgorithmTest, AdaptiveChunkingMapsEveryItemOnceInOrderForEverySize) {
  expect_every_size_in_order_and_once<TypeParam>(Chunking::adaptive());
}

TYPED_TEST(AlgorithmTest, FixedChunksOfOneMapEveryItemOnceInOrderForEverySize) {
  expect_every_size_in_order_and_once<TypeParam>(Chunking::fixed(1));
}

TYPED_TEST(AlgorithmTest, FixedChunksOfSevenMapEveryItemOnceInOrderForEverySize) {
  expect_every_size_in_order_and_once<TypeParam>(Chunking::fixed(7));
}

TYPED_TEST(AlgorithmTest, PythonChunkingMapsEveryItemOnceInOrderForEverySize) {
  expect_every_size_in_order_and_once<TypeParam>(Chunking::python());
}

TYPED_TEST(AlgorithmTest, ParallelMapAcceptsForwardAndSinglePassInputs) {
  auto pool = TypeParam::make(2);
  const std::list<int> list = {5, 3, 8, 1, 9, 2};
  EXPECT_EQ(parallel_map(*pool, list, [](int x) { return x * 10; }),
            (std::vector<int>{50, 30, 80, 10, 90, 20}));

  const std::size_t n = 1000;
  CountingInput generated(n);
  const auto out = parallel_map(*pool, generated, [](std::size_t x) { return mix(x); });
  ASSERT_EQ(out.size(), n);
  EXPECT_EQ(first_mismatch(out, [](std::size_t i) { return mix(i); }), n);
}

TYPED_TEST(AlgorithmTest, ParallelForHandsOutEveryIndexOfASignedRangeOnce) {
  auto pool = TypeParam::make(3);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    Counters seen(1000);
    parallel_for(
        *pool, -500, 500,
        [&seen](int i) {
          // relaxed: read after parallel_for returned.
          seen[static_cast<std::size_t>(i + 500)].fetch_add(1, std::memory_order_relaxed);
        },
        with(c.chunking));
    EXPECT_EQ(first_not_once(seen), seen.size());
  }
}

// Counts calls into a counter per value of a narrow type T, throwing (which ends the
// algorithm) once there were more calls than the range has values, so a miscounted range
// fails the test instead of running for 2^64 items.
template <class T>
class NarrowRangeVisits {
 public:
  NarrowRangeVisits(T begin, T end)
      : begin_(begin),
        expected_(static_cast<std::size_t>(int{end} - int{begin})),
        seen_(expected_) {}

  void visit(T value) {
    // relaxed: read after the algorithm returned.
    if (calls_.fetch_add(1, std::memory_order_relaxed) >= expected_) {
      throw std::length_error("more items than the range holds");
    }
    const int offset = int{value} - int{begin_};
    if (offset < 0 || static_cast<std::size_t>(offset) >= expected_) {
      throw std::out_of_range("a value outside the range: " + std::to_string(int{value}));
    }
    seen_[static_cast<std::size_t>(offset)].fetch_add(1, std::memory_order_relaxed);
  }

  std::size_t expected() const { return expected_; }
  std::size_t first_not_once() const { return forage::first_not_once(seen_); }

 private:
  T begin_;
  std::size_t expected_;
  Counters seen_;
  std::atomic<std::size_t> calls_{0};
};

template <class T, class PoolType>
void expect_narrow_range_visited_once(PoolType& pool, T begin, T end, Chunking chunking) {
  SCOPED_TRACE(testing::Message() << "[" << int{begin} << ", " << int{end} << ")");
  NarrowRangeVisits<T> visits(begin, end);
  try {
    parallel_for(
        pool, begin, end, [&visits](T value) { visits.visit(value); }, with(chunking));
  } catch (const ItemError& e) {
    ADD_FAILURE() << e.what();
  }
  EXPECT_EQ(visits.first_not_once(), visits.expected());

  NarrowRangeVisits<T> mapped(begin, end);
  try {
    const std::size_t count = parallel_reduce(
        pool, begin, end, std::size_t{0},
        [&mapped](T value) {
          mapped.visit(value);
          return std::size_t{1};
        },
        std::plus<>{}, with(chunking));
    EXPECT_EQ(count, mapped.expected());
  } catch (const ItemError& e) {
    ADD_FAILURE() << e.what();
  }
  EXPECT_EQ(mapped.first_not_once(), mapped.expected());
}

// Narrow types: the count is end - begin, and begin + position leaves the type on the way.
TYPED_TEST(AlgorithmTest, ParallelForAndReduceOverNarrowSignedTypesVisitEachValueOnce) {
  auto pool = TypeParam::make(2);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    expect_narrow_range_visited_once(*pool, std::int8_t{-128}, std::int8_t{127}, c.chunking);
    expect_narrow_range_visited_once(*pool, std::int8_t{-3}, std::int8_t{3}, c.chunking);
    expect_narrow_range_visited_once(*pool, std::int16_t{-300}, std::int16_t{300}, c.chunking);
    expect_narrow_range_visited_once(*pool, std::uint8_t{0}, std::uint8_t{255}, c.chunking);
    // A miscounted range is close to 2^64 items, which other chunkings cannot even cut into
    // chunks: one failure says enough.
    if (this->HasFailure()) return;
  }
}

TYPED_TEST(AlgorithmTest, ParallelForOverAnEmptyOrBackwardRangeCallsNothing) {
  auto pool = TypeParam::make(2);
  std::atomic<int> calls{0};
  // relaxed: read after the calls returned.
  auto count = [&calls](int) { calls.fetch_add(1, std::memory_order_relaxed); };
  const std::uint64_t tasks = test::tasks_run_by(*pool, [&] {
    parallel_for(*pool, 7, 7, count);
    parallel_for(*pool, 10, 3, count);
    parallel_for(*pool, INT_MAX, INT_MIN, count);
  });
  EXPECT_EQ(calls.load(std::memory_order_relaxed), 0);
  EXPECT_EQ(tasks, 0u);
}

// The item for position p of parallel_for(INT_MIN, INT_MAX) is INT_MIN + p, which is only
// representable modulo 2^32 on the way: positions past INT_MAX must not overflow an int
// (UBSan aborts the process on that, hence the child process). The first half blocks until
// the second half (a thief's) ran its first item, so that item's position, 2^31, is certainly
// computed.
TEST(AlgorithmDeathTest, ParallelForOverTheWholeIntRangeComputesItemsPastPositionIntMax) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        alarm(60);  // a lost steal would hang the first half
        Pool pool({.workers = 2});
        std::atomic<bool> second_half_started{false};
        std::atomic<long long> first_of_second_half{-1};
        bool index_right = false;
        try {
          parallel_for(
              pool, INT_MIN, INT_MAX,
              [&](int value) {
                if (value == INT_MIN) {
                  // acquire: pairs with the release below (only the flag is read).
                  while (!second_half_started.load(std::memory_order_acquire)) {
                    std::this_thread::yield();
                  }
                } else {
                  // relaxed: read after parallel_for returned.
                  first_of_second_half.store(value, std::memory_order_relaxed);
                  second_half_started.store(true, std::memory_order_release);
                }
                throw std::runtime_error("enough");  // two items are all this test needs
              },
              with(Chunking::fixed(std::size_t{1} << 31)));
        } catch (const ItemError& e) {
          index_right = e.index() == 0 || e.index() == std::size_t{1} << 31;
        }
        std::exit(index_right && first_of_second_half.load(std::memory_order_relaxed) == 0 ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

// A range of nearly 2^64 items (a search that stops at the first hit, say) cut into fixed or
// Python-sized chunks: the chunk arithmetic must not overflow. Run in a child process: an
// overflow there has been seen to recurse until the stack ends.
TEST(AlgorithmDeathTest, HugeRangeWithSizedChunksStopsAtTheFirstFailure) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (Chunking chunking : {Chunking::fixed(7), Chunking::python()}) {
    SCOPED_TRACE(chunking.items());
    EXPECT_EXIT(
        {
          alarm(60);  // a sanitizer can hang on the stack overflow instead of dying
          Pool pool({.workers = 2});
          bool right = false;
          try {
            parallel_for(
                pool, std::size_t{0}, std::numeric_limits<std::size_t>::max(),
                [](std::size_t i) {
                  if (i == 0) throw std::runtime_error("found");
                },
                with(chunking));
          } catch (const ItemError& e) {
            right = e.index() == 0;
          }
          std::exit(right ? 0 : 1);
        },
        testing::ExitedWithCode(0), "");
  }
}

// --- Chunks on a single queue ----------------------------------------------------------------

std::size_t ceil_div(std::size_t a, std::size_t b) { return a / b + (a % b != 0 ? 1 : 0); }

TYPED_TEST(SingleQueueAlgorithmTest, PythonChunkingPostsOneTaskPerPythonChunk) {
  for (std::size_t workers : {1, 2, 3}) {
    auto pool = TypeParam::make(workers);
    for (std::size_t n : {1, 2, 3, 4, 5, 7, 12, 13, 100, 1000, 10'007}) {
      SCOPED_TRACE(testing::Message() << workers << " workers, " << n << " items");
      const std::vector<std::uint64_t> input = iota_vector(n);
      const std::size_t expected = ceil_div(n, Chunking::python_chunk_size(n, workers));
      for (Chunking chunking : {Chunking::python(), Chunking::adaptive()}) {
        // Adaptive is python on a pool without stealing (map_options.hpp).
        const std::uint64_t tasks = test::tasks_run_by(
            *pool, [&] { EXPECT_EQ(parallel_map(*pool, input, mix, with(chunking)).size(), n); });
        EXPECT_EQ(tasks, expected);
      }
    }
  }
}

TYPED_TEST(SingleQueueAlgorithmTest, FixedChunkingPostsOneTaskPerChunk) {
  auto pool = TypeParam::make(2);
  for (std::size_t n : {1, 2, 6, 7, 8, 100, 1000}) {
    for (std::size_t k : {1, 3, 7, 50, 1000, 5000}) {
      SCOPED_TRACE(testing::Message() << n << " items, fixed(" << k << ")");
      const std::uint64_t tasks = test::tasks_run_by(*pool, [&] {
        parallel_for(
            *pool, std::size_t{0}, n, [](std::size_t) {}, with(Chunking::fixed(k)));
      });
      EXPECT_EQ(tasks, ceil_div(n, k));
    }
  }
}

// --- Empty input -----------------------------------------------------------------------------

TYPED_TEST(AlgorithmTest, EmptyInputGivesEmptyResultsWithoutATaskAndReportsZeroOfZeroOnce) {
  auto pool = TypeParam::make(2);
  std::vector<std::pair<std::size_t, std::size_t>> reports;
  MapOptions options;
  options.on_progress = [&reports](std::size_t done, std::size_t total) {
    reports.emplace_back(done, total);
  };
  const std::vector<std::pair<std::size_t, std::size_t>> zero_of_zero = {{0, 0}};
  bool called = false;
  const std::vector<int> empty;
  std::list<int> empty_list;

  const std::uint64_t tasks = test::tasks_run_by(*pool, [&] {
    const auto out = parallel_map(
        *pool, empty,
        [&called](int x) {
          called = true;
          return x;
        },
        options);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(reports, zero_of_zero);

    reports.clear();
    parallel_for(
        *pool, 3, 3, [&called](int) { called = true; }, options);
    EXPECT_EQ(reports, zero_of_zero);

    reports.clear();
    parallel_for_each(
        *pool, empty_list, [&called](int&) { called = true; }, options);
    EXPECT_EQ(reports, zero_of_zero);

    reports.clear();
    const int sum = parallel_reduce(
        *pool, 0, 0, 17,
        [&called](int i) {
          called = true;
          return i;
        },
        std::plus<>{}, options);
    EXPECT_EQ(sum, 17);
    EXPECT_EQ(reports, zero_of_zero);
  });
  EXPECT_FALSE(called);
  EXPECT_EQ(tasks, 0u);
}

// --- Skewed work -----------------------------------------------------------------------------

TEST_F(AlgorithmFixture, SkewedWorkOnAPoolIsBalancedByStealing) {
  // Item i costs ~i: the last items carry most of the work, which a thief must take from the
  // worker that split the range.
  Pool pool({.workers = 2});
  const std::size_t n = 2000;
  const std::uint64_t per_step = 50;
  const std::vector<std::uint64_t> input = iota_vector(n);
  const std::uint64_t stolen_before = pool.stats().stolen();
  const auto out = parallel_map(pool, input, [](std::uint64_t i) { return spin(i * per_step); });
  pool.wait_idle();
  EXPECT_GT(pool.stats().stolen() - stolen_before, 0u);
  ASSERT_EQ(out.size(), n);
  EXPECT_EQ(first_mismatch(out, [](std::size_t i) { return spin(i * per_step); }), n);
}

TYPED_TEST(AlgorithmTest, SkewedWorkGivesCorrectResultsForEveryChunking) {
  auto pool = TypeParam::make(2);
  const std::size_t n = 600;
  const std::vector<std::uint64_t> input = iota_vector(n);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    const auto out = parallel_map(
        *pool, input, [](std::uint64_t i) { return spin(i * 40); }, with(c.chunking));
    EXPECT_EQ(first_mismatch(out, [](std::size_t i) { return spin(i * 40); }), n);
  }
}

// --- Errors ----------------------------------------------------------------------------------

TYPED_TEST(AlgorithmTest, FirstFailureStopsTheRemainingItemsAndArrivesAsItemError) {
  auto pool = TypeParam::make(2);
  const std::size_t n = 100'000;
  const std::vector<std::uint64_t> input = iota_vector(n);
  // The failing item is the first of its chunk and no chunking under test has chunks of one
  // item, so the rest of that chunk never runs: fewer than n items run, deterministically.
  for (Chunking chunking : {Chunking::adaptive(), Chunking::python(), Chunking::fixed(64)}) {
    std::atomic<std::size_t> ran{0};
    try {
      (void)parallel_map(
          *pool, input,
          [&ran](std::uint64_t i) {
            // relaxed: read after parallel_map returned.
            ran.fetch_add(1, std::memory_order_relaxed);
            if (i == 0) throw std::out_of_range("item zero is bad");
            return spin(100);
          },
          with(chunking));
      ADD_FAILURE() << "parallel_map did not throw";
    } catch (const ItemError& e) {
      EXPECT_EQ(e.index(), 0u);
      ASSERT_TRUE(e.original());
      EXPECT_EQ(message_of<std::out_of_range>([&] { e.rethrow_original(); }), "item zero is bad");
      const std::string what = e.what();
      EXPECT_NE(what.find("forage::parallel_map"), std::string::npos) << what;
      EXPECT_NE(what.find("item 0"), std::string::npos) << what;
      EXPECT_NE(what.find("item zero is bad"), std::string::npos) << what;
    }
    EXPECT_LT(ran.load(std::memory_order_relaxed), n);
    EXPECT_GE(ran.load(std::memory_order_relaxed), 1u);
  }
}

TYPED_TEST(AlgorithmTest, ItemErrorNamesTheFailingPosition) {
  auto pool = TypeParam::make(3);
  const std::vector<std::uint64_t> input = iota_vector(1000);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    try {
      (void)parallel_map(
          *pool, input,
          [](std::uint64_t i) {
            if (i == 617) throw std::invalid_argument("617");
            return i;
          },
          with(c.chunking));
      ADD_FAILURE() << "parallel_map did not throw";
    } catch (const ItemError& e) {
      EXPECT_EQ(e.index(), 617u);
      EXPECT_EQ(message_of<std::invalid_argument>([&] { e.rethrow_original(); }), "617");
    }

    // Several failures: the one reported is one of them, with its own exception.
    try {
      (void)parallel_map(
          *pool, input,
          [](std::uint64_t i) {
            if (i % 100 == 99) throw std::runtime_error(std::to_string(i));
            return i;
          },
          with(c.chunking));
      ADD_FAILURE() << "parallel_map did not throw";
    } catch (const ItemError& e) {
      EXPECT_EQ(e.index() % 100, 99u) << e.index();
      EXPECT_EQ(message_of<std::runtime_error>([&] { e.rethrow_original(); }),
                std::to_string(e.index()));
    }
  }
}

TYPED_TEST(AlgorithmTest, ParallelForItemErrorIndexCountsFromBegin) {
  auto pool = TypeParam::make(2);
  try {
    parallel_for(*pool, 100, 200, [](int i) {
      if (i == 150) throw std::runtime_error("150");
    });
    ADD_FAILURE() << "parallel_for did not throw";
  } catch (const ItemError& e) {
    EXPECT_EQ(e.index(), 50u);
  }
  try {
    parallel_for(*pool, -20, 20, [](int i) {
      if (i == -20) throw 42;  // not derived from std::exception
    });
    ADD_FAILURE() << "parallel_for did not throw";
  } catch (const ItemError& e) {
    EXPECT_EQ(e.index(), 0u);
    int thrown = 0;
    try {
      e.rethrow_original();
    } catch (int value) {
      thrown = value;
    }
    EXPECT_EQ(thrown, 42);
  }
}

TYPED_TEST(AlgorithmTest, ParallelForEachAndReduceReportItemErrors) {
  auto pool = TypeParam::make(2);
  const std::vector<int> values(300, 1);
  try {
    parallel_for_each(*pool, values, [&values](const int& v) {
      if (&v == &values[123]) throw std::logic_error("123");
    });
    ADD_FAILURE() << "parallel_for_each did not throw";
  } catch (const ItemError& e) {
    EXPECT_EQ(e.index(), 123u);
    EXPECT_EQ(message_of<std::logic_error>([&] { e.rethrow_original(); }), "123");
  }
  try {
    (void)parallel_reduce(
        *pool, -10, 1000, 0,
        [](int i) {
          if (i == 5) throw std::logic_error("five");
          return i;
        },
        std::plus<>{});
    ADD_FAILURE() << "parallel_reduce did not throw";
  } catch (const ItemError& e) {
    EXPECT_EQ(e.index(), 15u);  // 5 - (-10)
  }
}

// algorithm.hpp: exceptions other than an element function's, "from reduce's combining",
// arrive as they were thrown, not as ItemError.
TYPED_TEST(AlgorithmTest, ExceptionFromReduceArrivesAsThrown) {
  auto pool = TypeParam::make(2);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    for (int n : {1, 1000}) {
      SCOPED_TRACE(testing::Message() << n << " items");
      EXPECT_THROW(
          (void)parallel_reduce(
              *pool, 0, n, 0, [](int i) { return i; },
              [](int, int) -> int { throw std::length_error("reduce"); }, with(c.chunking)),
          std::length_error);
    }
  }
}

TYPED_TEST(AlgorithmTest, EmptyCallablesAreRejectedBeforeAnyWork) {
  auto pool = TypeParam::make(2);
  const std::vector<int> input = {1, 2, 3};
  int (*null_function)(int) = nullptr;
  std::function<int(int)> empty_function;
  std::function<void(int)> empty_action;
  const std::uint64_t tasks = test::tasks_run_by(*pool, [&] {
    const std::string message =
        message_of<InvalidArgument>([&] { (void)parallel_map(*pool, input, null_function); });
    EXPECT_NE(message.find("forage::parallel_map"), std::string::npos) << message;
    EXPECT_NE(message.find("pass something that can be called"), std::string::npos) << message;
    EXPECT_THROW((void)parallel_map(*pool, input, empty_function), InvalidArgument);
    EXPECT_THROW(parallel_for(*pool, 0, 3, empty_action), InvalidArgument);
    EXPECT_THROW(parallel_for_each(*pool, input, empty_action), InvalidArgument);
    EXPECT_THROW((void)parallel_reduce(*pool, 0, 3, 0, empty_function, std::plus<>{}),
                 InvalidArgument);
    std::function<int(int, int)> empty_reduce;
    EXPECT_THROW((void)parallel_reduce(
                     *pool, 0, 3, 0, [](int i) { return i; }, empty_reduce),
                 InvalidArgument);
    const std::string async_message =
        message_of<InvalidArgument>([&] { (void)map_async(*pool, input, empty_function); });
    EXPECT_NE(async_message.find("forage::map_async"), std::string::npos) << async_message;
  });
  EXPECT_EQ(tasks, 0u);
}

// --- parallel_reduce -------------------------------------------------------------------------

TYPED_TEST(AlgorithmTest, ParallelReduceSumsEveryChunking) {
  for (std::size_t workers : {1, 3}) {
    auto pool = TypeParam::make(workers);
    for (const NamedChunking& c : every_chunking()) {
      SCOPED_TRACE(testing::Message() << workers << " workers, " << c.name);
      const auto n = static_cast<std::int64_t>(test::scaled(1'000'000));
      const std::int64_t sum = parallel_reduce(
          *pool, std::int64_t{0}, n, std::int64_t{0}, [](std::int64_t i) { return i; },
          std::plus<>{}, with(c.chunking));
      EXPECT_EQ(sum, n * (n - 1) / 2);
      EXPECT_EQ(
          parallel_reduce(
              *pool, -1000, 1000, 0, [](int i) { return i; }, std::plus<>{}, with(c.chunking)),
          -1000);
      long long squares = 0;
      for (int i = -50; i < 50; ++i) squares += static_cast<long long>(i) * i;
      EXPECT_EQ(parallel_reduce(
                    *pool, -50, 50, 0LL, [](int i) { return static_cast<long long>(i) * i; },
                    std::plus<>{}, with(c.chunking)),
                squares);
    }
  }
}

TYPED_TEST(AlgorithmTest, ParallelReduceCombinesInIndexOrder) {
  // Concatenation is associative but not commutative: any reordering changes the string.
  const int n = 700;
  std::string expected;
  for (int i = 0; i < n; ++i) expected += std::to_string(i) + ",";
  for (std::size_t workers : {1, 2, 3}) {
    auto pool = TypeParam::make(workers);
    for (const NamedChunking& c : every_chunking()) {
      SCOPED_TRACE(testing::Message() << workers << " workers, " << c.name);
      const std::string joined = parallel_reduce(
          *pool, 0, n, std::string(), [](int i) { return std::to_string(i) + ","; },
          [](std::string left, const std::string& right) { return left += right; },
          with(c.chunking));
      EXPECT_EQ(joined, expected);
    }
  }
}

TYPED_TEST(AlgorithmTest, ParallelReduceOfAnEmptyOrBackwardRangeIsTheIdentity) {
  auto pool = TypeParam::make(2);
  bool called = false;
  auto map = [&called](int i) {
    called = true;
    return std::to_string(i);
  };
  auto concat = [&called](std::string a, const std::string& b) {
    called = true;
    return a += b;
  };
  const std::uint64_t tasks = test::tasks_run_by(*pool, [&] {
    EXPECT_EQ(parallel_reduce(*pool, 5, 5, std::string("identity"), map, concat), "identity");
    EXPECT_EQ(parallel_reduce(*pool, 10, -3, std::string("identity"), map, concat), "identity");
  });
  EXPECT_FALSE(called);
  EXPECT_EQ(tasks, 0u);
}

// --- parallel_for_each -----------------------------------------------------------------------

TYPED_TEST(AlgorithmTest, ParallelForEachModifiesElementsInPlace) {
  auto pool = TypeParam::make(3);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    std::vector<std::uint64_t> values = iota_vector(test::scaled(100'000));
    parallel_for_each(
        *pool, values, [](std::uint64_t& v) { v = mix(v); }, with(c.chunking));
    EXPECT_EQ(first_mismatch(values, [](std::size_t i) { return mix(i); }), values.size());

    std::list<int> list;
    for (int i = 0; i < 500; ++i) list.push_back(i);
    parallel_for_each(
        *pool, list, [](int& v) { v = v * 3 + 1; }, with(c.chunking));
    int i = 0;
    for (int v : list) EXPECT_EQ(v, 3 * i++ + 1);
  }
}

TYPED_TEST(AlgorithmTest, ParallelForEachVisitsEachItemOfASinglePassRangeOnce) {
  auto pool = TypeParam::make(2);
  const std::size_t n = 5000;
  Counters seen(n);
  CountingInput generated(n);
  // relaxed: read after parallel_for_each returned.
  parallel_for_each(*pool, generated,
                    [&seen](std::size_t v) { seen[v].fetch_add(1, std::memory_order_relaxed); });
  EXPECT_EQ(first_not_once(seen), n);
}

// --- Progress --------------------------------------------------------------------------------

// Records on_progress calls and catches two calls overlapping.
class ProgressLog {
 public:
  MapOptions options(Chunking chunking) {
    MapOptions result = with(chunking);
    result.on_progress = [this](std::size_t done, std::size_t total) {
      // relaxed: only this flag's own value matters (an overlap sees true).
      if (inside_.exchange(true, std::memory_order_relaxed)) {
        overlaps_.fetch_add(1, std::memory_order_relaxed);
      }
      (void)spin(200);  // widens the window in which an overlap would show
      {
        std::lock_guard lock(mutex_);
        calls_.emplace_back(done, total);
      }
      inside_.store(false, std::memory_order_relaxed);
    };
    return result;
  }

  // After the algorithm returned.
  void expect_monotone_to(std::size_t total) const {
    EXPECT_EQ(overlaps_.load(std::memory_order_relaxed), 0u);
    ASSERT_FALSE(calls_.empty());
    // At most one call per 1% step crossed (100) plus the final one, and the caller's
    // closing (total, total) if a worker's was skipped.
    EXPECT_LE(calls_.size(), 102u);
    std::size_t last = 0;
    for (std::size_t k = 0; k < calls_.size(); ++k) {
      EXPECT_EQ(calls_[k].second, total) << "call " << k;
      EXPECT_LE(calls_[k].first, total) << "call " << k;
      if (k > 0) {
        EXPECT_GT(calls_[k].first, last) << "call " << k;
      }
      last = calls_[k].first;
    }
    EXPECT_EQ(calls_.back(), std::make_pair(total, total));
  }

 private:
  std::atomic<bool> inside_{false};
  std::atomic<std::size_t> overlaps_{0};
  std::mutex mutex_;
  std::vector<std::pair<std::size_t, std::size_t>> calls_;
};

TYPED_TEST(AlgorithmTest, ProgressIsMonotoneNeverConcurrentAndEndsAtTotal) {
  for (std::size_t workers : {1, 2, 3}) {
    auto pool = TypeParam::make(workers);
    for (const NamedChunking& c : every_chunking()) {
      for (std::size_t n :
           {std::size_t{1}, std::size_t{99}, std::size_t{101}, test::scaled(100'000)}) {
        SCOPED_TRACE(testing::Message() << workers << " workers, " << c.name << ", " << n);
        ProgressLog map_log;
        const auto out = parallel_map(
            *pool, iota_vector(n), [](std::uint64_t x) { return mix(x); },
            map_log.options(c.chunking));
        EXPECT_EQ(first_mismatch(out, [](std::size_t i) { return mix(i); }), n);
        map_log.expect_monotone_to(n);

        ProgressLog for_log;
        parallel_for(
            *pool, std::size_t{0}, n, [](std::size_t) {}, for_log.options(c.chunking));
        for_log.expect_monotone_to(n);

        ProgressLog reduce_log;
        EXPECT_EQ(parallel_reduce(
                      *pool, std::size_t{0}, n, std::size_t{0}, [](std::size_t) { return 1; },
                      std::plus<>{}, reduce_log.options(c.chunking)),
                  n);
        reduce_log.expect_monotone_to(n);
      }
    }
  }
}

TYPED_TEST(AlgorithmTest, ExceptionFromOnProgressReachesTheCallerAsThrown) {
  auto pool = TypeParam::make(2);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    MapOptions first_call = with(c.chunking);
    first_call.on_progress = [](std::size_t, std::size_t) { throw std::domain_error("first"); };
    EXPECT_EQ(message_of<std::domain_error>(
                  [&] { (void)parallel_map(*pool, iota_vector(10'000), mix, first_call); }),
              "first");

    // Only the last report throws: (total, total), which may come from the calling thread.
    MapOptions last_call = with(c.chunking);
    last_call.on_progress = [](std::size_t done, std::size_t total) {
      if (done == total) throw std::domain_error("last");
    };
    for (std::size_t n : {1, 10'000}) {
      EXPECT_EQ(message_of<std::domain_error>([&] {
                  parallel_for(
                      *pool, std::size_t{0}, n, [](std::size_t) {}, last_call);
                }),
                "last");
    }
    MapOptions on_empty;
    on_empty.on_progress = [](std::size_t, std::size_t) { throw std::domain_error("empty"); };
    EXPECT_EQ(message_of<std::domain_error>([&] {
                parallel_for(
                    *pool, 0, 0, [](int) {}, on_empty);
              }),
              "empty");
  }
}

// --- Nesting ---------------------------------------------------------------------------------

TYPED_TEST(AlgorithmTest, ParallelMapNestsInsideParallelMapTasks) {
  for (std::size_t workers : {1, 2}) {
    auto pool = TypeParam::make(workers);
    for (const NamedChunking& c : every_chunking()) {
      SCOPED_TRACE(testing::Message() << workers << " workers, " << c.name);
      const std::vector<std::uint64_t> outer = iota_vector(24);
      const std::vector<std::uint64_t> inner = iota_vector(64);
      const auto sums = parallel_map(
          *pool, outer,
          [&](std::uint64_t i) {
            const auto row = parallel_map(
                *pool, inner, [i](std::uint64_t j) { return i * 1000 + j; }, with(c.chunking));
            return std::accumulate(row.begin(), row.end(), std::uint64_t{0});
          },
          with(c.chunking));
      ASSERT_EQ(sums.size(), outer.size());
      for (std::uint64_t i = 0; i < outer.size(); ++i) {
        EXPECT_EQ(sums[i], i * 1000 * 64 + 63 * 64 / 2) << i;
      }

      // Three levels, mixing the algorithms.
      Counters seen(8 * 8 * 8);
      parallel_for(
          *pool, 0, 8,
          [&](int a) {
            parallel_for_each(*pool, iota_vector(8), [&](std::uint64_t b) {
              const auto r = parallel_reduce(
                  *pool, 0, 8, 0,
                  [&](int k) {
                    const auto index =
                        static_cast<std::size_t>(a * 64) + b * 8 + static_cast<std::size_t>(k);
                    // relaxed: read after the outer parallel_for returned.
                    seen[index].fetch_add(1, std::memory_order_relaxed);
                    return 1;
                  },
                  std::plus<>{}, with(c.chunking));
              EXPECT_EQ(r, 8);
            });
          },
          with(c.chunking));
      EXPECT_EQ(first_not_once(seen), seen.size());
    }
  }
}

TYPED_TEST(AlgorithmTest, AnInnerFailureArrivesWrappedInTheOuterItemError) {
  auto pool = TypeParam::make(2);
  const std::vector<int> outer = {0, 1, 2, 3};
  const std::vector<int> inner = {0, 1, 2, 3, 4, 5, 6, 7};
  try {
    (void)parallel_map(*pool, outer, [&](int i) {
      return parallel_map(*pool, inner, [i](int j) {
        if (i == 2 && j == 5) throw std::runtime_error("2/5");
        return i + j;
      });
    });
    ADD_FAILURE() << "parallel_map did not throw";
  } catch (const ItemError& e) {
    EXPECT_EQ(e.index(), 2u);
    try {
      e.rethrow_original();
    } catch (const ItemError& inner_error) {
      EXPECT_EQ(inner_error.index(), 5u);
      EXPECT_EQ(message_of<std::runtime_error>([&] { inner_error.rethrow_original(); }), "2/5");
    }
  }
}

TYPED_TEST(AlgorithmTest, MapAsyncInsideATaskCanBeWaitedForThere) {
  for (std::size_t workers : {1, 2}) {
    SCOPED_TRACE(testing::Message() << workers << " workers");
    auto pool = TypeParam::make(workers);
    auto outer = pool->submit([&pool] {
      auto future = map_async(*pool, iota_vector(1000), [](std::uint64_t x) { return mix(x); });
      return future.get();  // helps run the map's tasks meanwhile
    });
    const auto out = outer.get();
    ASSERT_EQ(out.size(), 1000u);
    EXPECT_EQ(first_mismatch(out, [](std::size_t i) { return mix(i); }), out.size());
  }
}

// --- map_async -------------------------------------------------------------------------------

TYPED_TEST(AlgorithmTest, MapAsyncReturnsAFutureOfTheResults) {
  auto pool = TypeParam::make(2);
  const std::vector<std::uint64_t> input = iota_vector(10'000);
  auto future = map_async(*pool, input, [](std::uint64_t x) { return mix(x); });
  static_assert(std::is_same_v<decltype(future), Future<MapResults<std::uint64_t>>>);
  const auto out = future.get();
  ASSERT_EQ(out.size(), input.size());
  EXPECT_EQ(first_mismatch(out, [](std::size_t i) { return mix(i); }), out.size());

  auto empty = map_async(*pool, std::vector<int>{}, [](int x) { return x; });
  EXPECT_TRUE(empty.get().empty());
}

TYPED_TEST(AlgorithmTest, MapAsyncWorksOnItsOwnCopyOfTheInput) {
  GatedPool<TypeParam> pool(2);
  pool.block_workers();  // the map cannot start before the originals are gone
  auto input = std::make_unique<std::vector<std::uint64_t>>(iota_vector(5000));
  std::vector<std::string> words = {"a", "bb", "ccc"};
  auto from_lvalue = map_async(*pool, *input, [](std::uint64_t x) { return mix(x); });
  auto from_rvalue =
      map_async(*pool, std::move(words), [](const std::string& s) { return s.size(); });
  std::fill(input->begin(), input->end(), 99);
  input.reset();
  pool.open();
  const auto out = from_lvalue.get();
  ASSERT_EQ(out.size(), 5000u);
  EXPECT_EQ(first_mismatch(out, [](std::size_t i) { return mix(i); }), out.size());
  EXPECT_EQ(from_rvalue.get(), (std::vector<std::size_t>{1, 2, 3}));
}

TYPED_TEST(AlgorithmTest, MapAsyncDeliversAnItemErrorThroughGet) {
  auto pool = TypeParam::make(2);
  auto future = map_async(*pool, iota_vector(1000), [](std::uint64_t x) {
    if (x == 321) throw std::out_of_range("321");
    return x;
  });
  pool->wait_idle();  // the workers dropped their references to the exception (TSan)
  try {
    (void)future.get();
    ADD_FAILURE() << "get() did not throw";
  } catch (const ItemError& e) {
    EXPECT_EQ(e.index(), 321u);
    EXPECT_EQ(message_of<std::out_of_range>([&] { e.rethrow_original(); }), "321");
    const std::string what = e.what();
    EXPECT_NE(what.find("forage::map_async"), std::string::npos) << what;
  }
}

// --- Result types ----------------------------------------------------------------------------

class NoDefault {
 public:
  explicit NoDefault(std::uint64_t value) : value_(value) {}
  std::uint64_t value() const { return value_; }

 private:
  std::uint64_t value_;
};
static_assert(!std::is_default_constructible_v<NoDefault>);
bool operator==(const NoDefault& a, std::uint64_t b) { return a.value() == b; }

TYPED_TEST(AlgorithmTest, ResultsNeedNotBeDefaultConstructible) {
  auto pool = TypeParam::make(3);
  const std::vector<std::uint64_t> input = iota_vector(test::scaled(50'000));
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    const auto out = parallel_map(
        *pool, input, [](std::uint64_t x) { return NoDefault(mix(x)); }, with(c.chunking));
    static_assert(std::is_same_v<decltype(out), const MapResults<NoDefault>>);
    ASSERT_EQ(out.size(), input.size());
    EXPECT_EQ(first_mismatch(out, [](std::size_t i) { return mix(i); }), out.size());
  }
}

TYPED_TEST(AlgorithmTest, BoolResultsAreWrittenWithoutRacingOnPackedBits) {
  // Neighbouring bits of a vector<bool> share a word; with chunks of one item, neighbours are
  // computed on different workers (TSan reports it if they are written in place).
  auto pool = TypeParam::make(3);
  const std::vector<std::uint64_t> input = iota_vector(test::scaled(100'000));
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    const auto out = parallel_map(
        *pool, input, [](std::uint64_t x) { return mix(x) % 3 == 0; }, with(c.chunking));
    static_assert(std::is_same_v<decltype(out), const MapResults<bool>>);
    ASSERT_EQ(out.size(), input.size());
    EXPECT_EQ(first_mismatch(out, [](std::size_t i) { return mix(i) % 3 == 0; }), out.size());
  }
}

TYPED_TEST(AlgorithmTest, MoveOnlyResultsAreMovedIntoTheVector) {
  auto pool = TypeParam::make(2);
  const std::vector<std::uint64_t> input = iota_vector(2000);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    const auto out = parallel_map(
        *pool, input, [](std::uint64_t x) { return std::make_unique<std::uint64_t>(mix(x)); },
        with(c.chunking));
    static_assert(std::is_same_v<decltype(out), const MapResults<std::unique_ptr<std::uint64_t>>>);
    ASSERT_EQ(out.size(), input.size());
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i] == nullptr || *out[i] != mix(i)) ++wrong;
    }
    EXPECT_EQ(wrong, 0u);
  }
  // map_async moves them through the future too.
  auto future = map_async(*pool, std::vector<int>{1, 2, 3},
                          [](int x) { return std::make_unique<int>(x * 2); });
  const auto moved = future.get();
  ASSERT_EQ(moved.size(), 3u);
  EXPECT_EQ(*moved[0] + *moved[1] + *moved[2], 12);
}

}  // namespace
}  // namespace forage
