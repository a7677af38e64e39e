// forage/version.hpp: the library's version, the headers', and the build system's agree.
#include <string>

#include <gtest/gtest.h>

#include "forage/forage.hpp"

namespace forage {
namespace {

TEST(Version, TheLibraryWasBuiltFromTheseHeaders) { EXPECT_EQ(version(), kHeaderVersion); }

TEST(Version, TheStringSpellsTheNumbers) {
  const std::string expected = std::to_string(FORAGE_VERSION_MAJOR) + "." +
                               std::to_string(FORAGE_VERSION_MINOR) + "." +
                               std::to_string(FORAGE_VERSION_PATCH);
  EXPECT_EQ(version_string(), expected);
}

// CMakeLists.txt reads project(VERSION) out of version.hpp; the package files carry it.
TEST(Version, TheBuildSystemReadTheSameNumbers) {
  EXPECT_EQ(std::string(FORAGE_PROJECT_VERSION), version_string());
}

}  // namespace
}  // namespace forage
