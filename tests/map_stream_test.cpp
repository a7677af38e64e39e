// imap and imap_unordered on the three schedulers: order, each index once, unsized and
// endless inputs read lazily on the consuming thread, the max_in_flight bound, leaving the
// loop early, failures, and use from inside a task.
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <ranges>
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
using test::iota_vector;
using test::message_of;
using test::mix;
using test::NamedChunking;

template <class System>
class MapStreamTest : public test::WatchedTest {};

using test::Systems;
TYPED_TEST_SUITE(MapStreamTest, Systems);

template <class System>
class SingleQueueMapStreamTest : public test::WatchedTest {};

using test::SingleQueueSystems;
TYPED_TEST_SUITE(SingleQueueMapStreamTest, SingleQueueSystems);

// --- Helpers ---------------------------------------------------------------------------------

MapOptions options_of(Chunking chunking, std::optional<std::size_t> max_in_flight = std::nullopt) {
  MapOptions options;
  options.chunking = chunking;
  options.max_in_flight = max_in_flight;
  return options;
}

std::vector<NamedChunking> every_chunking() {
  return {{"adaptive", Chunking::adaptive()},
          {"fixed(1)", Chunking::fixed(1)},
          {"fixed(3)", Chunking::fixed(3)},
          {"fixed(7)", Chunking::fixed(7)},
          {"python", Chunking::python()}};
}

// --- Order and completeness ------------------------------------------------------------------

TYPED_TEST(MapStreamTest, ImapYieldsEveryResultInInputOrder) {
  for (std::size_t workers : {1, 2, 3}) {
    auto pool = TypeParam::make(workers);
    for (const NamedChunking& c : every_chunking()) {
      for (std::optional<std::size_t> window :
           {std::optional<std::size_t>(), std::optional<std::size_t>(1),
            std::optional<std::size_t>(8)}) {
        // A window of one is a hand-off per item between consumer and worker: fewer items.
        const std::size_t large = test::scaled(window == 1u ? 2'000 : 10'000);
        for (std::size_t n :
             {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{3}, workers + 1, large}) {
          SCOPED_TRACE(testing::Message() << workers << " workers, " << c.name << ", window "
                                          << window.value_or(0) << ", " << n << " items");
          const std::vector<std::uint64_t> input = iota_vector(n);
          std::vector<std::uint64_t> out;
          auto stream = imap(
              *pool, input, [](std::uint64_t x) { return mix(x); }, options_of(c.chunking, window));
          static_assert(
              std::is_same_v<std::ranges::range_value_t<decltype(stream)>, std::uint64_t>);
          for (std::uint64_t r : stream) out.push_back(r);
          ASSERT_EQ(out.size(), n);
          for (std::size_t i = 0; i < n; ++i) {
            if (out[i] != mix(i)) {
              ADD_FAILURE() << "result " << i << " is out of place";
              break;
            }
          }
        }
      }
    }
  }
}

TYPED_TEST(MapStreamTest, ImapUnorderedYieldsEachIndexOnceWithItsResult) {
  for (std::size_t workers : {1, 2, 3}) {
    auto pool = TypeParam::make(workers);
    for (const NamedChunking& c : every_chunking()) {
      for (std::optional<std::size_t> window :
           {std::optional<std::size_t>(), std::optional<std::size_t>(1),
            std::optional<std::size_t>(8)}) {
        const std::size_t large = test::scaled(window == 1u ? 2'000 : 10'000);
        for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{3}, workers + 1, large}) {
          SCOPED_TRACE(testing::Message() << workers << " workers, " << c.name << ", window "
                                          << window.value_or(0) << ", " << n << " items");
          const std::vector<std::uint64_t> input = iota_vector(n);
          std::vector<std::uint32_t> seen(n, 0);
          std::size_t wrong = 0;
          auto stream = imap_unordered(
              *pool, input, [](std::uint64_t x) { return mix(x); }, options_of(c.chunking, window));
          static_assert(std::is_same_v<std::ranges::range_value_t<decltype(stream)>,
                                       std::pair<std::size_t, std::uint64_t>>);
          for (const auto& [index, result] : stream) {
            ASSERT_LT(index, n);
            ++seen[index];
            if (result != mix(index)) ++wrong;
          }
          EXPECT_EQ(wrong, 0u);
          EXPECT_EQ(std::count(seen.begin(), seen.end(), 1u), static_cast<std::ptrdiff_t>(n));
        }
      }
    }
  }
}

