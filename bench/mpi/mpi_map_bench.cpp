// forage::mpi::parallel_map of 10M doubles (bench/common/map_work.hpp: the map suites' skewed
// and uniform workloads) across MPI ranks, against the serial loop.
//
// Not a Google Benchmark program: every rank must run exactly the same calls (they are
// collective), which Google Benchmark's adaptive iteration count does not promise across
// processes. Instead each rank runs a fixed number of repetitions; a barrier starts each one,
// the root times it to the return of parallel_map (results gathered on the root), and the root
// prints one JSON object: medians of the repetitions and speedup_vs_serial (the serial
// std::transform into a preallocated vector on the root, timed as often, while the other
// ranks sleep in a barrier). tools/forage-bench-mpi launches it under mpiexec.
//
//   mpiexec -n 2 mpi_map_bench --workload skewed --workers 1 --repetitions 7
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/map_work.hpp"
#include "forage/mpi.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  forage::bench::MapWorkload workload = forage::bench::MapWorkload::skewed;
  std::size_t workers = 1;
  std::size_t repetitions = 7;
  std::size_t items = 10'000'000;
};

Args parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--workload") {
      args.workload = value == "uniform" ? forage::bench::MapWorkload::uniform
                                         : forage::bench::MapWorkload::skewed;
    } else if (flag == "--workers") {
      args.workers = std::stoul(value);
    } else if (flag == "--repetitions") {
      args.repetitions = std::stoul(value);
    } else if (flag == "--items") {
      args.items = std::stoul(value);
    } else {
      std::fprintf(stderr, "mpi_map_bench: unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  return args;
}

// MPI_Barrier spins (or yields in a loop) while it waits: the waiting ranks would take the
// cores the root's serial run or the pool's workers need. This one sleeps between polls.
void quiet_barrier() {
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  int done = 0;
  for (MPI_Test(&request, &done, MPI_STATUS_IGNORE); done == 0;
       MPI_Test(&request, &done, MPI_STATUS_IGNORE)) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  forage::mpi::Environment env(argc, argv);
  const Args args = parse(argc, argv);
  forage::Pool pool({.workers = args.workers, .pinning = forage::Pinning::none});
  forage::mpi::Cluster cluster(MPI_COMM_WORLD, pool);
  const bool root = cluster.rank() == 0;
  const std::vector<double> input = forage::bench::make_map_input(args.workload, args.items);

  // The serial baseline, on the root alone.
  std::vector<double> expected(args.items);
  std::vector<double> serial_ms;
  for (std::size_t r = 0; r < args.repetitions; ++r) {
    quiet_barrier();
    if (root) {
      const Clock::time_point start = Clock::now();
      std::transform(input.begin(), input.end(), expected.begin(), forage::bench::MapWork{});
      serial_ms.push_back(ms_since(start));
    }
  }

  // One warm-up run (also the check), then the timed repetitions.
  std::vector<double> map_ms;
  bool correct = true;
  for (std::size_t r = 0; r <= args.repetitions; ++r) {
    quiet_barrier();
    const Clock::time_point start = Clock::now();
    auto out = forage::mpi::parallel_map(cluster, input, forage::bench::MapWork{});
    const double elapsed = ms_since(start);
    if (r == 0) {
      correct =
          !root || (out && std::equal(out->begin(), out->end(), expected.begin(), expected.end()));
    } else {
      map_ms.push_back(elapsed);
    }
  }

  if (root) {
    const double serial = median(serial_ms);
    const double map = median(map_ms);
    std::printf(
        "{\"workload\": \"%s\", \"ranks\": %d, \"workers\": %zu, \"items\": %zu, "
        "\"repetitions\": %zu, \"serial_ms\": %.2f, \"median_ms\": %.2f, \"min_ms\": %.2f, "
        "\"max_ms\": %.2f, \"speedup_vs_serial\": %.3f, \"correct\": %s}\n",
        forage::bench::workload_name(args.workload), cluster.size(), args.workers, args.items,
        args.repetitions, serial, map, *std::min_element(map_ms.begin(), map_ms.end()),
        *std::max_element(map_ms.begin(), map_ms.end()), serial / map, correct ? "true" : "false");
  }
  return correct ? 0 : 1;
}
