// The main of a fuzz target where libFuzzer is not available (g++ builds): runs
// LLVMFuzzerTestOneInput once on each file named on the command line, or on each file of a
// named directory (a corpus), in name order. Exit status 0 when every input ran; a failed
// check inside the target aborts, as it does under libFuzzer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "fuzz_target.hpp"

namespace {

bool run_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
    return false;
  }
  const std::vector<char> bytes{std::istreambuf_iterator<char>(in),
                                std::istreambuf_iterator<char>()};
  // A copy with no spare byte after it, as libFuzzer passes: ASan sees a read past the end.
  std::vector<std::uint8_t> input(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(input.data(), input.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t ran = 0;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
      if (files.empty()) {
        std::fprintf(stderr, "replay: no input in %s\n", arg.c_str());
        ok = false;
      }
    } else {
      files.push_back(arg);
    }
    for (const auto& file : files) {
      ok = run_file(file) && ok;
      ++ran;
    }
  }
  std::printf("replay: ran %zu inputs\n", ran);
  return ok && ran > 0 ? 0 : 1;
}
