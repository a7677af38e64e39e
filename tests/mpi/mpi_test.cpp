// forage::mpi under mpiexec: 1, 2, 3 and 4 ranks over shared memory, 2 and 3 over TCP
// (tests/CMakeLists.txt), and as a singleton without mpiexec. Every rank runs every test:
// the calls are collective, so a test never returns early on some ranks only (EXPECT, not
// ASSERT, before a later call). main() combines the ranks' verdicts.
#include "forage/mpi.hpp"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace {

forage::mpi::Cluster* cluster_ptr = nullptr;
forage::mpi::Cluster& cluster() { return *cluster_ptr; }
bool is_root() { return cluster().rank() == 0; }

std::int64_t sum_over_ranks(std::int64_t value) {
  std::int64_t total = 0;
  MPI_Allreduce(&value, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  return total;
}
std::int64_t max_over_ranks(std::int64_t value) {
  std::int64_t most = 0;
  MPI_Allreduce(&value, &most, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
  return most;
}

std::vector<double> numbers(std::size_t n) {
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<double>(i) * 0.5;
  return out;
}
double square_plus_one(double x) { return x * x + 1.0; }

}  // namespace

// A user type with its codec.
struct Particle {
  std::string name;
  double mass = 0;
  friend bool operator==(const Particle&, const Particle&) = default;
};

template <>
struct forage::mpi::Codec<Particle> {
  static void encode(const Particle& p, Writer& out) {
    forage::mpi::encode(p.name, out);
    forage::mpi::encode(p.mass, out);
  }
  static Particle decode(Reader& in) {
    auto name = forage::mpi::decode<std::string>(in);
    return Particle{std::move(name), forage::mpi::decode<double>(in)};
  }
};

// A codec that fails to encode 13 on rank 0 only: where Results::everywhere encodes them all.
struct Fragile {
  int value = 0;
};

template <>
struct forage::mpi::Codec<Fragile> {
  static void encode(const Fragile& f, Writer& out) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0 && f.value == 13) throw std::runtime_error("cannot encode 13");
    out.write(&f.value, sizeof f.value);
  }
  static Fragile decode(Reader& in) {
    Fragile f;
    in.read(&f.value, sizeof f.value);
    return f;
  }
};

static_assert(forage::mpi::Encodable<std::tuple<int, std::string, std::vector<double>>>);
static_assert(!forage::mpi::Encodable<int*>, "pointers mean nothing on another rank");

TEST(MpiMap, ResultsEqualTheSerialMapInOrderForEdgeSizes) {
  const auto ranks = static_cast<std::size_t>(cluster().size());
  for (std::size_t n :
       {std::size_t{0}, std::size_t{1}, ranks - 1, ranks + 1, std::size_t{1000000}}) {
    const std::vector<double> in = numbers(n);
    auto out = forage::mpi::parallel_map(cluster(), in, square_plus_one);
    if (is_root()) {
      ASSERT_TRUE(out.has_value());
      ASSERT_EQ(out->size(), n);
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < n; ++i) wrong += (*out)[i] != square_plus_one(in[i]) ? 1 : 0;
      EXPECT_EQ(wrong, 0U) << "n = " << n;
    } else {
      EXPECT_FALSE(out.has_value());
    }
  }
}

TEST(MpiMap, EveryItemIsMappedExactlyOnceAcrossRanks) {
  constexpr std::int64_t kItems = 100000;
  std::atomic<std::int64_t> count{0};
  std::atomic<std::int64_t> index_sum{0};
  forage::mpi::parallel_for(cluster(), std::int64_t{0}, kItems, [&](std::int64_t i) {
    count.fetch_add(1, std::memory_order_relaxed);      // relaxed: read after the call returns
    index_sum.fetch_add(i, std::memory_order_relaxed);  // relaxed: as count
  });
  EXPECT_EQ(sum_over_ranks(count.load(std::memory_order_relaxed)), kItems);  // relaxed: joined
  EXPECT_EQ(sum_over_ranks(index_sum.load(std::memory_order_relaxed)),
            kItems * (kItems - 1) / 2);  // relaxed: joined
}