TYPED_TEST(MapStreamTest, UnsizedSinglePassInputsWork) {
  auto pool = TypeParam::make(2);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    const std::size_t n = 3000;
    CountingInput input(n);
    std::size_t expected = 0;
    for (std::uint64_t r : imap(
             *pool, input, [](std::size_t x) { return mix(x); }, options_of(c.chunking))) {
      ASSERT_EQ(r, mix(expected));
      ++expected;
    }
    EXPECT_EQ(expected, n);
    EXPECT_EQ(input.reads(), n);
    EXPECT_FALSE(input.read_elsewhere());

    CountingInput unordered_input(n);
    std::vector<std::uint32_t> seen(n, 0);
    for (const auto& [index, result] : imap_unordered(
             *pool, unordered_input, [](std::size_t x) { return mix(x); },
             options_of(c.chunking))) {
      ASSERT_LT(index, n);
      ++seen[index];
      EXPECT_EQ(result, mix(index));
    }
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1u), static_cast<std::ptrdiff_t>(n));
  }
}

TYPED_TEST(MapStreamTest, AnRvalueInputIsOwnedByTheStream) {
  auto pool = TypeParam::make(2);
  // The temporary vector would be gone by the time the loop reads it (ASan) if the stream
  // referred to it.
  auto stream = imap(*pool, iota_vector(2000), [](std::uint64_t x) { return mix(x); });
  std::size_t i = 0;
  for (std::uint64_t r : stream) EXPECT_EQ(r, mix(i++));
  EXPECT_EQ(i, 2000u);

  auto unordered = imap_unordered(*pool, std::vector<std::string>{"a", "bb", "ccc"},
                                  [](const std::string& s) { return s.size(); });
  std::size_t total = 0;
  for (const auto& [index, size] : unordered) {
    EXPECT_EQ(size, index + 1);
    total += size;
  }
  EXPECT_EQ(total, 6u);
}

TYPED_TEST(MapStreamTest, MoveOnlyResultsCanBeTakenFromTheStream) {
  auto pool = TypeParam::make(2);
  std::vector<std::unique_ptr<std::uint64_t>> taken;
  for (auto& r : imap(*pool, iota_vector(500),
                      [](std::uint64_t x) { return std::make_unique<std::uint64_t>(mix(x)); })) {
    taken.push_back(std::move(r));
  }
  ASSERT_EQ(taken.size(), 500u);
  for (std::size_t i = 0; i < taken.size(); ++i) {
    ASSERT_NE(taken[i], nullptr);
    EXPECT_EQ(*taken[i], mix(i));
  }
}

TYPED_TEST(MapStreamTest, EmptyInputYieldsNothingAndRunsNoTask) {
  auto pool = TypeParam::make(2);
  const std::vector<int> empty;
  bool called = false;
  auto fn = [&called](int x) {
    called = true;
    return x;
  };
  const std::uint64_t tasks = test::tasks_run_by(*pool, [&] {
    for (int r : imap(*pool, empty, fn)) ADD_FAILURE() << "yielded " << r;
    for (const auto& [index, r] : imap_unordered(*pool, empty, fn)) {
      ADD_FAILURE() << "yielded " << index << ": " << r;
    }
  });
  EXPECT_FALSE(called);
  EXPECT_EQ(tasks, 0u);
}

TYPED_TEST(MapStreamTest, NothingIsReadBeforeTheLoopStarts) {
  auto pool = TypeParam::make(2);
  CountingInput input(100);
  const std::uint64_t tasks = test::tasks_run_by(*pool, [&] {
    auto stream = imap(*pool, input, [](std::size_t x) { return x; });
    auto unordered = imap_unordered(*pool, input, [](std::size_t x) { return x; });
  });
  EXPECT_EQ(input.reads(), 0u);
  EXPECT_EQ(tasks, 0u);
}

