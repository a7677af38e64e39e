// The per-item work of the map suites (bench/map/map_bench.cpp describes it and its timing)
// and of the scaling suite's skewed map (bench/scaling/scaling_bench.cpp): one definition, so
// "the skewed map" is the same workload in both.
//
// Work{}(x): the integer part of x is the iteration count, the fraction the seed; each
// iteration is v = v / 2 + sqrt(v), a dependent chain within an item that the compiler cannot
// vectorize across items because the trip count varies per item. v converges to 4 from any
// seed in [1, 2): no overflow, no denormals.
//   uniform: every item kMapIterations iterations (about 20 ns on the 2-core VM).
//   skewed:  item i gets 1 + (2 kMapIterations - 2) i / (n - 1) iterations, rounded: the same
//            mean, the last items 2 kMapIterations - 1 times as costly as the first.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace forage::bench {

inline constexpr std::size_t kMapIterations = 14;  // mean iterations per item (see Work)

// A function object, so that every system gets it inlined (a plain function passed by
// reference reaches parallel_map's loop as a pointer, called indirectly).
struct MapWork {
  double operator()(double x) const noexcept {
    const auto iterations = static_cast<int>(x);
    double v = x - static_cast<double>(iterations) + 1.0;
    for (int k = 0; k < iterations; ++k) v = v * 0.5 + std::sqrt(v);
    return v;
  }
};

enum class MapWorkload { uniform, skewed };

inline const char* workload_name(MapWorkload workload) {
  return workload == MapWorkload::uniform ? "uniform" : "skewed";
}

inline std::vector<double> make_map_input(MapWorkload workload, std::size_t n) {
  std::vector<double> input(n);
  const std::size_t last = n > 1 ? n - 1 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const double seed = static_cast<double>(i % 1000) / 1000.0;
    // Skewed: 1 + (2 kMapIterations - 2) i / (n - 1), rounded, so the mean is kMapIterations.
    const std::size_t iterations = workload == MapWorkload::uniform
                                       ? kMapIterations
                                       : 1 + ((2 * kMapIterations - 2) * i + last / 2) / last;
    input[i] = static_cast<double>(iterations) + seed;
  }
  return input;
}

}  // namespace forage::bench
