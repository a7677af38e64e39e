// forage::mpi::Cluster: the ranks of a communicator, each with its pool.
//
//   forage::Pool pool;                                  // one pool per rank
//   forage::mpi::Cluster cluster(MPI_COMM_WORLD, pool);  // collective over the communicator
//
// The constructor duplicates the communicator (MPI_Comm_dup, collective), so forage's messages
// never meet the caller's, and sets MPI_ERRORS_ARE_FATAL on the copy: a rank that dies or a
// transport that fails ends the whole job with MPI's message and a non-zero exit, rather than
// leaving ranks waiting. The destructor frees the copy (skipped once MPI is finalised: destroy
// the Cluster before the Environment).
//
// Calls on a Cluster are collective, like MPI's: every rank makes the same calls in the same
// order with the same arguments, from one thread at a time. Each call is numbered; the number
// is checked at the start of every call and is part of every message's tag.
#pragma once

#include <mpi.h>

#include <cstdint>

#include "forage/export.hpp"
#include "forage/pool.hpp"

namespace forage::mpi {

class FORAGE_API Cluster {
 public:
  // Throws MpiError if MPI is not initialised (create a forage::mpi::Environment first) or
  // already finalised, or if `comm` is MPI_COMM_NULL.
  Cluster(MPI_Comm comm, Pool& pool);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  Pool& pool() const noexcept { return pool_; }
  // forage's own duplicate of the communicator.
  MPI_Comm comm() const noexcept { return comm_; }

  // The number of the next call (forage::mpi internals).
  std::uint64_t next_call() noexcept { return calls_++; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  Pool& pool_;
  int rank_ = 0;
  int size_ = 1;
  std::uint64_t calls_ = 0;  // calls made on this rank; only the calling thread touches it
};

}  // namespace forage::mpi