TYPED_TEST(SingleQueueMapStreamTest, EachChunkIsOneTask) {
  auto pool = TypeParam::make(2);
  const std::vector<std::uint64_t> input = iota_vector(100);
  struct Case {
    Chunking chunking;
    std::size_t window;
    std::size_t tasks;
  };
  // A chunk larger than the window is cut down to it (map_stream.hpp: max_in_flight / chunk
  // slots of one chunk each).
  for (const Case& c : {Case{Chunking::fixed(4), 8, 25}, Case{Chunking::adaptive(), 8, 100},
                        Case{Chunking::fixed(1), 3, 100}, Case{Chunking::fixed(10), 4, 25}}) {
    SCOPED_TRACE(testing::Message() << "fixed(" << c.chunking.items() << "), window " << c.window);
    std::size_t count = 0;
    const std::uint64_t tasks = test::tasks_run_by(*pool, [&] {
      for (std::uint64_t r : imap(
               *pool, input, [](std::uint64_t x) { return x; }, options_of(c.chunking, c.window))) {
        EXPECT_EQ(r, count++);
      }
    });
    EXPECT_EQ(count, input.size());
    EXPECT_EQ(tasks, c.tasks);
  }
}

// --- Bounded memory --------------------------------------------------------------------------

// Consumes `consume` results of a stream over an endless input (10^8 items), waiting at each
// step until the workers computed everything that was read: the pool is as far ahead of the
// consumer as it may get, so every result not yet consumed exists. That is at most the
// window: items read (and computed) <= consumed + window.
template <class System, bool Ordered>
void expect_bounded_by_the_window(std::size_t workers, std::optional<std::size_t> max_in_flight,
                                  Chunking chunking) {
  SCOPED_TRACE(testing::Message() << workers << " workers, window " << max_in_flight.value_or(0)
                                  << ", chunk " << chunking.items()
                                  << (Ordered ? ", ordered" : ", unordered"));
  auto pool = System::make(workers);
  const std::size_t window = max_in_flight.value_or(4 * workers);
  const std::size_t consume = test::scaled(1000);
  CountingInput input(100'000'000);
  std::atomic<std::size_t> computed{0};
  auto fn = [&computed](std::size_t x) {
    computed.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count, read below
    return mix(x);
  };
  std::size_t consumed = 0;
  std::size_t violations = 0;
  auto check = [&] {
    ++consumed;
    // relaxed: only the count matters; it only grows.
    while (computed.load(std::memory_order_relaxed) < input.reads()) std::this_thread::yield();
    if (input.reads() > consumed + window) ++violations;
    if (computed.load(std::memory_order_relaxed) > consumed + window) ++violations;
    return consumed == consume;
  };
  {
    const MapOptions options = options_of(chunking, max_in_flight);
    if constexpr (Ordered) {
      for (std::uint64_t r : imap(*pool, input, fn, options)) {
        if (r != mix(consumed)) ++violations;
        if (check()) break;  // leaving early: the stream's destructor stops the work
      }
    } else {
      for (const auto& [index, r] : imap_unordered(*pool, input, fn, options)) {
        if (r != mix(index)) ++violations;
        if (check()) break;
      }
    }
  }
  EXPECT_EQ(violations, 0u);
  EXPECT_EQ(consumed, consume);
  // The destructor waited for the running items: nothing more is computed or read.
  // relaxed: the stream's destructor synchronized with the last item.
  EXPECT_LE(computed.load(std::memory_order_relaxed), consume + window);
  EXPECT_LE(input.reads(), consume + window);
  EXPECT_FALSE(input.read_elsewhere());

  // The pool is still usable.
  const auto after = parallel_map(*pool, iota_vector(100), [](std::uint64_t x) { return x + 1; });
  EXPECT_EQ(after.back(), 100u);
}

