/// @file
/// forage's version: the numbers the headers were written for, and the library's own.
///
/// CMakeLists.txt reads the version from the three macros below (they are its one source), so
/// the CMake package, pkg-config's forage.pc and the Debian packages carry the same numbers.
/// While the major version is 0, a minor version may change the API or the ABI: a program must
/// be compiled against the headers of the library it links (find_package(forage 0.2) accepts
/// 0.2.x only).
#pragma once

#include "forage/export.hpp"

/// The headers' major version: a new one may break anything.
#define FORAGE_VERSION_MAJOR 0
/// The headers' minor version: while the major is 0, a new one may change the API and the ABI.
#define FORAGE_VERSION_MINOR 2
/// The headers' patch version: fixes only.
#define FORAGE_VERSION_PATCH 0

namespace forage {

/// A version number, major.minor.patch: a plain value (compare it, copy it between threads).
struct Version {
  int major;  ///< FORAGE_VERSION_MAJOR
  int minor;  ///< FORAGE_VERSION_MINOR
  int patch;  ///< FORAGE_VERSION_PATCH

  /// Equal when all three numbers are.
  friend constexpr bool operator==(const Version&, const Version&) = default;
};

/// The version of the headers this translation unit was compiled with.
inline constexpr Version kHeaderVersion{FORAGE_VERSION_MAJOR, FORAGE_VERSION_MINOR,
                                        FORAGE_VERSION_PATCH};

/// The version of the compiled library this program links, for checking that it matches the
/// headers: `forage::version() == forage::kHeaderVersion`. Thread-safe; never throws.
FORAGE_API Version version() noexcept;

/// The library's version as "major.minor.patch" (a static string). Thread-safe; never throws.
FORAGE_API const char* version_string() noexcept;

}  // namespace forage
