// What parallel_map and map_async return, on the three schedulers: MapResults is a working
// std::vector, each result is constructed once where it is computed and destroyed once, and a
// failure (an item, the progress callback, a cancelling shutdown) destroys exactly the results
// that were built. ResultAllocator's own contract is at the end.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
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

using test::iota_vector;
using test::message_of;
using test::mix;
using test::NamedChunking;

template <class System>
class MapResultsTest : public test::WatchedTest {};

using test::Systems;
TYPED_TEST_SUITE(MapResultsTest, Systems);

std::vector<NamedChunking> every_chunking() {
  return {{"adaptive", Chunking::adaptive()},
          {"fixed(1)", Chunking::fixed(1)},
          {"fixed(7)", Chunking::fixed(7)},
          {"fixed(300)", Chunking::fixed(300)},
          {"python", Chunking::python()}};
}

MapOptions with(Chunking chunking) {
  MapOptions options;
  options.chunking = chunking;
  return options;
}

// Constructions and destructions of Counted, over all its copies. Workers write, the test
// thread reads after the algorithm returned or threw (which happens-after every item).
struct Census {
  std::atomic<std::int64_t> constructed{0};  // by value (the item's own construction)
  std::atomic<std::int64_t> moved{0};        // by a move constructor
  std::atomic<std::int64_t> destroyed{0};

  // relaxed (all three): see above.
  std::int64_t live() const {
    return constructed.load(std::memory_order_relaxed) + moved.load(std::memory_order_relaxed) -
           destroyed.load(std::memory_order_relaxed);
  }
};

// A result with no default constructor and no copy, that counts itself in a Census.
class Counted {
 public:
  Counted(std::uint64_t value, Census& census) : value_(value), census_(&census) {
    // relaxed: a count read after the algorithm returned (see Census).
    census_->constructed.fetch_add(1, std::memory_order_relaxed);
  }
  Counted(Counted&& other) noexcept : value_(other.value_), census_(other.census_) {
    census_->moved.fetch_add(1, std::memory_order_relaxed);  // relaxed: as above
  }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  Counted& operator=(Counted&&) = delete;
  ~Counted() { census_->destroyed.fetch_add(1, std::memory_order_relaxed); }  // relaxed: as above

  std::uint64_t value() const { return value_; }

 private:
  std::uint64_t value_;
  Census* census_;
};
static_assert(!std::is_default_constructible_v<Counted>);

// A few iterations of dependent work, so that neighbouring chunks overlap in time.
std::uint64_t busy(std::uint64_t x) {
  for (int k = 0; k < 50; ++k) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

// --- A real std::vector ----------------------------------------------------------------------

TYPED_TEST(MapResultsTest, ResultsAreAStdVectorWithForagesAllocator) {
  auto pool = TypeParam::make(2);
  auto out = parallel_map(*pool, iota_vector(1000), [](std::uint64_t x) { return mix(x); });
  static_assert(
      std::is_same_v<decltype(out), std::vector<std::uint64_t, ResultAllocator<std::uint64_t>>>);
  ASSERT_EQ(out.size(), 1000u);
  EXPECT_GE(out.capacity(), out.size());

  std::vector<std::uint64_t> expected(1000);
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = mix(i);
  EXPECT_TRUE(out == expected);
  EXPECT_TRUE(expected == out);

  // Everything a vector does, after the adoption: growth (a reallocation), value-initialising
  // resize, copy, move, erase, shrink.
  for (std::uint64_t extra = 0; extra < 5000; ++extra) out.push_back(extra);
  out.resize(out.size() + 10);
  EXPECT_EQ(out.back(), 0u);
  out.resize(1000);
  EXPECT_TRUE(out == expected);
  MapResults<std::uint64_t> copy = out;
  MapResults<std::uint64_t> moved = std::move(out);
  EXPECT_TRUE(copy == expected);
  EXPECT_TRUE(moved == expected);
  moved.erase(moved.begin());
  moved.shrink_to_fit();
  EXPECT_EQ(moved.front(), mix(1));
  const std::vector<std::uint64_t> plain(std::make_move_iterator(copy.begin()),
                                         std::make_move_iterator(copy.end()));
  EXPECT_EQ(plain, expected);
}

TYPED_TEST(MapResultsTest, EveryResultIsConstructedOnceInPlaceAndDestroyedWithTheVector) {
  auto pool = TypeParam::make(3);
  const std::size_t n = test::scaled(100'000);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    Census census;
    {
      const auto out = parallel_map(
          *pool, iota_vector(n), [&census](std::uint64_t x) { return Counted(mix(x), census); },
          with(c.chunking));
      ASSERT_EQ(out.size(), n);
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < n; ++i) wrong += out[i].value() == mix(i) ? 0 : 1;
      EXPECT_EQ(wrong, 0u);
      // Built where computed: one construction per item, no move into the vector.
      EXPECT_EQ(census.constructed.load(std::memory_order_relaxed), static_cast<std::int64_t>(n));
      EXPECT_EQ(census.moved.load(std::memory_order_relaxed), 0);
      EXPECT_EQ(census.live(), static_cast<std::int64_t>(n));
    }
    EXPECT_EQ(census.live(), 0);
  }
}

