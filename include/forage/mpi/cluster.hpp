/// @file
/// forage::mpi::Cluster: the ranks of a communicator, each with its pool.
///
/// @code
///   forage::Pool pool;                                  // one pool per rank
///   forage::mpi::Cluster cluster(MPI_COMM_WORLD, pool);  // collective over the communicator
/// @endcode
///
/// The constructor duplicates the communicator (MPI_Comm_dup, collective), so forage's messages
/// never meet the caller's, and sets MPI_ERRORS_ARE_FATAL on the copy: a rank that dies or a
/// transport that fails ends the whole job with MPI's message and a non-zero exit, rather than
/// leaving ranks waiting. The destructor frees the copy (skipped once MPI is finalised: destroy
/// the Cluster before the Environment).
///
/// Calls on a Cluster are collective, like MPI's: every rank makes the same calls in the same
/// order with the same arguments, from one thread at a time. Each call is numbered; the number
/// is checked at the start of every call and is part of every message's tag.
#pragma once

#include <mpi.h>

#include <cstdint>

#include "forage/export.hpp"
#include "forage/pool.hpp"

namespace forage::mpi {

/// The ranks of a communicator, each with its pool (see forage/mpi/cluster.hpp).
///
/// Thread-safety: calls are collective and made from one thread at a time on each rank (the
/// const accessors may be read from any thread). Errors: each member names what it throws.
class FORAGE_API Cluster {
 public:
  /// Throws MpiError if MPI is not initialised (create a forage::mpi::Environment first) or
  /// already finalised, or if `comm` is MPI_COMM_NULL. Collective over `comm`.
  Cluster(MPI_Comm comm, Pool& pool);
  /// Frees forage's duplicate of the communicator (skipped once MPI is finalised).
  ~Cluster();
  Cluster(const Cluster&) = delete;             ///< Owns a communicator: not copyable.
  Cluster& operator=(const Cluster&) = delete;  ///< Owns a communicator: not copyable.

  /// This process's rank in the communicator.
  int rank() const noexcept { return rank_; }
  /// The number of ranks.
  int size() const noexcept { return size_; }
  /// The pool this rank computes its chunks on.
  Pool& pool() const noexcept { return pool_; }
  /// forage's own duplicate of the communicator.
  MPI_Comm comm() const noexcept { return comm_; }

  /// The number of the next call (forage::mpi internals).
  std::uint64_t next_call() noexcept { return calls_++; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  Pool& pool_;
  int rank_ = 0;
  int size_ = 1;
  std::uint64_t calls_ = 0;  // calls made on this rank; only the calling thread touches it
};

}  // namespace forage::mpi