TEST(MpiMap, SlowedRankGetsNoMoreItemsThanTheOthers) {
  if (cluster().size() < 2) GTEST_SKIP() << "needs two ranks";
  constexpr std::int64_t kItems = 2000;
  std::atomic<std::int64_t> mine{0};
  forage::mpi::parallel_for(cluster(), std::int64_t{0}, kItems, [&](std::int64_t) {
    mine.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the call returns
    if (cluster().rank() == 1) std::this_thread::sleep_for(std::chrono::microseconds(200));
  });
  const std::int64_t own = mine.load(std::memory_order_relaxed);  // relaxed: joined
  const std::int64_t slowed = max_over_ranks(cluster().rank() == 1 ? own : 0);
  const std::int64_t total = sum_over_ranks(own);
  EXPECT_EQ(total, kItems);
  EXPECT_LE(slowed, total - slowed) << "the slowed rank computed " << slowed << " of " << total;
  if (is_root())
    std::printf("slowed rank 1 computed %lld of %lld items\n", static_cast<long long>(slowed),
                static_cast<long long>(total));
}

TEST(MpiMap, InputsAtRootTravelWithTheirChunks) {
  const int root = cluster().size() - 1;  // not rank 0, on purpose
  const bool holds = cluster().rank() == root;
  const std::vector<double> all = numbers(5000);
  const std::vector<double> in = holds ? all : std::vector<double>{};
  auto out = forage::mpi::parallel_map(cluster(), in, square_plus_one,
                                       {.results = forage::mpi::Results::everywhere,
                                        .inputs = forage::mpi::Inputs::at_root,
                                        .root = root});
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->size(), all.size());
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ((*out)[i], square_plus_one(all[i]));
}

TEST(MpiMap, ResultsEverywhereAreOnEveryRank) {
  std::vector<int> in(777);
  std::iota(in.begin(), in.end(), 0);
  auto out = forage::mpi::parallel_map(cluster(), in, [](int x) { return std::to_string(x * 3); },
                                       {.results = forage::mpi::Results::everywhere});
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) EXPECT_EQ((*out)[i], std::to_string(in[i] * 3));
}

TEST(MpiMap, ResultsDistributedStayWhereTheyWereComputed) {
  std::vector<int> in(10000);
  std::iota(in.begin(), in.end(), 0);
  auto pieces = forage::mpi::parallel_map_distributed(cluster(), in, [](int x) { return x + 1; });
  std::int64_t held = 0;
  std::size_t next_first = 0;
  for (const auto& piece : pieces) {
    EXPECT_GE(piece.first, next_first) << "pieces come in input order";
    next_first = piece.first + piece.values.size();
    for (std::size_t k = 0; k < piece.values.size(); ++k) {
      EXPECT_EQ(piece.values[k], in[piece.first + k] + 1);
    }
    held += static_cast<std::int64_t>(piece.values.size());
  }
  EXPECT_EQ(sum_over_ranks(held), 10000);
}

TEST(MpiMap, StringsAndUserTypesTravelThroughTheirCodecs) {
  std::vector<std::string> in;
  if (is_root()) {
    for (int i = 0; i < 300; ++i)
      in.push_back(std::string(static_cast<std::size_t>(i % 17), 'a') + std::to_string(i));
  }
  auto out = forage::mpi::parallel_map(
      cluster(), in,
      [](const std::string& name) {
        return Particle{name + "!", static_cast<double>(name.size())};
      },
      {.results = forage::mpi::Results::everywhere, .inputs = forage::mpi::Inputs::at_root});
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->size(), 300U);
  for (int i = 0; i < 300; ++i) {
    const std::string name = std::string(static_cast<std::size_t>(i % 17), 'a') + std::to_string(i);
    EXPECT_EQ((*out)[static_cast<std::size_t>(i)],
              (Particle{name + "!", static_cast<double>(name.size())}));
  }
}

