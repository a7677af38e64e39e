/// @file
/// forage::mpi::Environment: MPI's lifetime, as an object in main().
///
/// @code
///   int main(int argc, char** argv) {
///     forage::mpi::Environment env(argc, argv);  // MPI_Init_thread, or adopts a running MPI
///     ...
///   }                                            // MPI_Finalize, if this object initialised it
/// @endcode
///
/// forage needs MPI_THREAD_FUNNELED at least: only the thread that calls a forage::mpi
/// algorithm talks to MPI (pool workers never do). It asks for MPI_THREAD_SERIALIZED, so that
/// any one thread at a time may make the calls; with FUNNELED (an MPI that gives no more, or
/// one initialised by someone else) make them from the thread that initialised MPI.
/// Without mpiexec (a singleton) MPI runs as a one-rank world: the same binary runs on a laptop.
#pragma once

#include "forage/export.hpp"

namespace forage::mpi {

/// MPI's lifetime, as an object in main() (see forage/mpi/environment.hpp).
///
/// Thread-safety: one per process, constructed and destroyed on one thread (the one that
/// initialises MPI, usually main's); the const accessors may be read from any thread.
class FORAGE_API Environment {
 public:
  /// Initialises MPI (MPI_Init_thread), or adopts an MPI that is already initialised and
  /// finalises nothing then. Throws MpiError if the thread level MPI provides is below
  /// MPI_THREAD_FUNNELED (finalising first what it initialised), or if MPI was finalised.
  Environment(int& argc, char**& argv);
  Environment();  ///< without the command line (MPI_Init_thread(nullptr, nullptr, ...))
  /// Calls MPI_Finalize if this object initialised MPI.
  ~Environment();
  Environment(const Environment&) = delete;             ///< One per process: not copyable.
  Environment& operator=(const Environment&) = delete;  ///< One per process: not copyable.

  /// Whether this object called MPI_Init_thread (and so will call MPI_Finalize).
  bool owns_mpi() const noexcept { return owns_; }
  /// The MPI_THREAD_* level MPI provides.
  int thread_level() const noexcept { return thread_level_; }

 private:
  void start(int* argc, char*** argv);

  bool owns_ = false;
  int thread_level_ = 0;
};

}  // namespace forage::mpi