TYPED_TEST(MapStreamTest, ImapReadsNoFurtherAheadThanTheWindow) {
  expect_bounded_by_the_window<TypeParam, true>(2, 8, Chunking::adaptive());
  expect_bounded_by_the_window<TypeParam, true>(2, std::nullopt, Chunking::adaptive());
  expect_bounded_by_the_window<TypeParam, true>(3, 8, Chunking::fixed(4));
  expect_bounded_by_the_window<TypeParam, true>(1, 8, Chunking::python());
  expect_bounded_by_the_window<TypeParam, true>(2, 1, Chunking::fixed(5));
}

TYPED_TEST(MapStreamTest, ImapUnorderedReadsNoFurtherAheadThanTheWindow) {
  expect_bounded_by_the_window<TypeParam, false>(2, 8, Chunking::adaptive());
  expect_bounded_by_the_window<TypeParam, false>(2, std::nullopt, Chunking::adaptive());
  expect_bounded_by_the_window<TypeParam, false>(3, 8, Chunking::fixed(4));
  expect_bounded_by_the_window<TypeParam, false>(1, 8, Chunking::python());
}

TYPED_TEST(MapStreamTest, LeavingTheLoopEarlyStopsTheWorkAndReturns) {
  auto pool = TypeParam::make(2);
  std::atomic<std::size_t> computed{0};
  const std::size_t n = 1'000'000;
  const std::vector<std::uint64_t> input = iota_vector(n);
  const MapOptions options = options_of(Chunking::adaptive(), 16);
  for (int round = 0; round < 20; ++round) {
    computed.store(0, std::memory_order_relaxed);  // relaxed: the pool is quiescent here
    std::size_t consumed = 0;
    for (std::uint64_t r : imap(
             *pool, input,
             [&computed](std::uint64_t x) {
               computed.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count
               return x;
             },
             options)) {
      EXPECT_EQ(r, consumed);
      if (++consumed == 10) break;
    }
    // relaxed: the stream's destructor synchronized with every item that ran.
    EXPECT_LE(computed.load(std::memory_order_relaxed), 10u + 16u);
    pool->wait_idle();
  }
  EXPECT_EQ(parallel_map(*pool, iota_vector(10), [](std::uint64_t x) { return x; }).size(), 10u);
}

// --- From inside a task ----------------------------------------------------------------------

TYPED_TEST(MapStreamTest, StreamsWorkFromInsideATask) {
  for (std::size_t workers : {1, 2}) {
    auto pool = TypeParam::make(workers);
    for (const NamedChunking& c : every_chunking()) {
      SCOPED_TRACE(testing::Message() << workers << " workers, " << c.name);
      const std::vector<std::uint64_t> input = iota_vector(2000);
      auto ordered = pool->submit([&] {
        std::vector<std::uint64_t> out;
        for (std::uint64_t r : imap(
                 *pool, input, [](std::uint64_t x) { return mix(x); }, options_of(c.chunking, 4))) {
          out.push_back(r);
        }
        return out;
      });
      auto unordered = pool->submit([&] {
        std::vector<std::uint32_t> seen(input.size(), 0);
        for (const auto& [index, r] : imap_unordered(
                 *pool, input, [](std::uint64_t x) { return mix(x); }, options_of(c.chunking, 4))) {
          if (r == mix(index)) ++seen[index];
        }
        return seen;
      });
      auto early = pool->submit([&] {
        std::size_t consumed = 0;
        CountingInput endless(100'000'000);
        for (std::uint64_t r : imap(*pool, endless, [](std::size_t x) { return mix(x); })) {
          if (r != mix(consumed) || ++consumed == 100) break;
        }
        return consumed;
      });
      const auto out = ordered.get();
      ASSERT_EQ(out.size(), input.size());
      for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], mix(i)) << i;
      const auto seen = unordered.get();
      EXPECT_EQ(std::count(seen.begin(), seen.end(), 1u),
                static_cast<std::ptrdiff_t>(input.size()));
      EXPECT_EQ(early.get(), 100u);
    }
  }
}

