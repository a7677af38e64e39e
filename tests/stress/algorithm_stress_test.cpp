// Long concurrent runs of the parallel algorithms: several outside threads sharing one pool
// with random sizes, chunkings and failures, nested maps, and imap/imap_unordered over many
// small chunks with early exits. Sizes shrink under sanitizers (test_support.hpp); a watchdog
// turns a hang into a failure; threads count problems into atomics and only the main thread
// asserts.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "range_test_support.hpp"
#include "test_support.hpp"

namespace forage {
namespace {

template <class System>
class AlgorithmStress : public ::testing::Test {};

using test::Systems;
TYPED_TEST_SUITE(AlgorithmStress, Systems);

using test::iota_vector;
using test::mix;

Chunking random_chunking(std::minstd_rand& rng) {
  switch (rng() % 4) {
    case 0:
      return Chunking::adaptive();
    case 1:
      return Chunking::python();
    case 2:
      return Chunking::fixed(1 + rng() % 3);
    default:
      return Chunking::fixed(1 + rng() % 200);
  }
}

MapOptions random_options(std::minstd_rand& rng) {
  MapOptions options;
  options.chunking = random_chunking(rng);
  if (rng() % 2 == 0) options.max_in_flight = 1 + rng() % 16;
  return options;
}

// Problems seen on any thread; the main thread asserts on them.
struct Problems {
  std::atomic<std::size_t> wrong_results{0};
  std::atomic<std::size_t> wrong_errors{0};
  std::atomic<std::size_t> unexpected_exceptions{0};

  // relaxed (all): counts read after the threads were joined.
  void wrong_result() { wrong_results.fetch_add(1, std::memory_order_relaxed); }
  void wrong_error() { wrong_errors.fetch_add(1, std::memory_order_relaxed); }
  void unexpected() { unexpected_exceptions.fetch_add(1, std::memory_order_relaxed); }

  void expect_none() const {
    EXPECT_EQ(wrong_results.load(std::memory_order_relaxed), 0u);
    EXPECT_EQ(wrong_errors.load(std::memory_order_relaxed), 0u);
    EXPECT_EQ(unexpected_exceptions.load(std::memory_order_relaxed), 0u);
  }
};

// One random algorithm call on `pool`, checked. With probability 1/8 one item throws, and the
// call must report exactly that item.
template <class PoolType>
void random_call(PoolType& pool, std::minstd_rand& rng, Problems& problems) {
  const std::size_t n = rng() % 4 == 0 ? rng() % 8 : rng() % 3000;
  const MapOptions options = random_options(rng);
  const std::optional<std::size_t> failing =
      n > 0 && rng() % 8 == 0 ? std::optional<std::size_t>(rng() % n) : std::nullopt;
  const std::vector<std::uint64_t> input = iota_vector(n);
  auto fn = [failing](std::uint64_t x) {
    if (failing && x == *failing) throw std::runtime_error("planned");
    return mix(x);
  };
  try {
    switch (rng() % 5) {
      case 0: {
        const auto out = parallel_map(pool, input, fn, options);
        for (std::size_t i = 0; i < n; ++i) {
          if (out[i] != mix(i)) problems.wrong_result();
        }
        break;
      }
      case 1: {
        const std::uint64_t sum = parallel_reduce(
            pool, std::size_t{0}, n, std::uint64_t{0}, fn,
            [](std::uint64_t a, std::uint64_t b) { return a + b; }, options);
        std::uint64_t expected = 0;
        for (std::size_t i = 0; i < n; ++i) expected += mix(i);
        if (sum != expected) problems.wrong_result();
        break;
      }
      case 2: {
        std::vector<std::uint64_t> values = input;
        parallel_for_each(
            pool, values, [&fn](std::uint64_t& v) { v = fn(v); }, options);
        for (std::size_t i = 0; i < n; ++i) {
          if (values[i] != mix(i)) problems.wrong_result();
        }
        break;
      }
      case 3: {
        std::size_t index = 0;
        for (std::uint64_t r : imap(pool, std::vector<std::uint64_t>(input), fn, options)) {
          if (r != mix(index++)) problems.wrong_result();
        }
        if (index != n) problems.wrong_result();
        break;
      }
      default: {
        std::vector<std::uint8_t> seen(n, 0);
        for (const auto& [index, r] :
             imap_unordered(pool, std::vector<std::uint64_t>(input), fn, options)) {
          if (index >= n || r != mix(index) || seen[index]++ != 0) problems.wrong_result();
        }
        if (static_cast<std::size_t>(std::count(seen.begin(), seen.end(), 1)) != n) {
          problems.wrong_result();
        }
        break;
      }
    }
    if (failing) problems.wrong_error();  // the planned failure did not arrive
  } catch (const ItemError& e) {
    if (!failing || e.index() != *failing) problems.wrong_error();
  } catch (...) {
    problems.unexpected();
  }
}

TYPED_TEST(AlgorithmStress, ConcurrentCallsFromOutsideThreadsShareOnePool) {
  test::Watchdog watchdog("ConcurrentCallsFromOutsideThreadsShareOnePool",
                          std::chrono::seconds(300));
  const std::uint64_t seed = test::test_seed();
  std::cout << "seed " << seed << "\n";
  for (std::size_t workers : {2, 4}) {
    auto pool = TypeParam::make(workers);
    Problems problems;
    const std::size_t calls = test::scaled(400);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        std::minstd_rand rng(static_cast<std::uint32_t>(seed + t * 7919 + workers));
        for (std::size_t k = 0; k < calls; ++k) random_call(*pool, rng, problems);
      });
    }
    for (std::thread& thread : threads) thread.join();
    SCOPED_TRACE(testing::Message() << workers << " workers");
    problems.expect_none();
  }
}

