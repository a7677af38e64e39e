// How one chunk of each forage::mpi algorithm is computed on a rank's pool (ChunkRunner,
// detail/dispatch.hpp): inside a chunk, forage's own parallel_for / parallel_map /
// parallel_reduce, so the pool's threads steal as on one machine.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <stop_token>
#include <utility>
#include <vector>

#include "forage/algorithm.hpp"
#include "forage/export.hpp"
#include "forage/mpi/codec.hpp"
#include "forage/mpi/detail/dispatch.hpp"
#include "forage/pool.hpp"

namespace forage::mpi::detail {

// Runs a chunk as one task on the pool, which runs forage's algorithm on it; the calling
// thread only waits and polls MPI.
class FORAGE_API PoolRunner : public ChunkRunner {
 public:
  explicit PoolRunner(Pool& pool) : pool_(pool) {}

  bool wait_for(std::chrono::microseconds timeout) override { return running_.wait_for(timeout); }

  ChunkStatus finish(ChunkFailure& failure) override {
    try {
      running_.get();
      commit(chunk_);
      return ChunkStatus::done;
    } catch (const ItemError& e) {
      failure = {chunk_.first + e.index(), rt::exception_message(e.original())};
    } catch (const Cancelled&) {
      return ChunkStatus::stopped;
    } catch (...) {
      failure = {chunk_.first, rt::exception_message(std::current_exception())};
    }
    return ChunkStatus::failed;
  }

 protected:
  template <class Compute>
  void launch(Chunk chunk, Compute compute) {
    chunk_ = chunk;
    running_ = pool_.submit(std::move(compute));
  }
  // The chunk's results are complete (on the calling thread, after the task).
  virtual void commit(Chunk) {}

  Pool& pool_;

 private:
  Chunk chunk_{0, 0};
  Future<void> running_;
};

// Where a map's items come from: the caller's input, or the chunk that travelled to this rank
// (Inputs::at_root, off the root).
template <class Range>
class ItemSource {
 public:
  using Input = forage::detail::IndexedInput<Range>;
  using Value = std::remove_cvref_t<std::ranges::range_value_t<Range>>;

  ItemSource(const Input& input, bool travels) : input_(input), travels_(travels) {}

  bool travels() const noexcept { return travels_; }
  // fn(item `index`), from wherever the item is.
  template <class R, class F>
  R call(F& fn, std::size_t index) const {
    if constexpr (Encodable<Value>) {
      if (travels_) return std::invoke(fn, chunk_[index - first_]);
    }
    return std::invoke(fn, input_[index]);
  }

  // Root: the inputs of a chunk, as bytes.
  std::span<const std::byte> bytes_of(Chunk chunk, std::vector<std::byte>& scratch) const {
    if constexpr (Encodable<Value>) {
      if constexpr (kBytewise<Value> && std::ranges::contiguous_range<Range>) {
        return std::as_bytes(std::span(&input_[chunk.first], chunk.size()));
      } else {
        Writer out(scratch);
        for (std::size_t i = chunk.first; i < chunk.last; ++i) Codec<Value>::encode(input_[i], out);
        return scratch;
      }
    } else {
      throw MpiError("forage::mpi: the input type has no Codec");  // refused at the call
    }
  }
  // Off the root: where the next chunk's input bytes go; items that travel as bytes land in
  // place, in the vector fn will read them from.
  std::span<std::byte> buffer_for(Chunk chunk, std::size_t bytes) {
    next_ = chunk;
    if constexpr (kDirect) {
      if (bytes != chunk.size() * sizeof(Value)) {
        throw MpiError("forage::mpi: a chunk's inputs arrived with the wrong size");
      }
      next_values_.resize(chunk.size());
      return std::as_writable_bytes(std::span(next_values_));
    }
    next_bytes_.resize(bytes);
    return next_bytes_;
  }
  // On the calling thread, as the chunk starts: what arrived becomes the current chunk's, so
  // that the next chunk's inputs can arrive while this one runs.
  void take_next() {
    current_ = next_;
    if constexpr (kDirect) {
      first_ = current_.first;
      std::swap(chunk_, next_values_);
    } else {
      std::swap(current_bytes_, next_bytes_);
    }
  }
  // In the chunk's task: decode the current chunk's inputs (unless they arrived in place).
  void unpack() {
    if constexpr (Encodable<Value> && !kDirect) {
      if (!travels_) return;
      first_ = current_.first;
      chunk_.clear();
      chunk_.reserve(current_.size());
      Reader in(current_bytes_.data(), current_bytes_.size());
      for (std::size_t i = 0; i < current_.size(); ++i) chunk_.push_back(Codec<Value>::decode(in));
    }
  }

 private:
  static constexpr bool kDirect = [] {
    if constexpr (Encodable<Value>) {
      return kBytewise<Value> && std::is_default_constructible_v<Value>;
    } else {
      return false;
    }
  }();

  const Input& input_;
  bool travels_;
  Chunk next_{0, 0};  // the calling thread's: the chunk whose inputs arrived last
  std::vector<std::byte> next_bytes_;
  Chunk current_{0, 0};  // the running chunk's, read by its task
  std::vector<std::byte> current_bytes_;
  std::size_t first_ = 0;
  mutable std::vector<Value> chunk_;  // items are handed to fn mutable, as on one machine
  std::vector<Value> next_values_;    // kDirect: the next chunk's items, received in place
};

}  // namespace forage::mpi::detail
