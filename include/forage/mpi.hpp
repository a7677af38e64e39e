/// @file
/// forage::mpi: forage's algorithms across the ranks of an MPI job (DESIGN §6; README,
/// "Across machines"). A separate library, forage::mpi, built when CMake finds MPI.
///
/// @code
///   forage::mpi::Environment env(argc, argv);
///   forage::Pool pool;
///   forage::mpi::Cluster cluster(MPI_COMM_WORLD, pool);
///   auto out = forage::mpi::parallel_map(cluster, inputs, fn);  // the results on rank 0
/// @endcode
#pragma once

#include "forage/mpi/algorithm.hpp"
#include "forage/mpi/cluster.hpp"
#include "forage/mpi/codec.hpp"
#include "forage/mpi/environment.hpp"
#include "forage/mpi/errors.hpp"
#include "forage/mpi/options.hpp"

/// @namespace forage::mpi
/// forage's algorithms across the ranks of an MPI job: Environment, Cluster, the collective
/// algorithms, Codec (how values travel) and the exceptions of forage/mpi/errors.hpp.
