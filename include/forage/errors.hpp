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

// get() on a future that was cancelled: by Future::cancel(), by Shutdown::cancel_pending, or
// because the continuation's pool was gone or closed when its antecedent completed.
class Cancelled : public Error {
 public:
  using Error::Error;
};

// get() on a future whose Promise was destroyed without a value or an exception.
class BrokenPromise : public Error {
 public:
  using Error::Error;
};

// An operation on a future with no state: default-constructed, moved from, or handed to
// share(), then(), on_done(), when_all() or when_any(). The message says which.
class EmptyFuture : public Error {
 public:
  using Error::Error;
};

// get() a second time on a Future (its result is taken by the first), or get_future() a
// second time on a Promise.
class AlreadyRetrieved : public Error {
 public:
  using Error::Error;
};

// set_value / set_exception on a Promise that already has a result.
class PromiseAlreadySatisfied : public Error {
 public:
  using Error::Error;
};

// hwloc could not load the machine's topology.
class TopologyError : public Error {
 public:
  using Error::Error;
};

}  // namespace forage
