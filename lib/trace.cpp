// Chrome trace-event JSON for forage::Trace (include/forage/trace.hpp). The format:
// "Trace Event Format" (Google), JSON Object Format; Perfetto reads it too.
#include "forage/trace.hpp"

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>

namespace forage {

const char* to_string(TraceKind kind) noexcept {
  switch (kind) {
    case TraceKind::run:
      return "run";
    case TraceKind::steal:
      return "steal";
    case TraceKind::park:
      return "park";
    case TraceKind::wake:
      return "wake";
  }
  return "unknown";
}

namespace {

constexpr int kProcessId = 1;

double microseconds(std::int64_t ns) { return static_cast<double>(ns) / 1000.0; }

nlohmann::json metadata(const char* what, std::uint32_t thread, const std::string& name) {
  nlohmann::json event = {
      {"name", what}, {"ph", "M"}, {"pid", kProcessId}, {"args", {{"name", name}}}};
  if (std::string_view(what) == "thread_name") event["tid"] = thread;
  return event;
}

nlohmann::json to_json(const TraceEvent& event) {
  nlohmann::json out = {{"name", to_string(event.kind)},
                        {"cat", to_string(event.kind)},
                        {"pid", kProcessId},
                        {"tid", event.worker},
                        {"ts", microseconds(event.start_ns)}};
  if (event.kind == TraceKind::wake) {
    out["ph"] = "i";
    out["s"] = "t";  // an instant on the worker's own track
  } else {
    out["ph"] = "X";
    out["dur"] = microseconds(event.end_ns - event.start_ns);
  }
  if (event.kind == TraceKind::steal) out["args"] = {{"victim", event.other}};
  return out;
}

}  // namespace

void write_chrome_trace(const Trace& trace, std::ostream& out) {
  // One event per line, written as it is built: a trace of a million events never exists as
  // one JSON tree in memory.
  out << "{\"displayTimeUnit\": \"ns\",\n\"otherData\": "
      << nlohmann::json{{"pool", trace.pool_name},
                        {"workers", trace.workers},
                        {"dropped_events", trace.dropped}}
             .dump()
      << ",\n\"traceEvents\": [\n";
  out << metadata("process_name", 0, "forage::Pool '" + trace.pool_name + "'").dump();
  for (std::uint32_t worker = 0; worker < trace.workers; ++worker) {
    std::string name = "worker " + std::to_string(worker);
    if (worker < trace.pinned_cpus.size()) {
      name += " (cpu " + std::to_string(trace.pinned_cpus[worker]) + ")";
    }
    out << ",\n" << metadata("thread_name", worker, name).dump();
  }
  for (const TraceEvent& event : trace.events) out << ",\n" << to_json(event).dump();
  out << "\n]}\n";
}

}  // namespace forage
