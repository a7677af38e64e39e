// The text of a caught exception, for the messages that pass one on (on_error's stderr line,
// ItemError's what()).
#pragma once

#include <exception>
#include <string>

namespace forage::detail {

inline std::string describe_exception(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

}  // namespace forage::detail
