// Execution traces of a Pool: what each worker did and when, for finding where the time goes.
//
//   forage::Pool pool({.workers = 2, .trace = true});
//   ... run work ...
//   forage::Trace trace = pool.trace();            // a snapshot; the pool keeps running
//   std::ofstream out("trace.json");
//   forage::write_chrome_trace(trace, out);        // open in ui.perfetto.dev or chrome://tracing
//
// Each worker records into its own fixed-size buffer (PoolOptions::trace_buffer_events
// events): a store and a release increment, no lock, no allocation. A full buffer drops what
// comes after and counts it (Trace::dropped). With PoolOptions::trace off (the default) no
// buffer exists and each recording site costs one never-taken branch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "forage/export.hpp"

namespace forage {

enum class TraceKind : std::uint8_t {
  run,    // a task ran on the worker (span); help-while-wait runs nest inside their waiter
  steal,  // the worker took a task from another worker's deque (span: the search that found
          // it); `other` is the victim's index
  park,   // the worker slept, out of work (span: from falling asleep to waking up)
  wake    // the worker signalled the parked workers while one was asleep or about to sleep,
          // so one of them wakes (instant); a notify with nobody parked is not recorded
};

struct TraceEvent {
  TraceKind kind = TraceKind::run;
  std::uint32_t worker = 0;
  std::uint32_t other = 0;  // steal: the victim; otherwise 0
  // Nanoseconds on std::chrono::steady_clock since the pool started; end == start for an
  // instant event.
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
};

struct Trace {
  std::string pool_name;
  std::vector<int> pinned_cpus;  // per worker, as Pool::pinning_plan(); empty if unpinned
  std::size_t workers = 0;
  // Per worker in the order recorded (spans by their end, so a nested run comes before the
  // run it is nested in); workers one after the other.
  std::vector<TraceEvent> events;
  std::uint64_t dropped = 0;  // events that did not fit a worker's buffer
};

FORAGE_API const char* to_string(TraceKind kind) noexcept;

// Writes `trace` as Chrome trace-event JSON (the "JSON Object Format": {"traceEvents": [...]}),
// one thread per worker, timestamps in microseconds. Perfetto and chrome://tracing open it.
FORAGE_API void write_chrome_trace(const Trace& trace, std::ostream& out);

}  // namespace forage