TYPED_TEST(MapStreamTest, StreamsNestInsideParallelMap) {
  for (std::size_t workers : {1, 2}) {
    auto pool = TypeParam::make(workers);
    const std::vector<std::uint64_t> rows = iota_vector(16);
    const auto sums = parallel_map(*pool, rows, [&](std::uint64_t row) {
      std::uint64_t sum = 0;
      for (std::uint64_t r :
           imap(*pool, iota_vector(100), [row](std::uint64_t x) { return row * 1000 + x; })) {
        sum += r;
      }
      return sum;
    });
    for (std::uint64_t row = 0; row < rows.size(); ++row) {
      EXPECT_EQ(sums[row], row * 1000 * 100 + 99 * 100 / 2);
    }
  }
}

// --- Failures --------------------------------------------------------------------------------

// Streams `n` items where item `failing` throws: everything yielded before the ItemError must
// be right (and, ordered, in order before `failing`), and the ItemError names `failing`.
// Returns how many results were yielded.
template <bool Ordered, class PoolType>
std::size_t expect_failure_at(PoolType& pool, std::size_t n, std::size_t failing,
                              const MapOptions& options) {
  SCOPED_TRACE(testing::Message() << "item " << failing << " of " << n << " fails, window "
                                  << options.max_in_flight.value_or(0) << ", chunk "
                                  << options.chunking.items());
  const std::vector<std::uint64_t> input = iota_vector(n);
  auto fn = [failing](std::uint64_t x) {
    if (x == failing) throw std::out_of_range("item " + std::to_string(x));
    return mix(x);
  };
  std::size_t yielded = 0;
  std::vector<bool> seen(n, false);
  std::optional<std::size_t> error_index;
  auto run = [&](auto& stream) {
    auto it = stream.begin();
    try {
      for (; it != stream.end(); ++it) {
        if constexpr (Ordered) {
          EXPECT_EQ(*it, mix(yielded)) << "result " << yielded;
          EXPECT_LT(yielded, failing);
        } else {
          const auto& [index, result] = *it;
          EXPECT_NE(index, failing);
          EXPECT_FALSE(seen[index]) << index;
          seen[index] = true;
          EXPECT_EQ(result, mix(index)) << index;
        }
        ++yielded;
      }
    } catch (const ItemError& e) {
      error_index = e.index();
      EXPECT_EQ(message_of<std::out_of_range>([&] { e.rethrow_original(); }),
                "item " + std::to_string(failing));
      EXPECT_TRUE(it == stream.end());  // the stream ends at the failure
    }
  };
  try {
    if constexpr (Ordered) {
      auto stream = imap(pool, input, fn, options);
      run(stream);
    } else {
      auto stream = imap_unordered(pool, input, fn, options);
      run(stream);
    }
  } catch (const ItemError& e) {
    error_index = e.index();  // from begin(): the very first result failed
  }
  EXPECT_EQ(error_index, failing);
  return yielded;
}

// Every chunking and window on 1, 2 and 3 workers: the results yielded before the failure are
// right (in order for imap), then the ItemError comes. With a window of one item the items
// run one after the other, so every item before the failure is yielded.
template <bool Ordered, class System>
void expect_every_failure_reported() {
  for (std::size_t workers : {1, 2, 3}) {
    auto pool = System::make(workers);
    for (const NamedChunking& c : every_chunking()) {
      for (std::optional<std::size_t> window :
           {std::optional<std::size_t>(), std::optional<std::size_t>(1),
            std::optional<std::size_t>(8)}) {
        for (std::size_t failing : {0, 1, 57, 299}) {
          SCOPED_TRACE(testing::Message() << workers << " workers, " << c.name);
          (void)expect_failure_at<Ordered>(*pool, 300, failing, options_of(c.chunking, window));
        }
      }
    }
    for (std::size_t failing : {0, 1, 57, 299}) {
      EXPECT_EQ(expect_failure_at<Ordered>(*pool, 300, failing, options_of(Chunking::fixed(1), 1)),
                failing);
    }
  }
}

TYPED_TEST(MapStreamTest, ImapYieldsCorrectResultsInOrderThenTheItemError) {
  expect_every_failure_reported<true, TypeParam>();
}

TYPED_TEST(MapStreamTest, ImapUnorderedYieldsCorrectResultsThenTheItemError) {
  expect_every_failure_reported<false, TypeParam>();
}

