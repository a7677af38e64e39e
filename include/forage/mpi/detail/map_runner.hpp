// One chunk of forage::mpi::parallel_map on a rank, and where its results go: built in place
// in the root's output (types that travel as bytes), or as a piece the root decodes and
// moves into place at the end (other types), or kept where they were computed
// (Results::distributed).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "forage/mpi/detail/runners.hpp"
#include "forage/result_allocator.hpp"

namespace forage::mpi::detail {

// Item k of a chunk is item first + k of the input.
struct ChunkIndices {
  std::size_t first;
  std::size_t operator[](std::size_t k) const noexcept { return first + k; }
};

template <class Range, class F, class R>
class MapRunner final : public PoolRunner {
  static_assert(!std::is_same_v<R, bool>,
                "forage::mpi::parallel_map: fn returns bool, which std::vector<bool> packs 8 to "
                "a byte; return char or std::uint8_t instead");

 public:
  MapRunner(Pool& pool, const ItemSource<Range>& source, F& fn, bool root, bool gathers,
            std::size_t total)
      : PoolRunner(pool),
        source_(source),
        fn_(fn),
        root_(root),
        gathers_(gathers),
        storage_(root && gathers && kInPlace ? total : 0) {}

  std::span<const std::byte> input_bytes(Chunk chunk, std::vector<std::byte>& scratch) override {
    return source_.bytes_of(chunk, scratch);
  }
  std::span<std::byte> input_buffer(Chunk chunk, std::size_t bytes) override {
    return source_.buffer_for(chunk, bytes);
  }

  void start(Chunk chunk, std::stop_token stop) override {
    if (source_.travels()) source_.take_next();
    R* out = storage_.data();
    std::size_t offset = 0;
    if (kInPlace && gathers_ && !root_) {
      if (capacity_ < chunk.size()) {
        buffer_ = std::make_unique_for_overwrite<R[]>(chunk.size());
        capacity_ = chunk.size();
      }
      out = buffer_.get();
      offset = chunk.first;
    }
    launch(chunk, [this, chunk, stop, out, offset] {
      source_.unpack();
      const forage::MapOptions options{.stop = stop};
      auto item = [this](std::size_t index) { return source_.template call<R>(fn_, index); };
      if (kInPlace && gathers_) {
        forage::parallel_for(
            pool_, chunk.first, chunk.last,
            [&item, out, offset](std::size_t index) {
              ::new (out + (index - offset)) R(item(index));
            },
            options);
        return;
      }
      // parallel_map's own engine over the chunk's indices: each result constructed in place,
      // those built destroyed if an item fails.
      const ChunkIndices indices{chunk.first};
      forage::detail::ResultStorage<R> storage(chunk.size());
      forage::detail::MapBody<ChunkIndices, decltype(item), R> body{indices, item, storage.data()};
      forage::detail::run_range(pool_, chunk.size(), body, options, "forage::mpi::parallel_map");
      built_ = std::move(storage).adopt();
      if (gathers_ && !root_) {
        bytes_.clear();
        Writer writer(bytes_);
        for (const R& result : built_) Codec<R>::encode(result, writer);
      }
    });
  }

  std::span<const std::byte> result_bytes() override {
    if (!gathers_) return {};
    if constexpr (kInPlace) return std::as_bytes(std::span(buffer_.get(), last_size_));
    return bytes_;
  }

  std::span<std::byte> result_buffer(Chunk chunk, std::size_t bytes) override {
    if constexpr (kInPlace) {
      if (bytes != chunk.size() * sizeof(R)) {
        throw MpiError("forage::mpi: a chunk's results arrived with the wrong size");
      }
      return std::as_writable_bytes(std::span(storage_.data() + chunk.first, chunk.size()));
    }
    bytes_.resize(bytes);
    return bytes_;
  }

  void results_arrived(Chunk chunk) override {
    if constexpr (!kInPlace) {
      Reader reader(bytes_.data(), bytes_.size());
      MapResults<R> piece;
      piece.reserve(chunk.size());
      for (std::size_t i = 0; i < chunk.size(); ++i) piece.push_back(Codec<R>::decode(reader));
      pieces_.emplace(chunk.first, std::move(piece));
    }
  }

  // Root, after a call that succeeded: every result, in order.
  MapResults<R> gathered(std::size_t total) && {
    if constexpr (kInPlace) {
      (void)total;
      return std::move(storage_).adopt();
    } else {
      MapResults<R> all;
      all.reserve(total);
      for (auto& [first, piece] : pieces_) {
        std::move(piece.begin(), piece.end(), std::back_inserter(all));
      }
      return all;
    }
  }

  // Results::distributed: this rank's pieces, in input order.
  std::vector<Piece<R>> pieces() && {
    std::vector<Piece<R>> out;
    out.reserve(pieces_.size());
    for (auto& [first, piece] : pieces_) out.push_back(Piece<R>{first, std::move(piece)});
    return out;
  }

 private:
  // Results that travel as bytes are built where they are sent from or stay; the rest as
  // pieces.
  static constexpr bool kInPlace = kBytewise<R> && std::is_trivially_destructible_v<R>;

  void commit(Chunk chunk) override {
    last_size_ = chunk.size();
    if (kInPlace && gathers_) return;
    if (!gathers_ || root_) pieces_.emplace(chunk.first, std::move(built_));
  }

  ItemSource<Range> source_;
  F& fn_;
  bool root_;
  bool gathers_;
  forage::detail::ResultStorage<R> storage_;  // the root's output, when kInPlace
  std::unique_ptr<R[]> buffer_;               // a chunk's results off the root, when kInPlace
  std::size_t capacity_ = 0;
  std::size_t last_size_ = 0;
  MapResults<R> built_;                          // the last chunk's results, otherwise
  std::vector<std::byte> bytes_;                 // encoded results, sent or received
  std::map<std::size_t, MapResults<R>> pieces_;  // by first index
};

}  // namespace forage::mpi::detail
