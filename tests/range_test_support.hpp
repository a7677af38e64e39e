// Helpers shared by the algorithm tests (algorithm_test.cpp, map_stream_test.cpp,
// stress/algorithm_stress_test.cpp): inputs, the mapped function, and named chunkings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <numeric>
#include <ranges>
#include <thread>
#include <vector>

#include "forage/map_options.hpp"

namespace forage::test {

// What the mapped function returns for x: spread out, so a result landing in the wrong slot
// is seen.
constexpr std::uint64_t mix(std::uint64_t x) { return (x + 1) * 0x9E3779B97F4A7C15ULL ^ (x >> 7); }

// 0, 1, ..., n-1.
inline std::vector<std::uint64_t> iota_vector(std::size_t n) {
  std::vector<std::uint64_t> values(n);
  std::iota(values.begin(), values.end(), std::uint64_t{0});
  return values;
}

// A chunking and its name for SCOPED_TRACE.
struct NamedChunking {
  const char* name;
  Chunking chunking;
};

// 0, 1, 2, ... below `limit`: a single-pass range without a size, like a generator. It counts
// the items read and notes a read from another thread than the one that made it (the stream
// documents reading its input on the consuming thread; a read elsewhere is also a data race
// on the plain counters, which TSan reports).
class CountingInput {
 public:
  class iterator {
   public:
    using value_type = std::size_t;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    explicit iterator(CountingInput* owner) : owner_(owner) {}
    std::size_t operator*() const {
      owner_->note_read();
      return owner_->next_;
    }
    iterator& operator++() {
      ++owner_->next_;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

   private:
    bool at_end() const { return owner_->next_ == owner_->limit_; }

    CountingInput* owner_ = nullptr;
  };

  explicit CountingInput(std::size_t limit) : limit_(limit) {}
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const { return std::default_sentinel; }

  std::size_t reads() const { return reads_; }
  bool read_elsewhere() const { return read_elsewhere_; }

 private:
  void note_read() {
    ++reads_;
    if (std::this_thread::get_id() != owner_thread_) read_elsewhere_ = true;
  }

  std::size_t next_ = 0;
  std::size_t limit_;
  std::size_t reads_ = 0;
  bool read_elsewhere_ = false;
  std::thread::id owner_thread_ = std::this_thread::get_id();
};
static_assert(std::ranges::input_range<CountingInput>);
static_assert(!std::ranges::forward_range<CountingInput>);
static_assert(!std::ranges::sized_range<CountingInput>);

}  // namespace forage::test