TYPED_TEST(MapStreamTest, PoolIsUsableAfterAFailedStream) {
  auto pool = TypeParam::make(2);
  EXPECT_THROW(
      {
        for (std::uint64_t r : imap(*pool, iota_vector(10'000), [](std::uint64_t x) {
               if (x == 5000) throw std::runtime_error("5000");
               return x;
             })) {
          (void)r;
        }
      },
      ItemError);
  pool->wait_idle();
  std::size_t count = 0;
  for (std::uint64_t r : imap(*pool, iota_vector(100), [](std::uint64_t x) { return x; })) {
    EXPECT_EQ(r, count++);
  }
  EXPECT_EQ(count, 100u);
}

// --- A window far larger than the input ------------------------------------------------------

// Heap bytes in use, from glibc (0 under the sanitizers, whose allocators glibc does not see:
// the bound below is then checked by the run time alone).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FORAGE_TEST_SANITIZED_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FORAGE_TEST_SANITIZED_HEAP 1
#endif
#endif

std::size_t heap_in_use() {
#ifdef FORAGE_TEST_SANITIZED_HEAP
  return 0;
#else
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

// Streams 10 items with `max_in_flight` results allowed ahead: every result comes, and the
// memory held while the first one is consumed is what 10 items need, not what the window
// would allow (SIZE_MAX slots cannot be allocated; 2^24 took 1.9 GiB and 4 s).
template <bool Ordered, class PoolType, class Input>
void expect_small_stream(PoolType& pool, Input&& input, std::size_t max_in_flight,
                         Chunking chunking) {
  SCOPED_TRACE(testing::Message() << "max_in_flight " << max_in_flight << ", chunk "
                                  << chunking.items() << (Ordered ? ", ordered" : ", unordered"));
  const std::size_t before = heap_in_use();
  std::size_t held = 0;
  std::size_t count = 0;
  std::vector<std::uint32_t> seen(10, 0);
  const MapOptions options = options_of(chunking, max_in_flight);
  auto fn = [](std::size_t x) { return mix(x); };
  if constexpr (Ordered) {
    for (std::uint64_t r : imap(pool, std::forward<Input>(input), fn, options)) {
      if (count == 0) held = heap_in_use() - std::min(before, heap_in_use());
      EXPECT_EQ(r, mix(count));
      ++count;
    }
  } else {
    for (const auto& [index, r] : imap_unordered(pool, std::forward<Input>(input), fn, options)) {
      if (count == 0) held = heap_in_use() - std::min(before, heap_in_use());
      ASSERT_LT(index, 10u);
      ++seen[index];
      EXPECT_EQ(r, mix(index));
      ++count;
    }
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1u), 10);
  }
  EXPECT_EQ(count, 10u);
  EXPECT_LT(held, std::size_t{1} << 20) << "bytes held by a stream of 10 items";
}

template <bool Ordered, class PoolType>
void expect_any_window_works_on_ten_items(PoolType& pool) {
  for (std::size_t max_in_flight :
       {std::numeric_limits<std::size_t>::max(), std::size_t{1} << 24, std::size_t{1} << 62}) {
    for (Chunking chunking : {Chunking::adaptive(), Chunking::fixed(3), Chunking::python()}) {
      expect_small_stream<Ordered>(pool, iota_vector(10), max_in_flight, chunking);    // sized
      expect_small_stream<Ordered>(pool, CountingInput(10), max_in_flight, chunking);  // unsized
    }
  }
}

