/// @file
/// The exceptions forage::mpi throws, all forage::Error subclasses. Every message says what to
/// do instead. As forage's own exceptions, their const members may be read from any thread and
/// never throw.
#pragma once

#include <cstddef>
#include <string>

#include "forage/errors.hpp"
#include "forage/export.hpp"

namespace forage::mpi {

/// MPI itself is not usable as asked: a Cluster built before MPI_Init (or after
/// MPI_Finalize), an MPI library that cannot give the thread level forage needs, or an MPI call
/// that returned an error code.
class FORAGE_API MpiError : public Error {
 public:
  using Error::Error;
};

/// The ranks made different calls: a different input size, algorithm, root, Results or Inputs
/// mode, chunking, or a different number of earlier calls. Thrown on every rank of the call,
/// before any item runs.
class FORAGE_API CallMismatch : public Error {
 public:
  using Error::Error;
};

/// An element function (or parallel_reduce's reduce) threw on some rank: every rank of the
/// call throws this, naming the rank, the item's index in the input and the original message.
/// Items not yet started when the failure reached the dispatcher were skipped.
class FORAGE_API RemoteError : public Error {
 public:
  /// The message `what`, the rank and item that failed, and the original exception's what().
  RemoteError(const std::string& what, int rank, std::size_t index, std::string message)
      : Error(what), rank_(rank), index_(index), message_(std::move(message)) {}

  /// The rank the function threw on.
  int rank() const noexcept { return rank_; }
  /// The failed item's index in the input.
  std::size_t index() const noexcept { return index_; }
  /// The original exception's what() (or a note that it was not a std::exception).
  const std::string& message() const noexcept { return message_; }

 private:
  int rank_;
  std::size_t index_;
  std::string message_;
};

}  // namespace forage::mpi
