// forage::mpi: one map across the ranks of an MPI job (README.md, "Across machines"), run by
// ctest under `mpiexec -n 2` (label mpi). Without mpiexec it runs as a one-rank job.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

// [mpi-map]
#include <forage/mpi.hpp>

int main(int argc, char** argv) {
  forage::mpi::Environment env(argc, argv);  // MPI_Init_thread; MPI_Finalize at the end
  forage::Pool pool;  // a worker per core this rank may use (mpiexec may bind ranks to cores)
  forage::mpi::Cluster cluster(MPI_COMM_WORLD, pool);

  // Every rank holds the inputs and makes the same call; rank 0 deals chunks to the ranks
  // as they ask, computes too, and gathers the results in order.
  std::vector<double> inputs(1'000'000);
  for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i] = static_cast<double>(i);
  std::optional<forage::MapResults<double>> roots =
      forage::mpi::parallel_map(cluster, inputs, [](double x) { return std::sqrt(x); });
  if (cluster.rank() == 0) std::printf("%zu results, last %.1f\n", roots->size(), roots->back());

  // Results on every rank, a reduction, and strings: each travels through forage::mpi::Codec.
  auto names = forage::mpi::parallel_map(
      cluster, inputs, [](double x) { return std::to_string(static_cast<long>(x) % 7); },
      {.results = forage::mpi::Results::everywhere});
  const long sum = forage::mpi::parallel_reduce(
      cluster, 0L, 1000L, 0L, [](long i) { return i; }, [](long a, long b) { return a + b; });
  std::printf("rank %d of %d: %zu names, sum %ld\n", cluster.rank(), cluster.size(), names->size(),
              sum);

  // An exception in fn on any rank is forage::mpi::RemoteError on every rank.
  try {
    forage::mpi::parallel_for(cluster, 0, 100, [](int i) {
      if (i == 42) throw std::runtime_error("no 42");
    });
  } catch (const forage::mpi::RemoteError& e) {
    if (cluster.rank() == 0) std::printf("%s (rank %d, item %zu)\n", e.what(), e.rank(), e.index());
  }
}
// [/mpi-map]
