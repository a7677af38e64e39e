// The exceptions forage throws. Every message says what to do instead.
#pragma once

#include <stdexcept>
#include <string>

namespace forage {

// Base of every forage error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// spawn/submit on a pool that has been shut down (Python: "cannot schedule new futures after
// shutdown").
class PoolClosed : public Error {
 public:
  using Error::Error;
};

// A call that would block a pool's worker on work only that pool can finish: shutdown(),
// wait_idle() or the destructor of a pool, called from one of its own workers.
class WouldDeadlock : public Error {
 public:
  using Error::Error;
};

// A bad argument: an empty callable, a worker count above Pool::kMaxWorkers, a malformed
// synthetic topology.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// hwloc could not load the machine's topology.
class TopologyError : public Error {
 public:
  using Error::Error;
};

}  // namespace forage
