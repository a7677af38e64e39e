// The collective start of every forage::mpi call: one MPI_Allreduce (MPI_MIN over each field
// and its negation, so minimum and maximum at once) of the call's fingerprint. Every algorithm
// starts with it, so ranks that make different calls always meet in it and all see the same
// minima and maxima: either every rank goes on or every rank throws.
#include <mpi.h>

#include <array>
#include <cstdint>
#include <string>

#include "forage/mpi/detail/dispatch.hpp"
#include "forage/mpi/errors.hpp"
#include "mpi/transport.hpp"

namespace forage::mpi::detail::rt {

namespace {

enum Field : std::size_t {
  kCall,
  kAlgorithm,
  kSize,
  kRoot,
  kResults,
  kInputs,
  kChunking,
  kChunkItems,
  kFirstHigh,  // the index range's begin, in two 32-bit halves: each field is negated below,
  kFirstLow,   // which a full 64-bit value could overflow
  kProblem,    // 1 on a rank whose own arguments are bad
  kRootSize,   // the root's input size (0 from the others): its maximum is the size
  kFields
};

constexpr std::array<const char*, kFields> kFieldNames = {
    "call number (how many forage::mpi calls came before on this Cluster)",
    "algorithm",
    "input size",
    "root",
    "Results mode",
    "Inputs mode",
    "chunking",
    "chunk size",
    "first index (begin)",
    "first index (begin)",
    "",
    ""};

}  // namespace

std::size_t agree(Cluster& cluster, std::uint64_t call, const CallShape& shape) {
  const MapOptions& options = shape.options;
  const bool at_root = options.inputs == Inputs::at_root;
  std::array<std::int64_t, 2 * kFields> fields{};
  fields[kCall] = static_cast<std::int64_t>(call);
  fields[kAlgorithm] = static_cast<std::int64_t>(shape.algorithm);
  fields[kSize] = at_root ? -1 : static_cast<std::int64_t>(shape.size);
  fields[kRoot] = options.root;
  fields[kResults] = static_cast<std::int64_t>(options.results);
  fields[kInputs] = static_cast<std::int64_t>(options.inputs);
  fields[kChunking] = static_cast<std::int64_t>(options.chunking.kind());
  fields[kChunkItems] = static_cast<std::int64_t>(options.chunking.items());
  fields[kFirstHigh] = static_cast<std::int64_t>(shape.first_index >> 32);
  fields[kFirstLow] = static_cast<std::int64_t>(shape.first_index & 0xFFFF'FFFFU);
  fields[kProblem] = shape.local_problem ? 1 : 0;
  fields[kRootSize] = cluster.rank() == options.root ? static_cast<std::int64_t>(shape.size) : 0;
  for (std::size_t i = 0; i < kFields; ++i) fields[kFields + i] = -fields[i];
  std::array<std::int64_t, 2 * kFields> agreed{};
  check(MPI_Allreduce(fields.data(), agreed.data(), static_cast<int>(fields.size()), MPI_INT64_T,
                      MPI_MIN, cluster.comm()),
        "forage::mpi: MPI_Allreduce");
  auto max_of = [&agreed](std::size_t field) { return -agreed[kFields + field]; };

  if (shape.local_problem) throw InvalidArgument(*shape.local_problem);
  if (max_of(kProblem) != 0) {
    throw CallMismatch("forage::mpi: another rank rejected the arguments of call " +
                       std::to_string(call) +
                       " (its own error says why); every rank must make the same call");
  }
  for (std::size_t field = 0; field < kProblem; ++field) {
    if (agreed[field] != max_of(field)) {
      throw CallMismatch("forage::mpi: the ranks disagree on the " +
                         std::string(kFieldNames[field]) + " of call " + std::to_string(call) +
                         " (from " + std::to_string(agreed[field]) + " to " +
                         std::to_string(max_of(field)) +
                         "); every rank must make the same forage::mpi calls in the same "
                         "order with the same arguments");
    }
  }
  return static_cast<std::size_t>(max_of(kRootSize));
}

}  // namespace forage::mpi::detail::rt
