/// @file
/// How the parallel algorithms cut their input into tasks, and what else they can be told.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>

#include "forage/export.hpp"

namespace forage {

/// How an algorithm cuts its input into tasks (MapOptions::chunking). A plain immutable value:
/// copy it and read it from any thread.
class FORAGE_API Chunking {
 public:
  /// Which rule: adaptive(), fixed() or python().
  enum class Kind : std::uint8_t { adaptive, fixed, python };

  /// The default; needs no tuning. On a Pool the range is split in halves with join while
  /// idle workers are looking for work (each stolen half splits again), and a running chunk
  /// hands half of what is left to a thief that finds nothing to steal. On a SingleQueuePool
  /// (nobody steals) it is Chunking::python(). For imap/imap_unordered it is one item per task.
  static constexpr Chunking adaptive() noexcept { return Chunking(Kind::adaptive, 0); }
  /// Chunks of `items` (the last one may be shorter). Throws InvalidArgument for 0.
  static Chunking fixed(std::size_t items);
  /// Python's multiprocessing.Pool.map rule: chunksize, extra = divmod(len, 4 * workers);
  /// if extra: chunksize += 1. For imap over an input of unknown length: one item per chunk.
  static constexpr Chunking python() noexcept { return Chunking(Kind::python, 0); }

  /// The Python rule itself (0 for 0 items).
  static constexpr std::size_t python_chunk_size(std::size_t items, std::size_t workers) noexcept {
    const std::size_t divisor = 4 * (workers == 0 ? 1 : workers);
    std::size_t size = items / divisor;
    if (items % divisor != 0) ++size;
    return size;
  }

  /// Which rule this is.
  constexpr Kind kind() const noexcept { return kind_; }
  /// The chunk size of fixed(n); 0 for the other kinds.
  constexpr std::size_t items() const noexcept { return items_; }

  /// Items per chunk for `total` items on `workers` workers when chunks have one size (fixed,
  /// python; adaptive on a pool without stealing). Never 0 for a non-empty input.
  constexpr std::size_t chunk_size(std::size_t total, std::size_t workers) const noexcept {
    if (kind_ == Kind::fixed) return items_;
    const std::size_t size = python_chunk_size(total, workers);
    return size == 0 ? 1 : size;
  }

  /// The same rule and size.
  friend constexpr bool operator==(const Chunking&, const Chunking&) = default;

 private:
  constexpr Chunking(Kind kind, std::size_t items) noexcept : kind_(kind), items_(items) {}

  Kind kind_;
  std::size_t items_;
};

/// What else a parallel algorithm can be told. A plain value, read by the algorithm during the
/// call (map_async copies it; a bad field throws InvalidArgument at the call); on_progress is
/// called from the workers, never concurrently with itself.
struct MapOptions {
  /// How the input is cut into tasks.
  Chunking chunking = Chunking::adaptive();
  /// Called with (items done, total) as the work advances: from workers, at most about every
  /// 1% of the total, never concurrently with itself, with `done` increasing; on success the
  /// last call is (total, total), possibly from the calling thread. An exception it throws
  /// stops the algorithm and is rethrown to the caller. Not used by imap/imap_unordered
  /// (their consumer sees every result anyway).
  std::function<void(std::size_t done, std::size_t total)> on_progress{};
  /// imap / imap_unordered: the most results computed or being computed but not yet consumed;
  /// a slow consumer holds the work back at this. Default (nullopt): 4 per worker. 0 throws
  /// InvalidArgument. The other algorithms return every result at once and ignore it.
  std::optional<std::size_t> max_in_flight{};
  /// Stops the algorithm once it fires: no item starts after the running blocks end (checked
  /// between blocks of items, as an item's failure is), and the call throws Cancelled, whose
  /// items_run() says how many items ran. Element functions see the request through
  /// forage::this_task::stop_requested(). imap/imap_unordered yield the results computed before
  /// it, in order up to the first gap, then throw Cancelled.
  std::stop_token stop{};
  /// The same as a stop request made at this time (steady_clock), checked between blocks (imap:
  /// when a chunk starts). Default: none, and then no clock is read.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

}  // namespace forage
