// The block allocator's size classes: the sizes a task block or shared state is rounded up to.
//
// Steps of 16 bytes up to 128 (where most task blocks fall: a HeapTask is 8 bytes plus its
// callable's captures, a SubmitState about 64 plus its callable and result), then steps of a
// quarter of the power of two below, up to 512. A block of more than kLargestClass bytes goes
// to ::operator new. Rounding wastes at most 16 bytes below 128 and a fifth of the block above.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace forage::detail::alloc {

inline constexpr std::array<std::uint32_t, 15> kClassSizes = {
    32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512};
inline constexpr std::size_t kClassCount = kClassSizes.size();
inline constexpr std::size_t kLargestClass = kClassSizes.back();
// Sizes are looked up in steps of this: every class size is a multiple of it.
inline constexpr std::size_t kGranule = 16;

// The smallest class that holds `size` bytes, for each multiple of kGranule up to
// kLargestClass (index: size rounded up to a granule, / kGranule).
inline constexpr auto kClassOfGranules = [] {
  std::array<std::uint8_t, kLargestClass / kGranule + 1> table{};
  std::size_t size_class = 0;
  for (std::size_t granules = 0; granules < table.size(); ++granules) {
    while (kClassSizes[size_class] < granules * kGranule) ++size_class;
    table[granules] = static_cast<std::uint8_t>(size_class);
  }
  return table;
}();

// Only for size <= kLargestClass.
constexpr std::size_t class_of(std::size_t size) noexcept {
  return kClassOfGranules[(size + kGranule - 1) / kGranule];
}

constexpr std::size_t class_size(std::size_t size_class) noexcept {
  return kClassSizes[size_class];
}

static_assert([] {
  for (std::size_t size = 0; size <= kLargestClass; ++size) {
    const std::size_t size_class = class_of(size);
    if (class_size(size_class) < size) return false;                         // fits
    if (size_class > 0 && class_size(size_class - 1) >= size) return false;  // smallest
  }
  for (const std::uint32_t size : kClassSizes) {
    if (size % kGranule != 0) return false;
  }
  return true;
}());

}  // namespace forage::detail::alloc