TYPED_TEST(AlgorithmStress, NestedCallsFromOutsideThreadsAndTasks) {
  test::Watchdog watchdog("NestedCallsFromOutsideThreadsAndTasks", std::chrono::seconds(300));
  const std::uint64_t seed = test::test_seed();
  std::cout << "seed " << seed << "\n";
  for (std::size_t workers : {2, 4}) {
    auto pool = TypeParam::make(workers);
    Problems problems;
    const std::size_t rounds = test::scaled(40);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 3; ++t) {
      threads.emplace_back([&, t] {
        std::minstd_rand rng(static_cast<std::uint32_t>(seed + t * 104729 + workers));
        for (std::size_t k = 0; k < rounds; ++k) {
          const std::size_t outer = 1 + rng() % 12;
          const MapOptions options = random_options(rng);
          const std::uint32_t inner_seed = static_cast<std::uint32_t>(rng());
          try {
            // Every outer item makes random inner calls on the same pool, from a worker.
            const auto done = parallel_map(
                *pool, iota_vector(outer),
                [&](std::uint64_t i) {
                  std::minstd_rand inner_rng(inner_seed + static_cast<std::uint32_t>(i));
                  for (int c = 0; c < 3; ++c) random_call(*pool, inner_rng, problems);
                  return i;
                },
                options);
            for (std::size_t i = 0; i < outer; ++i) {
              if (done[i] != i) problems.wrong_result();
            }
          } catch (...) {
            problems.unexpected();
          }
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    SCOPED_TRACE(testing::Message() << workers << " workers");
    problems.expect_none();
  }
}

TYPED_TEST(AlgorithmStress, StreamsOfManySmallChunksWithEarlyExits) {
  test::Watchdog watchdog("StreamsOfManySmallChunksWithEarlyExits", std::chrono::seconds(300));
  const std::uint64_t seed = test::test_seed();
  std::cout << "seed " << seed << "\n";
  for (std::size_t workers : {2, 4}) {
    auto pool = TypeParam::make(workers);
    Problems problems;
    std::atomic<std::size_t> over_window{0};
    const std::size_t n = test::scaled(100'000);
    const std::vector<std::uint64_t> input = iota_vector(n);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 3; ++t) {
      threads.emplace_back([&, t] {
        std::minstd_rand rng(static_cast<std::uint32_t>(seed + t * 31337 + workers));
        // One long stream of single items, then short ones left at random points.
        for (std::size_t round = 0; round < 1 + test::scaled(30); ++round) {
          const std::size_t window = 1 + rng() % 8;
          MapOptions options;
          options.chunking = Chunking::fixed(1);
          options.max_in_flight = window;
          const std::size_t stop_after = round == 0 ? n : 1 + rng() % 2000;
          std::atomic<std::size_t> computed{0};
          auto fn = [&computed](std::uint64_t x) {
            computed.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count
            return mix(x);
          };
          std::size_t consumed = 0;
          try {
            if (rng() % 2 == 0) {
              for (std::uint64_t r : imap(*pool, std::vector<std::uint64_t>(input), fn, options)) {
                if (r != mix(consumed)) problems.wrong_result();
                if (++consumed == stop_after) break;
              }
            } else {
              for (const auto& [index, r] :
                   imap_unordered(*pool, std::vector<std::uint64_t>(input), fn, options)) {
                if (r != mix(index)) problems.wrong_result();
                if (++consumed == stop_after) break;
              }
            }
          } catch (...) {
            problems.unexpected();
          }
          if (consumed != std::min(stop_after, n)) problems.wrong_result();
          // relaxed: the stream's destructor waited for every item that ran.
          if (computed.load(std::memory_order_relaxed) > consumed + window) {
            over_window.fetch_add(1, std::memory_order_relaxed);
          }
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    SCOPED_TRACE(testing::Message() << workers << " workers");
    problems.expect_none();
    EXPECT_EQ(over_window.load(std::memory_order_relaxed), 0u);
  }
}

}  // namespace
}  // namespace forage
