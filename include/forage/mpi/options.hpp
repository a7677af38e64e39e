/// @file
/// What a forage::mpi algorithm is told besides its inputs and function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "forage/map_options.hpp"
#include "forage/result_allocator.hpp"

namespace forage::mpi {

/// Where parallel_map's results end up.
enum class Results : std::uint8_t {
  at_root,      ///< in order on the root; std::nullopt on the other ranks
  everywhere,   ///< in order on every rank (gathered on the root, then broadcast)
  distributed,  ///< each rank keeps the chunks it computed: parallel_map_distributed
};

/// Who holds the inputs.
enum class Inputs : std::uint8_t {
  replicated,  ///< every rank holds the same inputs (read them on every rank)
  at_root,     ///< only the root does; the others pass an empty range, and chunks of the
               ///< input travel with their work (Codec<T> of the input's value type)
};

/// What a forage::mpi algorithm is told besides its inputs and function. A plain value each
/// rank passes (the same on every rank, else CallMismatch; a bad root is InvalidArgument).
struct MapOptions {
  /// How the index range is cut into chunks handed to ranks. adaptive(): guided, the first
  /// chunks big (remaining / (2 * ranks)) and later ones shrinking to a floor that keeps a chunk
  /// worth a message; fixed(n): n items a chunk; python(): Python's rule over the ranks. Inside a
  /// rank every chunk runs through the pool with forage's adaptive chunking.
  Chunking chunking = Chunking::adaptive();
  Results results = Results::at_root;  ///< where parallel_map's results end up
  Inputs inputs = Inputs::replicated;  ///< who holds the inputs
  int root = 0;                        ///< the rank that deals the chunks (and gathers)
  /// On the root only, from its calling thread: (items done on all ranks, total) as chunks
  /// finish; (total, total) last on success. An exception it throws ends the call as an
  /// item's would (RemoteError from the root, index = the first item of the chunk reported).
  std::function<void(std::size_t done, std::size_t total)> on_progress{};
};

/// A run of consecutive results one rank computed (Results::distributed). A plain value.
template <class R>
struct Piece {
  std::size_t first;     ///< the input index of values[0]
  MapResults<R> values;  ///< the results, in input order
};

}  // namespace forage::mpi
