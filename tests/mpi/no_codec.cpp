// Must not compile: parallel_map's results have no forage::mpi::Codec. Compiled by the
// Mpi.TypeWithoutCodecDoesNotCompile test (expect_compile_error.cmake), which expects the
// error to name forage::mpi::Codec.
#include <string>
#include <vector>

#include "forage/mpi.hpp"

namespace {

struct Opaque {  // not trivially copyable (a std::string inside), and no codec specialised
  std::string name;
};

}  // namespace

void map_opaque(forage::mpi::Cluster& cluster, const std::vector<int>& inputs) {
  auto out =
      forage::mpi::parallel_map(cluster, inputs, [](int x) { return Opaque{std::to_string(x)}; });
  (void)out;
}