TYPED_TEST(MapResultsTest, EmptyInputGivesAnEmptyVectorWithoutStorage) {
  auto pool = TypeParam::make(2);
  Census census;
  const auto out = parallel_map(*pool, std::vector<std::uint64_t>{},
                                [&census](std::uint64_t x) { return Counted(x, census); });
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(out.capacity(), 0u);
  EXPECT_EQ(census.live(), 0);
}

// --- Failures destroy exactly what was built ------------------------------------------------

template <class PoolType>
void expect_failure_at_destroys_everything(PoolType& pool, std::size_t n, std::size_t failing,
                                           Chunking chunking) {
  Census census;
  try {
    (void)parallel_map(
        pool, iota_vector(n),
        [&census, failing](std::uint64_t x) {
          if (x == failing) throw std::runtime_error("item " + std::to_string(x));
          return Counted(busy(x), census);
        },
        with(chunking));
    ADD_FAILURE() << "parallel_map did not throw";
  } catch (const ItemError& e) {
    EXPECT_EQ(e.index(), failing);
  }
  EXPECT_EQ(census.live(), 0) << "failing item " << failing;
}

TYPED_TEST(MapResultsTest, AFailingItemDestroysExactlyTheResultsBuilt) {
  auto pool = TypeParam::make(3);
  const std::size_t n = 5000;
  const std::size_t repetitions = test::scaled(30);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    for (std::size_t failing : {std::size_t{0}, std::size_t{1}, n / 3, n / 2, n - 2, n - 1}) {
      for (std::size_t round = 0; round < repetitions; ++round) {
        expect_failure_at_destroys_everything(*pool, n, failing, c.chunking);
      }
    }
  }
}

TYPED_TEST(MapResultsTest, ConcurrentFailuresDestroyExactlyTheResultsBuilt) {
  auto pool = TypeParam::make(3);
  const std::size_t n = 20'000;
  const std::size_t repetitions = test::scaled(50);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    for (std::size_t round = 0; round < repetitions; ++round) {
      Census census;
      // Failures spread over the range, so several chunks fail at about the same time.
      const std::size_t stride = 997 + round;
      try {
        (void)parallel_map(
            *pool, iota_vector(n),
            [&census, stride](std::uint64_t x) {
              if (x % stride == stride - 1) throw std::runtime_error("failed");
              return Counted(busy(x), census);
            },
            with(c.chunking));
        ADD_FAILURE() << "parallel_map did not throw";
      } catch (const ItemError& e) {
        EXPECT_EQ(e.index() % stride, stride - 1);
      }
      ASSERT_EQ(census.live(), 0) << "round " << round;
    }
  }
}

TYPED_TEST(MapResultsTest, AThrowingProgressCallbackDestroysEveryResultBuilt) {
  auto pool = TypeParam::make(2);
  const std::size_t n = 10'000;
  // At the first report (the chunks go on), and at the last (every result is built).
  for (bool at_end : {false, true}) {
    SCOPED_TRACE(at_end ? "at the final report" : "at the first report");
    Census census;
    MapOptions options;
    options.on_progress = [at_end](std::size_t done, std::size_t total) {
      if (!at_end || done == total) throw std::logic_error("progress display broke");
    };
    EXPECT_EQ(message_of<std::logic_error>([&] {
                (void)parallel_map(
                    *pool, iota_vector(n),
                    [&census](std::uint64_t x) { return Counted(x, census); }, options);
              }),
              "progress display broke");
    EXPECT_EQ(census.live(), 0);
  }
}

TYPED_TEST(MapResultsTest, MapAsyncFailureDestroysTheResultsBuilt) {
  auto pool = TypeParam::make(2);
  Census census;
  auto future = map_async(*pool, iota_vector(10'000), [&census](std::uint64_t x) {
    if (x == 7777) throw std::out_of_range("7777");
    return Counted(busy(x), census);
  });
  static_assert(std::is_same_v<decltype(future), Future<MapResults<Counted>>>);
  test::let_workers_release(*pool);
  try {
    (void)future.get();
    ADD_FAILURE() << "get() did not throw";
  } catch (const ItemError& e) {
    EXPECT_EQ(e.index(), 7777u);
  }
  EXPECT_EQ(census.live(), 0);
}

