/// @file
/// The exceptions forage throws. Every message says what to do instead.
///
/// All of them are plain exception objects: once thrown, their const members may be read from
/// any thread at once (an exception_ptr shares one object between the threads that rethrow
/// it), and none of those members throws.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "forage/export.hpp"

namespace forage {

/// Base of every forage error: `catch (const forage::Error&)` catches them all.
class FORAGE_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// spawn/submit on a pool that has been shut down (Python: "cannot schedule new futures after
/// shutdown").
class FORAGE_API PoolClosed : public Error {
 public:
  using Error::Error;
};

/// A call that would block a pool's worker on work only that pool can finish: shutdown(),
/// wait_idle() or the destructor of a pool, called from one of its own workers.
class FORAGE_API WouldDeadlock : public Error {
 public:
  using Error::Error;
};

/// A bad argument: an empty callable, a worker count above Pool::kMaxWorkers, a malformed
/// synthetic topology.
class FORAGE_API InvalidArgument : public Error {
 public:
  using Error::Error;
};

/// get() on a future that was cancelled: by Future::cancel() or request_stop() before it ran,
/// by Shutdown::cancel_pending or Shutdown::stop, or because the continuation's pool was gone or
/// closed when its antecedent completed. Also what an algorithm throws when a stop request
/// (MapOptions::stop, MapOptions::deadline, map_async's request_stop, TaskGroup::cancel,
/// Shutdown::stop) ended it, and TaskGroup::wait after cancel(): then items_run() says how many
/// items ran to the end before it stopped (the message says it too).
class FORAGE_API Cancelled : public Error {
 public:
  /// The message `what`, and for an algorithm the number of items that ran.
  explicit Cancelled(const std::string& what, std::optional<std::size_t> items_run = std::nullopt)
      : Error(what), items_run_(items_run) {}

  /// For an algorithm stopped by a request: the items whose function ran (out of the input's
  /// size); nullopt for a cancelled task or future.
  std::optional<std::size_t> items_run() const noexcept { return items_run_; }

 private:
  std::optional<std::size_t> items_run_;
};

/// get() on a future whose Promise was destroyed without a value or an exception.
class FORAGE_API BrokenPromise : public Error {
 public:
  using Error::Error;
};

/// An operation on a future with no state: default-constructed, moved from, or handed to
/// share(), then(), on_done(), when_all() or when_any(). The message says which.
class FORAGE_API EmptyFuture : public Error {
 public:
  using Error::Error;
};

/// get() a second time on a Future (its result is taken by the first), or get_future() a
/// second time on a Promise.
class FORAGE_API AlreadyRetrieved : public Error {
 public:
  using Error::Error;
};

/// set_value / set_exception on a Promise that already has a result.
class FORAGE_API PromiseAlreadySatisfied : public Error {
 public:
  using Error::Error;
};

/// An element function of a parallel algorithm (parallel_map, parallel_for, imap, ...) threw.
/// Carries the index of the item it threw on (its position in the input, counted from 0; for
/// parallel_for(begin, end), i - begin) and the original exception.
/// The algorithm rethrows the first such failure; items not yet started were skipped.
class FORAGE_API ItemError : public Error {
 public:
  /// The message `what`, the failed item's index and the exception its function threw.
  ItemError(const std::string& what, std::size_t index, std::exception_ptr original)
      : Error(what), index_(index), original_(std::move(original)) {}

  /// The failed item's position in the input, counted from 0.
  std::size_t index() const noexcept { return index_; }
  /// The exception the element function threw.
  const std::exception_ptr& original() const noexcept { return original_; }
  /// Throws the exception the function threw, e.g. to catch it by its own type.
  [[noreturn]] void rethrow_original() const { std::rethrow_exception(original_); }

 private:
  std::size_t index_;
  std::exception_ptr original_;
};

/// hwloc could not load the machine's topology.
class FORAGE_API TopologyError : public Error {
 public:
  using Error::Error;
};

/// A pool could not start one of its worker threads: the process hit a limit. The pool's
/// constructor joined the workers it had started before throwing. limit() says which limit,
/// code() is what the system returned (pthread_create's errno), and the message says what to
/// change: a smaller PoolOptions::stack_size, fewer workers, or a higher limit.
class FORAGE_API ResourceError : public Error {
 public:
  /// The limit a worker thread ran into.
  enum class Limit {
    stack_size,  ///< the stack asked for cannot be reserved (PoolOptions::stack_size)
    threads,     ///< the process or the machine is out of threads (RLIMIT_NPROC, a pids cgroup)
    memory,      ///< out of memory for the thread itself
  };

  /// The message `what`, the limit hit and the system's error code.
  ResourceError(const std::string& what, Limit limit, std::error_code code)
      : Error(what), limit_(limit), code_(code) {}

  /// Which limit the thread ran into.
  Limit limit() const noexcept { return limit_; }
  /// What the system returned (pthread_create's errno).
  const std::error_code& code() const noexcept { return code_; }

 private:
  Limit limit_;
  std::error_code code_;
};

/// A call on a pool inherited through fork(): in the child, the pool's workers do not exist
/// (fork copies only the calling thread), so the pool belongs to the parent process. Create a
/// new pool in the child. (README: "fork()".)
class FORAGE_API ForkedPool : public Error {
 public:
  using Error::Error;
};

}  // namespace forage
