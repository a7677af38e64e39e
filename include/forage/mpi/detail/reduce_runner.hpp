// One chunk of forage::mpi::parallel_for and parallel_reduce on a rank.
#pragma once

#include <cstddef>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "forage/mpi/detail/runners.hpp"

namespace forage::mpi::detail {

template <class I>
I index_at(I begin, std::size_t offset) {
  using U = std::make_unsigned_t<I>;
  return static_cast<I>(static_cast<U>(static_cast<U>(begin) + static_cast<U>(offset)));
}

template <class I, class F>
class ForRunner final : public PoolRunner {
 public:
  ForRunner(Pool& pool, I begin, F& fn) : PoolRunner(pool), begin_(begin), fn_(fn) {}

  void start(Chunk chunk, std::stop_token stop) override {
    launch(chunk, [this, chunk, stop] {
      forage::parallel_for(pool_, index_at(begin_, chunk.first), index_at(begin_, chunk.last), fn_,
                           forage::MapOptions{.stop = stop});
    });
  }

 private:
  I begin_;
  F& fn_;
};

// Each chunk reduces to one partial value; the root combines the partials in index order and
// broadcasts the total.
template <class I, class T, class Map, class Reduce>
class ReduceRunner final : public PoolRunner {
 public:
  ReduceRunner(Pool& pool, I begin, const T& identity, Map& map, Reduce& reduce, bool root)
      : PoolRunner(pool),
        begin_(begin),
        identity_(identity),
        map_(map),
        reduce_(reduce),
        root_(root) {}

  void start(Chunk chunk, std::stop_token stop) override {
    launch(chunk, [this, chunk, stop] {
      partial_ = forage::parallel_reduce(pool_, index_at(begin_, chunk.first),
                                         index_at(begin_, chunk.last), identity_, map_, reduce_,
                                         forage::MapOptions{.stop = stop});
      if (!root_) {
        bytes_.clear();
        Writer writer(bytes_);
        Codec<T>::encode(*partial_, writer);
      }
    });
  }

  std::span<const std::byte> result_bytes() override { return bytes_; }

  std::span<std::byte> result_buffer(Chunk, std::size_t bytes) override {
    bytes_.resize(bytes);
    return bytes_;
  }
  void results_arrived(Chunk chunk) override {
    Reader reader(bytes_.data(), bytes_.size());
    partials_.emplace(chunk.first, Codec<T>::decode(reader));
  }

  // Every rank, after a call that succeeded: the root folds the partials in index order and
  // broadcasts the total (or, if reduce threw there, its message: RemoteError everywhere).
  T combine_everywhere(Cluster& cluster, int root, const char* where) {
    std::vector<std::byte> bytes;
    if (root_) {
      std::optional<T> total;
      std::string failure;
      try {
        for (auto& [first, partial] : partials_) {
          total = total
                      ? static_cast<T>(std::invoke(reduce_, std::move(*total), std::move(partial)))
                      : std::move(partial);
        }
      } catch (const std::exception& e) {
        failure = e.what();
      } catch (...) {
        failure = "an exception not derived from std::exception";
      }
      Writer writer(bytes);
      const bool ok = failure.empty();
      writer.write(&ok, sizeof ok);
      if (ok) {
        Codec<T>::encode(total ? *total : identity_, writer);
      } else {
        Codec<std::string>::encode(failure, writer);
      }
    }
    rt::broadcast(cluster, root, bytes);
    Reader reader(bytes.data(), bytes.size());
    bool ok = false;
    reader.read(&ok, sizeof ok);
    if (!ok) {
      rt::throw_remote_error(where, Failure{root, 0,
                                            "reduce threw while combining the ranks' "
                                            "partial results: " +
                                                Codec<std::string>::decode(reader)});
    }
    return Codec<T>::decode(reader);
  }

 private:
  void commit(Chunk chunk) override {
    if (root_) partials_.emplace(chunk.first, std::move(*partial_));
  }

  I begin_;
  const T& identity_;
  Map& map_;
  Reduce& reduce_;
  bool root_;
  std::optional<T> partial_;  // the last chunk's, written by its task
  std::vector<std::byte> bytes_;
  std::map<std::size_t, T> partials_;  // the root's, by first index
};

}  // namespace forage::mpi::detail