TEST(MpiMap, ProgressReachesTheTotalOnTheRoot) {
  std::vector<std::size_t> seen;
  const std::vector<double> in = numbers(20000);
  auto out = forage::mpi::parallel_map(
      cluster(), in, square_plus_one,
      {.on_progress = [&seen](std::size_t done, std::size_t) { seen.push_back(done); }});
  if (is_root()) {
    ASSERT_FALSE(seen.empty());
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(seen.back(), in.size());
  } else {
    EXPECT_TRUE(seen.empty());
  }
}

TEST(MpiErrors, ExceptionOnOneRankIsRemoteErrorOnEveryRank) {
  const int thrower = cluster().size() > 1 ? 1 : 0;
  std::atomic<std::int64_t> thrown_at{-1};
  std::vector<int> in(20000);
  std::iota(in.begin(), in.end(), 0);
  bool caught = false;
  try {
    forage::mpi::parallel_map(cluster(), in, [&](int x) {
      if (cluster().rank() == thrower) {
        std::int64_t none = -1;
        // acq_rel/relaxed: only the first throw records its index; read after the call.
        thrown_at.compare_exchange_strong(none, x, std::memory_order_acq_rel,
                                          std::memory_order_relaxed);
        throw std::runtime_error("bad item " + std::to_string(x));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(5));  // the others are busy
      return x;
    });
  } catch (const forage::mpi::RemoteError& e) {
    caught = true;
    const std::int64_t index =
        max_over_ranks(thrown_at.load(std::memory_order_acquire));  // pairs with the CAS
    EXPECT_EQ(e.rank(), thrower);
    EXPECT_EQ(static_cast<std::int64_t>(e.index()), index);
    EXPECT_EQ(e.message(), "bad item " + std::to_string(index));
    EXPECT_NE(std::string(e.what()).find("rank " + std::to_string(thrower)), std::string::npos);
  }
  EXPECT_TRUE(caught);
  // The cluster is still usable.
  auto again = forage::mpi::parallel_map(cluster(), in, [](int x) { return x; },
                                         {.results = forage::mpi::Results::everywhere});
  EXPECT_EQ(again->size(), in.size());
}

TEST(MpiErrors, CodecFailureOnTheRootIsRemoteErrorOnEveryRank) {
  std::vector<int> in(100);
  std::iota(in.begin(), in.end(), 0);
  try {
    forage::mpi::parallel_map(cluster(), in, [](int x) { return Fragile{x}; },
                              {.results = forage::mpi::Results::everywhere});
    ADD_FAILURE() << "no RemoteError";
  } catch (const forage::mpi::RemoteError& e) {
    EXPECT_EQ(e.rank(), 0);
    EXPECT_NE(e.message().find("cannot encode 13"), std::string::npos) << e.message();
  }
}

TEST(MpiErrors, DifferentSizesOnDifferentRanksAreCallMismatchEverywhere) {
  if (cluster().size() < 2) GTEST_SKIP() << "needs two ranks";
  const std::vector<double> in = numbers(cluster().rank() == 1 ? 11 : 10);
  EXPECT_THROW(forage::mpi::parallel_map(cluster(), in, square_plus_one),
               forage::mpi::CallMismatch);
  // A different algorithm on one rank: the same.
  if (cluster().rank() == 1) {
    EXPECT_THROW(forage::mpi::parallel_for(cluster(), 0, 10, [](int) {}),
                 forage::mpi::CallMismatch);
  } else {
    EXPECT_THROW(forage::mpi::parallel_map(cluster(), numbers(10), square_plus_one),
                 forage::mpi::CallMismatch);
  }
  const auto out = forage::mpi::parallel_map(cluster(), numbers(10), square_plus_one);
  EXPECT_EQ(out.has_value(), is_root());
}

