// FORAGE_ASSERT: the contracts the code states ("owner only", "on a worker of this pool", the
// invariant of a packed state word), checked where the build asks for it.
//
//   FORAGE_ASSERT(condition, message);
//
// On in builds without NDEBUG (the checked, debug, tsan and asan presets), off in release
// (NDEBUG). Define FORAGE_ASSERTS to 1 or 0 to choose either way. `message` is a
// std::string or a C string, evaluated only when the condition fails, so it may decode a
// state word (`decode()` in each header that packs one) at no cost on the happy path. A
// failed check prints "forage: contract violated: <message>" with the condition and the
// place, then aborts: a broken contract means memory or a protocol is already wrong, so
// unwinding would only make the report harder to read.
#pragma once

#include <string_view>

#include "forage/export.hpp"

#ifndef FORAGE_ASSERTS
#ifdef NDEBUG
#define FORAGE_ASSERTS 0
#else
#define FORAGE_ASSERTS 1
#endif
#endif

namespace forage::detail {
namespace FORAGE_API rt {

// Defined in lib/assert.cpp.
[[noreturn]] void contract_violated(std::string_view message, const char* condition,
                                    const char* file, int line) noexcept;

}  // namespace rt
}  // namespace forage::detail

#if FORAGE_ASSERTS
#define FORAGE_ASSERT(condition, message) \
  ((condition)                            \
       ? static_cast<void>(0)             \
       : ::forage::detail::rt::contract_violated((message), #condition, __FILE__, __LINE__))
#else
// sizeof keeps the condition compiled (names stay checked, nothing is unused) but never
// evaluates it.
#define FORAGE_ASSERT(condition, message) static_cast<void>(sizeof(static_cast<bool>(condition)))
#endif
