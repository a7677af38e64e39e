// The compiled half of forage/version.hpp: the numbers the library was built with, which a
// program compares with the headers it was compiled with.
#include "forage/version.hpp"

#define FORAGE_NUMBER_TEXT(x) #x
#define FORAGE_VERSION_TEXT(major, minor, patch) \
  FORAGE_NUMBER_TEXT(major) "." FORAGE_NUMBER_TEXT(minor) "." FORAGE_NUMBER_TEXT(patch)

namespace forage {

Version version() noexcept { return kHeaderVersion; }

const char* version_string() noexcept {
  return FORAGE_VERSION_TEXT(FORAGE_VERSION_MAJOR, FORAGE_VERSION_MINOR, FORAGE_VERSION_PATCH);
}

}  // namespace forage
