#include "forage/mpi/cluster.hpp"

#include "forage/mpi/errors.hpp"
#include "mpi/transport.hpp"

namespace forage::mpi {

namespace {

MPI_Comm duplicate(MPI_Comm comm) {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized == 0 || finalized != 0) {
    throw MpiError(
        "forage::mpi::Cluster: MPI is not initialised (or already finalised); create a "
        "forage::mpi::Environment at the top of main() before any Cluster");
  }
  if (comm == MPI_COMM_NULL) {
    throw MpiError(
        "forage::mpi::Cluster: the communicator is MPI_COMM_NULL; pass "
        "MPI_COMM_WORLD or a communicator this rank belongs to");
  }
  MPI_Comm copy = MPI_COMM_NULL;
  detail::check(MPI_Comm_dup(comm, &copy), "forage::mpi::Cluster: MPI_Comm_dup");
  // A failed peer or transport ends the job (MPI's message, non-zero exit) instead of leaving
  // the other ranks waiting for messages that will never come.
  detail::check(MPI_Comm_set_errhandler(copy, MPI_ERRORS_ARE_FATAL),
                "forage::mpi::Cluster: MPI_Comm_set_errhandler");
  return copy;
}

}  // namespace

Cluster::Cluster(MPI_Comm comm, Pool& pool) : comm_(duplicate(comm)), pool_(pool) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

Cluster::~Cluster() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized == 0 && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

}  // namespace forage::mpi
