// A rank that dies in the middle of a map (SIGKILL, as an out-of-memory kill would) must end
// the whole job with a non-zero exit, not leave the other ranks waiting: ctest expects this
// program, under mpiexec, to fail (WILL_FAIL) before its timeout.
#include <mpi.h>

#include <csignal>
#include <cstdio>
#include <numeric>
#include <vector>

#include "forage/mpi.hpp"

int main(int argc, char** argv) {
  forage::mpi::Environment env(argc, argv);
  forage::Pool pool({.workers = 1, .pinning = forage::Pinning::none});
  forage::mpi::Cluster cluster(MPI_COMM_WORLD, pool);
  std::vector<int> in(100000);
  std::iota(in.begin(), in.end(), 0);
  auto out = forage::mpi::parallel_map(cluster, in, [&cluster](int x) {
    if (cluster.rank() == 1 && x % 7 == 3) std::raise(SIGKILL);
    return x;
  });
  std::puts("mpi_rank_death: the map returned, but rank 1 should have died in it");
  return 0;
}
