#include "forage/mpi/environment.hpp"

#include <mpi.h>

#include <string>

#include "forage/mpi/errors.hpp"

namespace forage::mpi {

Environment::Environment(int& argc, char**& argv) { start(&argc, &argv); }

Environment::Environment() { start(nullptr, nullptr); }

void Environment::start(int* argc, char*** argv) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized != 0) {
    throw MpiError(
        "forage::mpi::Environment: MPI was already finalised; MPI cannot be initialised twice "
        "in a process, so create the Environment once, at the top of main()");
  }
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized != 0) {
    MPI_Query_thread(&thread_level_);
  } else {
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &thread_level_) != MPI_SUCCESS) {
      throw MpiError("forage::mpi::Environment: MPI_Init_thread failed");
    }
    owns_ = true;
  }
  if (thread_level_ < MPI_THREAD_FUNNELED) {
    if (owns_) MPI_Finalize();
    owns_ = false;
    throw MpiError("forage::mpi::Environment: MPI provides thread level " +
                   std::to_string(thread_level_) +
                   " (MPI_THREAD_SINGLE), but forage's pool threads need at least "
                   "MPI_THREAD_FUNNELED; initialise MPI with MPI_Init_thread and "
                   "MPI_THREAD_FUNNELED or higher, or use an MPI built with thread support");
  }
}

Environment::~Environment() {
  if (!owns_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized == 0) MPI_Finalize();
}

}  // namespace forage::mpi
