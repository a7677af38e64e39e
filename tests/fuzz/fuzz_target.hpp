// The entry point every fuzz target defines: libFuzzer's main calls it (clang, asan preset),
// and so does tests/fuzz/replay_main.cpp where libFuzzer is not available (g++ builds).
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
