/// @file
/// Execution traces of a Pool: what each worker did and when, for finding where the time goes.
///
/// @code
///   forage::Pool pool({.workers = 2, .trace = true});
///   ... run work ...
///   forage::Trace trace = pool.trace();            // a snapshot; the pool keeps running
///   std::ofstream out("trace.json");
///   forage::write_chrome_trace(trace, out);        // open in ui.perfetto.dev or chrome://tracing
/// @endcode
///
/// Each worker records into its own fixed-size buffer (PoolOptions::trace_buffer_events
/// events): a store and a release increment, no lock, no allocation. A full buffer drops what
/// comes after and counts it (Trace::dropped). With PoolOptions::trace off (the default) no
/// buffer exists and each recording site costs one never-taken branch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "forage/export.hpp"

namespace forage {

/// What a trace event records.
enum class TraceKind : std::uint8_t {
  run,    ///< a task ran on the worker (span); help-while-wait runs nest inside their waiter
  steal,  ///< the worker took a task from another worker's deque (span: the search that found
          ///< it); `other` is the victim's index
  park,   ///< the worker slept, out of work (span: from falling asleep to waking up)
  wake    ///< the worker signalled the parked workers while one was asleep or about to sleep,
          ///< so one of them wakes (instant); a notify with nobody parked is not recorded
};

/// One thing a worker did: a span (start to end) or an instant. A plain value.
struct TraceEvent {
  TraceKind kind = TraceKind::run;  ///< what happened
  std::uint32_t worker = 0;         ///< the worker's index in its pool
  std::uint32_t other = 0;          ///< steal: the victim; otherwise 0
  /// Nanoseconds on std::chrono::steady_clock since the pool started; end == start for an
  /// instant event.
  std::int64_t start_ns = 0;
  /// When the span ended, on the same clock as start_ns.
  std::int64_t end_ns = 0;
};

/// A snapshot of a pool's trace (Pool::trace()): a plain value that belongs to its caller, so
/// reading it needs no synchronisation with the pool.
struct Trace {
  std::string pool_name;         ///< PoolOptions::name
  std::vector<int> pinned_cpus;  ///< per worker, as Pool::pinning_plan(); empty if unpinned
  std::size_t workers = 0;       ///< the pool's worker count
  /// Per worker in the order recorded (spans by their end, so a nested run comes before the
  /// run it is nested in); workers one after the other.
  std::vector<TraceEvent> events;
  std::uint64_t dropped = 0;  ///< events that did not fit a worker's buffer
};

/// The kind's name ("run", "steal", "park", "wake"), a static string. Thread-safe; never throws.
FORAGE_API const char* to_string(TraceKind kind) noexcept;

/// Writes `trace` as Chrome trace-event JSON (the "JSON Object Format": {"traceEvents": [...]}),
/// one thread per worker, timestamps in microseconds. Perfetto and chrome://tracing open it.
/// Thread-safe for distinct streams. Throws no forage error: std::bad_alloc, or what `out`
/// throws when its exceptions() are set (else `out`'s state says the write failed).
FORAGE_API void write_chrome_trace(const Trace& trace, std::ostream& out);

}  // namespace forage