TYPED_TEST(MapStreamTest, ImapMemoryFollowsTheItemsInFlightNotMaxInFlight) {
  auto pool = TypeParam::make(2);
  const auto start = std::chrono::steady_clock::now();
  expect_any_window_works_on_ten_items<true>(*pool);
  // Generous (shared CI cores, sanitizers): a window allocated up front took 4 s per stream.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TYPED_TEST(MapStreamTest, ImapUnorderedMemoryFollowsTheItemsInFlightNotMaxInFlight) {
  auto pool = TypeParam::make(2);
  const auto start = std::chrono::steady_clock::now();
  expect_any_window_works_on_ten_items<false>(*pool);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

// --- The input throws -----------------------------------------------------------------------

// An unsized input whose iterator throws std::runtime_error("input failed at <k>") when
// item `failing` is read (on dereference, or on increment past it when `on_increment`).
class ThrowingInput {
 public:
  class iterator {
   public:
    using value_type = std::size_t;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    explicit iterator(ThrowingInput* owner) : owner_(owner) {}
    std::size_t operator*() const {
      if (!owner_->on_increment_ && owner_->next_ == owner_->failing_) owner_->fail();
      return owner_->next_;
    }
    iterator& operator++() {
      if (owner_->on_increment_ && owner_->next_ + 1 == owner_->failing_) owner_->fail();
      ++owner_->next_;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

   private:
    bool at_end() const { return owner_->next_ == owner_->limit_; }

    ThrowingInput* owner_ = nullptr;
  };

  ThrowingInput(std::size_t limit, std::size_t failing, bool on_increment)
      : limit_(limit), failing_(failing), on_increment_(on_increment) {}
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const { return std::default_sentinel; }

 private:
  [[noreturn]] void fail() const {
    throw std::runtime_error("input failed at " + std::to_string(failing_));
  }

  std::size_t next_ = 0;
  std::size_t limit_;
  std::size_t failing_;
  bool on_increment_;
};
static_assert(std::ranges::input_range<ThrowingInput>);

// The input throws when item `failing` is read: every item read before it was handed to a
// task, so its result must be yielded (in order for imap), then the input's exception comes,
// as thrown.
template <bool Ordered, class PoolType>
void expect_input_failure_after_every_read_result(PoolType& pool, std::size_t failing,
                                                  bool on_increment, const MapOptions& options) {
  SCOPED_TRACE(testing::Message() << "input fails at " << failing
                                  << (on_increment ? " (increment)" : " (dereference)")
                                  << ", window " << options.max_in_flight.value_or(0) << ", chunk "
                                  << options.chunking.items());
  ThrowingInput input(1000, failing, on_increment);
  std::vector<std::uint32_t> seen(1000, 0);
  std::size_t count = 0;
  std::string error;
  auto fn = [](std::size_t x) { return mix(x); };
  try {
    if constexpr (Ordered) {
      for (std::uint64_t r : imap(pool, input, fn, options)) {
        EXPECT_EQ(r, mix(count)) << "result " << count;
        ++count;
      }
    } else {
      for (const auto& [index, r] : imap_unordered(pool, input, fn, options)) {
        ASSERT_LT(index, failing);
        ++seen[index];
        EXPECT_EQ(r, mix(index));
        ++count;
      }
    }
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  EXPECT_EQ(error, "input failed at " + std::to_string(failing));
  EXPECT_EQ(count, failing) << "results yielded before the input's exception";
  if constexpr (!Ordered) {
    EXPECT_EQ(std::count(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(failing), 1u),
              static_cast<std::ptrdiff_t>(failing));
  }
}

template <bool Ordered, class System>
void expect_every_input_failure_reported() {
  auto pool = System::make(2);
  for (const NamedChunking& c : every_chunking()) {
    for (std::optional<std::size_t> window :
         {std::optional<std::size_t>(), std::optional<std::size_t>(1),
          std::optional<std::size_t>(8), std::optional<std::size_t>(64)}) {
      for (std::size_t failing : {0, 1, 7, 500, 999}) {
        SCOPED_TRACE(c.name);
        for (bool on_increment : {false, true}) {
          if (on_increment && failing == 0) continue;  // begin() has no increment to fail
          expect_input_failure_after_every_read_result<Ordered>(*pool, failing, on_increment,
                                                                options_of(c.chunking, window));
        }
      }
    }
  }
}

TYPED_TEST(MapStreamTest, ImapYieldsEveryReadItemsResultThenTheInputsException) {
  expect_every_input_failure_reported<true, TypeParam>();
}

TYPED_TEST(MapStreamTest, ImapUnorderedYieldsEveryReadItemsResultThenTheInputsException) {
  expect_every_input_failure_reported<false, TypeParam>();
}

}  // namespace
}  // namespace forage