TEST(MpiErrors, SameCountFromADifferentBeginIsCallMismatchEverywhere) {
  if (cluster().size() < 2) GTEST_SKIP() << "needs two ranks";
  const int begin = cluster().rank() == 1 ? 5 : 0;
  EXPECT_THROW(forage::mpi::parallel_for(cluster(), begin, begin + 10, [](int) {}),
               forage::mpi::CallMismatch);
  EXPECT_THROW(forage::mpi::parallel_reduce(
                   cluster(), std::int64_t{begin} - 7, std::int64_t{begin} + 3, std::int64_t{0},
                   [](std::int64_t i) { return i; }, std::plus<>{}),
               forage::mpi::CallMismatch);
  // A negative begin that every rank agrees on is fine.
  EXPECT_EQ(forage::mpi::parallel_reduce(
                cluster(), std::int64_t{-5}, std::int64_t{5}, std::int64_t{0},
                [](std::int64_t i) { return i; }, std::plus<>{}),
            -5);
}

TEST(MpiErrors, BadArgumentsAreTypedErrorsOnEveryRank) {
  const std::vector<double> in = numbers(10);
  EXPECT_THROW(
      forage::mpi::parallel_map(cluster(), in, square_plus_one, {.root = cluster().size()}),
      forage::InvalidArgument);
  EXPECT_THROW(forage::mpi::parallel_map(cluster(), in, square_plus_one,
                                         {.results = forage::mpi::Results::distributed}),
               forage::InvalidArgument);
  if (cluster().size() > 1) {  // non-empty inputs off the root under Inputs::at_root
    EXPECT_THROW(forage::mpi::parallel_map(cluster(), in, square_plus_one,
                                           {.inputs = forage::mpi::Inputs::at_root}),
                 forage::Error);
  }
}

TEST(MpiAlgorithms, ParallelReduceCombinesInIndexOrderOnEveryRank) {
  const std::uint64_t sum = forage::mpi::parallel_reduce(
      cluster(), std::uint64_t{0}, std::uint64_t{100000}, std::uint64_t{0},
      [](std::uint64_t i) { return i * i; },
      [](std::uint64_t a, std::uint64_t b) { return a + b; });
  const std::uint64_t n = 100000;
  EXPECT_EQ(sum, (n - 1) * n * (2 * n - 1) / 6);
  // Not commutative: the order shows.
  const std::string digits = forage::mpi::parallel_reduce(
      cluster(), 0, 500, std::string{}, [](int i) { return std::to_string(i % 10); },
      [](std::string a, const std::string& b) { return a + b; });
  std::string expected;
  for (int i = 0; i < 500; ++i) expected += std::to_string(i % 10);
  EXPECT_EQ(digits, expected);
  EXPECT_EQ(forage::mpi::parallel_reduce(
                cluster(), 5, 5, 42, [](int i) { return i; }, std::plus<>{}),
            42);
}

TEST(MpiEnvironment, AdoptsTheRunningMpi) {
  forage::mpi::Environment again;
  EXPECT_FALSE(again.owns_mpi());
  EXPECT_GE(again.thread_level(), MPI_THREAD_FUNNELED);
}

// Off the root: only the failed assertions, each with its rank.
class FailuresOnly : public ::testing::EmptyTestEventListener {
 public:
  explicit FailuresOnly(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "rank %d: %s:%d: %s\n", rank_,
                 result.file_name() ? result.file_name() : "?", result.line_number(),
                 result.summary());
  }

 private:
  int rank_;
};

int main(int argc, char** argv) {
  forage::mpi::Environment env(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {  // one report: the root's (a failure elsewhere still fails the job below)
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailuresOnly(rank));
  }
  int failed = 0;
  {
    forage::Pool pool({.workers = 1, .pinning = forage::Pinning::none});
    forage::mpi::Cluster cluster(MPI_COMM_WORLD, pool);
    cluster_ptr = &cluster;
    const int mine = RUN_ALL_TESTS();
    MPI_Allreduce(&mine, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (mine != 0) std::fprintf(stderr, "mpi_test: rank %d failed\n", rank);
    cluster_ptr = nullptr;
  }
  return failed;
}
