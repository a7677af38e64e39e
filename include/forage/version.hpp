// forage's version: the numbers the headers were written for, and the library's own.
//
// CMakeLists.txt reads the version from the three macros below (they are its one source), so
// the CMake package, pkg-config's forage.pc and the Debian packages carry the same numbers.
// While the major version is 0, a minor version may change the API or the ABI: a program must
// be compiled against the headers of the library it links (find_package(forage 0.2) accepts
// 0.2.x only).
#pragma once

#include "forage/export.hpp"

#define FORAGE_VERSION_MAJOR 0
#define FORAGE_VERSION_MINOR 2
#define FORAGE_VERSION_PATCH 0

namespace forage {

struct Version {
  int major;
  int minor;
  int patch;

  friend constexpr bool operator==(const Version&, const Version&) = default;
};

// The version of the headers this translation unit was compiled with.
inline constexpr Version kHeaderVersion{FORAGE_VERSION_MAJOR, FORAGE_VERSION_MINOR,
                                        FORAGE_VERSION_PATCH};

// The version of the compiled library this program links, for checking that it matches the
// headers: `forage::version() == forage::kHeaderVersion`. Thread-safe; never throws.
FORAGE_API Version version() noexcept;

// The library's version as "major.minor.patch" (a static string). Thread-safe; never throws.
FORAGE_API const char* version_string() noexcept;

}  // namespace forage
