#include "forage/detail/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace forage::detail::rt {

void contract_violated(std::string_view message, const char* condition, const char* file,
                       int line) noexcept {
  std::fprintf(stderr, "forage: contract violated: %.*s\n  check: %s\n  at: %s:%d\n",
               static_cast<int>(message.size()), message.data(), condition, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace forage::detail::rt