TYPED_TEST(MapResultsTest, ACancellingShutdownDuringTheMapLeavesNoResultAlive) {
  // The shutdown may drop queued chunks (the map then throws Cancelled) or come after the
  // map: either way no result outlives its owner.
  for (std::size_t round = 0; round < test::scaled(20); ++round) {
    auto pool = TypeParam::make(2);
    Census census;
    std::atomic<bool> started{false};
    std::thread stopper([&] {
      // acquire: pairs with the release store of the first item.
      while (!started.load(std::memory_order_acquire)) std::this_thread::yield();
      pool->shutdown(Shutdown::cancel_pending);
    });
    try {
      const auto out = parallel_map(
          *pool, iota_vector(20'000),
          [&](std::uint64_t x) {
            started.store(true, std::memory_order_release);  // release: see the stopper
            return Counted(busy(x), census);
          },
          with(Chunking::fixed(64)));
      EXPECT_EQ(out.size(), 20'000u);
    } catch (const Cancelled&) {
    } catch (const PoolClosed&) {
    }
    stopper.join();
    EXPECT_EQ(census.live(), 0) << "round " << round;
  }
}

// --- Result types ------------------------------------------------------------------------

TYPED_TEST(MapResultsTest, BoolResultsArePackedCorrectlyAroundWordBoundaries) {
  auto pool = TypeParam::make(3);
  for (std::size_t n : {1, 63, 64, 65, 511, 512, 513, 1025, 100'000}) {
    SCOPED_TRACE(testing::Message() << n << " items");
    for (Chunking chunking : {Chunking::adaptive(), Chunking::fixed(1), Chunking::fixed(3)}) {
      const auto out = parallel_map(
          *pool, iota_vector(n), [](std::uint64_t x) { return mix(x) % 3 == 0; }, with(chunking));
      static_assert(std::is_same_v<decltype(out), const MapResults<bool>>);
      ASSERT_EQ(out.size(), n);
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < n; ++i) wrong += out[i] == (mix(i) % 3 == 0) ? 0 : 1;
      EXPECT_EQ(wrong, 0u);
    }
  }
}

TYPED_TEST(MapResultsTest, MoveOnlyResultsSurviveTheAdoption) {
  auto pool = TypeParam::make(2);
  auto out = parallel_map(*pool, iota_vector(3000),
                          [](std::uint64_t x) { return std::make_unique<std::uint64_t>(x); });
  out.push_back(std::make_unique<std::uint64_t>(3000));  // a reallocation moves them all
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < out.size(); ++i) wrong += *out[i] == i ? 0 : 1;
  EXPECT_EQ(wrong, 0u);
}

// --- ResultAllocator ------------------------------------------------------------------------

TEST(ResultAllocator, LargeResultsAreHugePageAligned) {
  Pool pool({.workers = 2});
  const std::size_t n = (detail::kLargeResultBytes / sizeof(double)) + 1000;
  const auto large =
      parallel_map(pool, iota_vector(n), [](std::uint64_t x) { return static_cast<double>(x); });
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(large.data()) % detail::kHugePageBytes, 0u);
  EXPECT_EQ(large.back(), static_cast<double>(n - 1));
}

TEST(ResultAllocator, IsStatelessAndAlwaysEqualAcrossRebinds) {
  using Traits = std::allocator_traits<ResultAllocator<int>>;
  static_assert(Traits::is_always_equal::value);
  static_assert(std::is_empty_v<ResultAllocator<int>>);
  static_assert(std::is_same_v<Traits::rebind_alloc<double>, ResultAllocator<double>>);
  EXPECT_TRUE(ResultAllocator<int>() == ResultAllocator<double>());

  ResultAllocator<double> allocator;
  for (std::size_t n : {std::size_t{1}, std::size_t{1000}, detail::kLargeResultBytes}) {
    double* storage = allocator.allocate(n);
    storage[0] = 1.0;
    storage[n - 1] = 2.0;
    allocator.deallocate(storage, n);
  }
}

TEST(ResultAllocator, ValueInitialisesLikeStdAllocatorOutsideAnAdoption) {
  MapResults<double> zeros(1000);
  EXPECT_TRUE(std::all_of(zeros.begin(), zeros.end(), [](double x) { return x == 0.0; }));
  MapResults<std::string> words(3, "forage");
  words.emplace_back(2, 'x');
  EXPECT_EQ(words.back(), "xx");
  EXPECT_EQ(words.front(), "forage");
}

}  // namespace
}  // namespace forage
