// parallel_map_into on the three schedulers: output[i] = fn(inputs[i]) into a vector, a span,
// an array or through an iterator, in order and once per item, for every chunking; a size
// mismatch rejected before any item runs; empty input; move-only, non-default-constructible
// and bool results; one output reused across calls; progress; errors.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
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
class ParallelMapIntoTest : public test::WatchedTest {};

using test::Systems;
TYPED_TEST_SUITE(ParallelMapIntoTest, Systems);

std::vector<NamedChunking> every_chunking() {
  return {{"adaptive", Chunking::adaptive()},
          {"fixed(1)", Chunking::fixed(1)},
          {"fixed(7)", Chunking::fixed(7)},
          {"python", Chunking::python()}};
}

MapOptions with(Chunking chunking) {
  MapOptions options;
  options.chunking = chunking;
  return options;
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

// The first i where values[i] != mix(i) + offset, or the size.
template <class Values>
std::size_t first_wrong(const Values& values, std::uint64_t offset = 0) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i] != mix(i) + offset) return i;
  }
  return values.size();
}

TYPED_TEST(ParallelMapIntoTest, WritesEveryResultInOrderOnceForEverySizeAndChunking) {
  for (std::size_t workers : {1, 3}) {
    auto pool = TypeParam::make(workers);
    for (const NamedChunking& c : every_chunking()) {
      for (std::size_t n : {std::size_t{1}, std::size_t{2}, workers + 1, test::scaled(300'000)}) {
        SCOPED_TRACE(testing::Message() << c.name << ", " << workers << " workers, " << n);
        const std::vector<std::uint64_t> input = iota_vector(n);
        std::vector<std::uint64_t> output(n, 0);
        Counters mapped(n);
        parallel_map_into(
            *pool, input, output,
            [&mapped](std::uint64_t x) {
              // relaxed: read after parallel_map_into returned.
              mapped[x].fetch_add(1, std::memory_order_relaxed);
              return mix(x);
            },
            with(c.chunking));
        EXPECT_EQ(first_wrong(output), n);
        EXPECT_EQ(first_not_once(mapped), n);
      }
    }
  }
}

TYPED_TEST(ParallelMapIntoTest, WritesThroughASpanAnArrayAnIteratorAndAPointer) {
  auto pool = TypeParam::make(2);
  const std::vector<std::uint64_t> input = iota_vector(1000);
  auto fn = [](std::uint64_t x) { return mix(x); };

  // A span over the middle of a larger buffer: nothing outside it is written.
  std::vector<std::uint64_t> buffer(1200, 7);
  parallel_map_into(*pool, input, std::span(buffer).subspan(100, 1000), fn);
  EXPECT_EQ(first_wrong(std::span(buffer).subspan(100, 1000)), 1000u);
  EXPECT_EQ(std::count(buffer.begin(), buffer.begin() + 100, 7), 100);
  EXPECT_EQ(std::count(buffer.end() - 100, buffer.end(), 7), 100);

  std::array<std::uint64_t, 1000> array{};
  parallel_map_into(*pool, input, array, fn);
  EXPECT_EQ(first_wrong(array), 1000u);

  // Iterators, unsized as with std::transform: the caller guarantees room.
  std::vector<std::uint64_t> by_iterator(1000);
  parallel_map_into(*pool, input, by_iterator.begin(), fn);
  EXPECT_EQ(first_wrong(by_iterator), 1000u);
  std::vector<std::uint64_t> by_pointer(1000);
  parallel_map_into(*pool, input, by_pointer.data(), fn);
  EXPECT_EQ(first_wrong(by_pointer), 1000u);
}

TYPED_TEST(ParallelMapIntoTest, ASizeMismatchIsInvalidArgumentNamingBothSizesBeforeAnyItemRuns) {
  auto pool = TypeParam::make(2);
  const std::vector<std::uint64_t> input = iota_vector(700);
  std::atomic<bool> called{false};
  auto fn = [&called](std::uint64_t x) {
    called.store(true, std::memory_order_relaxed);  // relaxed: read after the call threw
    return x;
  };
  for (std::size_t size : {std::size_t{0}, std::size_t{699}, std::size_t{701}}) {
    std::vector<std::uint64_t> output(size, 5);
    const std::string message =
        message_of<InvalidArgument>([&] { parallel_map_into(*pool, input, output, fn); });
    EXPECT_NE(message.find("forage::parallel_map_into"), std::string::npos) << message;
    EXPECT_NE(message.find("700"), std::string::npos) << message;
    EXPECT_NE(message.find(std::to_string(size)), std::string::npos) << message;
    EXPECT_EQ(std::count(output.begin(), output.end(), 5u), static_cast<std::ptrdiff_t>(size));
  }
  std::list<std::uint64_t> unsized_input = {1, 2, 3};
  std::vector<std::uint64_t> two(2);
  EXPECT_THROW(parallel_map_into(*pool, unsized_input, two, fn), InvalidArgument);
  EXPECT_FALSE(called.load(std::memory_order_relaxed));
}

TYPED_TEST(ParallelMapIntoTest, EmptyInputWritesNothingSpawnsNoTaskAndReportsZeroOfZero) {
  auto pool = TypeParam::make(2);
  std::vector<std::pair<std::size_t, std::size_t>> reports;
  MapOptions options;
  options.on_progress = [&reports](std::size_t done, std::size_t total) {
    reports.emplace_back(done, total);
  };
  bool called = false;
  const std::vector<int> empty;
  std::vector<int> output;
  std::vector<int> untouched = {9};
  const std::uint64_t tasks = test::tasks_run_by(*pool, [&] {
    parallel_map_into(
        *pool, empty, output,
        [&called](int x) {
          called = true;
          return x;
        },
        options);
    parallel_map_into(*pool, empty, untouched.begin(),
                      [&called](int x) {
                        called = true;
                        return x;
                      },
                      {});
  });
  EXPECT_FALSE(called);
  EXPECT_EQ(tasks, 0u);
  EXPECT_EQ(reports, (std::vector<std::pair<std::size_t, std::size_t>>{{0, 0}}));
  EXPECT_EQ(untouched, std::vector<int>{9});
}

class NoDefault {
 public:
  explicit NoDefault(std::uint64_t value) : value_(value) {}
  std::uint64_t value() const { return value_; }

 private:
  std::uint64_t value_;
};

TYPED_TEST(ParallelMapIntoTest, MoveOnlyAndNonDefaultConstructibleResultsAreAssigned) {
  auto pool = TypeParam::make(3);
  const std::vector<std::uint64_t> input = iota_vector(5000);

  std::vector<std::unique_ptr<std::uint64_t>> owners(input.size());
  parallel_map_into(*pool, input, owners,
                    [](std::uint64_t x) { return std::make_unique<std::uint64_t>(mix(x)); });
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < owners.size(); ++i) {
    wrong += owners[i] != nullptr && *owners[i] == mix(i) ? 0 : 1;
  }
  EXPECT_EQ(wrong, 0u);

  std::vector<NoDefault> values(input.size(), NoDefault(0));
  parallel_map_into(*pool, input, values, [](std::uint64_t x) { return NoDefault(mix(x)); });
  wrong = 0;
  for (std::size_t i = 0; i < values.size(); ++i) wrong += values[i].value() == mix(i) ? 0 : 1;
  EXPECT_EQ(wrong, 0u);
}

TYPED_TEST(ParallelMapIntoTest, BoolResultsGoIntoBytes) {
  // A std::vector<bool> output does not compile (its bits share words); bytes do.
  auto pool = TypeParam::make(3);
  const std::vector<std::uint64_t> input = iota_vector(test::scaled(100'000));
  std::vector<char> flags(input.size());
  parallel_map_into(
      *pool, input, flags, [](std::uint64_t x) { return mix(x) % 3 == 0; },
      with(Chunking::fixed(1)));
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < flags.size(); ++i) {
    wrong += (flags[i] != 0) == (mix(i) % 3 == 0) ? 0 : 1;
  }
  EXPECT_EQ(wrong, 0u);
}

TYPED_TEST(ParallelMapIntoTest, OneOutputIsReusedAcrossCalls) {
  auto pool = TypeParam::make(2);
  const std::vector<std::uint64_t> input = iota_vector(20'000);
  std::vector<std::uint64_t> output(input.size());
  const std::uint64_t* storage = output.data();
  for (std::uint64_t step = 0; step < 10; ++step) {
    parallel_map_into(*pool, input, output, [step](std::uint64_t x) { return mix(x) + step; });
    ASSERT_EQ(first_wrong(output, step), output.size()) << "step " << step;
  }
  EXPECT_EQ(output.data(), storage);  // written in place, never reallocated
}

TYPED_TEST(ParallelMapIntoTest, UnsizedAndSinglePassInputsAreMappedInOrder) {
  auto pool = TypeParam::make(2);
  const std::list<std::uint64_t> list = {0, 1, 2, 3, 4, 5};
  std::vector<std::uint64_t> from_list(list.size());
  parallel_map_into(*pool, list, from_list, [](std::uint64_t x) { return mix(x); });
  EXPECT_EQ(first_wrong(from_list), list.size());

  CountingInput generated(1000);
  std::vector<std::uint64_t> from_generator(1000);
  parallel_map_into(*pool, generated, from_generator, [](std::size_t x) { return mix(x); });
  EXPECT_EQ(first_wrong(from_generator), 1000u);
}

TYPED_TEST(ParallelMapIntoTest, ProgressIsMonotoneAndEndsAtTotal) {
  auto pool = TypeParam::make(3);
  const std::size_t n = 50'000;
  std::vector<std::uint64_t> output(n);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    std::vector<std::size_t> done_reports;  // the callback never runs concurrently with itself
    MapOptions options = with(c.chunking);
    options.on_progress = [&done_reports, n](std::size_t done, std::size_t total) {
      EXPECT_EQ(total, n);
      done_reports.push_back(done);
    };
    parallel_map_into(
        *pool, iota_vector(n), output, [](std::uint64_t x) { return mix(x); }, options);
    ASSERT_FALSE(done_reports.empty());
    EXPECT_TRUE(std::is_sorted(done_reports.begin(), done_reports.end()));
    EXPECT_EQ(done_reports.back(), n);
    EXPECT_EQ(first_wrong(output), n);
  }
}

TYPED_TEST(ParallelMapIntoTest, AFailingItemArrivesAsItemErrorAndLeavesOldValuesWhereNothingRan) {
  auto pool = TypeParam::make(3);
  const std::size_t n = 30'000;
  const std::vector<std::uint64_t> input = iota_vector(n);
  for (const NamedChunking& c : every_chunking()) {
    SCOPED_TRACE(c.name);
    for (std::size_t failing : {std::size_t{0}, n / 2, n - 1}) {
      std::vector<std::uint64_t> output(n, 0);
      try {
        parallel_map_into(
            *pool, input, output,
            [failing](std::uint64_t x) {
              if (x == failing) throw std::domain_error(std::to_string(x));
              return mix(x);
            },
            with(c.chunking));
        ADD_FAILURE() << "parallel_map_into did not throw";
      } catch (const ItemError& e) {
        EXPECT_EQ(e.index(), failing);
        EXPECT_EQ(message_of<std::domain_error>([&] { e.rethrow_original(); }),
                  std::to_string(failing));
        const std::string what = e.what();
        EXPECT_NE(what.find("forage::parallel_map_into"), std::string::npos) << what;
      }
      std::size_t neither = 0;
      for (std::size_t i = 0; i < n; ++i) neither += output[i] == 0 || output[i] == mix(i) ? 0 : 1;
      EXPECT_EQ(neither, 0u);
      EXPECT_EQ(output[failing], 0u);
    }
  }
}

TYPED_TEST(ParallelMapIntoTest, WorksFromInsideATask) {
  auto pool = TypeParam::make(2);
  std::vector<std::uint64_t> output(10'000);
  pool->submit([&] {
        parallel_map_into(*pool, iota_vector(output.size()), output,
                          [](std::uint64_t x) { return mix(x); });
      })
      .get();
  EXPECT_EQ(first_wrong(output), output.size());
}

}  // namespace
}  // namespace forage
