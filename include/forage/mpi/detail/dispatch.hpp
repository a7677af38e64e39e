// The engine behind the forage::mpi algorithms (lib/mpi/dispatch.cpp, lib/mpi/agreement.cpp):
// the templates in forage/mpi/algorithm.hpp describe a call (CallShape) and how one chunk is
// computed (ChunkRunner); the engine agrees on the call across ranks, deals the chunks and
// reports one outcome, the same on every rank. lib/mpi/README.md gives the protocol.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "forage/export.hpp"
#include "forage/mpi/cluster.hpp"
#include "forage/mpi/options.hpp"

namespace forage::mpi::detail {

enum class Algorithm : std::uint8_t { map, map_distributed, for_each_index, reduce };

// What every rank must agree on before the call starts.
struct CallShape {
  Algorithm algorithm;
  std::size_t size;  // the input's size on this rank (0 off the root under Inputs::at_root)
  const MapOptions& options;
  bool gathers;  // non-root ranks send each chunk's results to the root
  // Set when this rank's own arguments are bad: it throws InvalidArgument with this text, the
  // others CallMismatch (every rank still takes part in the agreement first).
  std::optional<std::string> local_problem{};
  // parallel_for and parallel_reduce: `begin` of the index range, as its 64 bits (two's
  // complement for a negative one), so [0, 10) on one rank and [5, 15) on another disagree.
  std::uint64_t first_index = 0;
};

struct Chunk {
  std::size_t first;
  std::size_t last;
  std::size_t size() const noexcept { return last - first; }
};

enum class ChunkStatus : std::uint8_t { done, failed, stopped };

struct ChunkFailure {
  std::size_t index;  // of the item, in the whole input
  std::string message;
};

// One call's computation on this rank. The engine calls it from the calling thread only.
class FORAGE_API ChunkRunner {
 public:
  virtual ~ChunkRunner() = default;

  // Root, Inputs::at_root: the bytes of the chunk's inputs (in `scratch` if they had to be
  // encoded); they must stay valid until the call ends.
  virtual std::span<const std::byte> input_bytes(Chunk chunk, std::vector<std::byte>& scratch);
  // Non-root, Inputs::at_root: where the next chunk's input bytes are received.
  virtual std::span<std::byte> input_buffer(Chunk chunk, std::size_t bytes);

  // Starts the chunk on the pool (the inputs of a travelled chunk are in the last
  // input_buffer). Stops early, as a forage algorithm does, once `stop` fires.
  virtual void start(Chunk chunk, std::stop_token stop) = 0;
  // Waits up to `timeout` for the started chunk; true once it is done.
  virtual bool wait_for(std::chrono::microseconds timeout) = 0;
  // After wait_for returned true: the chunk's outcome (its failure in `failure`). On the root
  // a chunk that succeeded has committed its results.
  virtual ChunkStatus finish(ChunkFailure& failure) = 0;

  // Non-root, when the call gathers: the finished chunk's results, valid until next start().
  virtual std::span<const std::byte> result_bytes() { return {}; }
  // Root, when the call gathers: where a chunk's result bytes from another rank go, then
  // results_arrived() once they are there. Throws MpiError if `bytes` cannot be right.
  virtual std::span<std::byte> result_buffer(Chunk chunk, std::size_t bytes);
  virtual void results_arrived(Chunk chunk);
};

// The first failure of the call, the same on every rank (nullopt: it succeeded).
struct Failure {
  int rank;
  std::size_t index;
  std::string message;
};

namespace FORAGE_API rt {

// The call's collective start, on every rank: checks that all ranks make the same call
// (throws CallMismatch, or InvalidArgument for shape.local_problem, on every rank) and returns
// the input size (the root's, under Inputs::at_root).
std::size_t agree(Cluster& cluster, std::uint64_t call, const CallShape& shape);

// Deals the chunks of [0, size) and runs this rank's through `runner`; returns once every rank
// knows the outcome. `call` numbers the messages' tags.
std::optional<Failure> dispatch(Cluster& cluster, std::uint64_t call, const CallShape& shape,
                                std::size_t size, ChunkRunner& runner);

// MPI_Bcast of a byte buffer of any size from the root; `bytes` is resized on the others.
void broadcast(Cluster& cluster, int root, std::vector<std::byte>& bytes);
// MPI_Bcast into storage both sides have sized.
void broadcast(Cluster& cluster, int root, std::span<std::byte> bytes);

[[noreturn]] void throw_remote_error(const char* where, const Failure& failure);

// The text of an element function's exception, for RemoteError (the library's one
// description of a caught exception, lib/exception_text.hpp).
std::string exception_message(const std::exception_ptr& error);

}  // namespace rt

}  // namespace forage::mpi::detail
