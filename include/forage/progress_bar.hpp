// A ready-made progress display for MapOptions::on_progress (and forage::mpi's on_progress):
// one redrawn line on a terminal, a plain line every 10% elsewhere.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "forage/export.hpp"

namespace forage {

/// How a ProgressBar draws.
enum class ProgressBarMode : std::uint8_t {
  automatic,  ///< terminal if the output is a C stream on a terminal (isatty), lines otherwise
  terminal,   ///< one line redrawn in place (carriage return, then clear to end of line)
  lines,      ///< a plain line each time the percentage reaches a new multiple of 10
};

/// Where a ProgressBar writes and what it reads; every member has a working default.
struct ProgressBarOptions {
  /// The C stream written to when `sink` is empty; default: stderr. Flushed after each write;
  /// must stay open while a copy of the bar exists (the last one may end the line). Write
  /// errors are ignored, as a display's should be.
  std::FILE* file = stderr;
  /// Receives the text instead of `file` (tests, a logger). Called under the bar's lock, so never
  /// concurrently with itself, and must not call the bar; what it throws leaves the bar's call
  /// (and so stops the algorithm).
  std::function<void(std::string_view)> sink{};
  /// automatic chooses from `file` (isatty(fileno(file))); with a `sink` it means lines.
  ProgressBarMode mode = ProgressBarMode::automatic;
  /// Columns a terminal line may use; 0: the terminal's width (TIOCGWINSZ on `file`), else
  /// $COLUMNS, else 80. The line stays one column short of it, so it never wraps.
  std::size_t width = 0;
  /// The time source for the rate, the ETA and the redraw limit; empty: steady_clock::now.
  std::function<std::chrono::steady_clock::time_point()> clock{};
};

/// A progress display to pass as MapOptions::on_progress: `{.on_progress = ProgressBar("map")}`.
///
/// On a terminal: one line, redrawn in place at most every 100 ms (kRedrawInterval), with the
/// label, a bar, the percentage, done/total, the rate in items per second (smoothed over about
/// 3 s) and the time left; the final call (done == total) always draws, with the average rate
/// and the time taken, and ends the line. Elsewhere (a pipe, a file, a `sink`): one line each
/// time the percentage reaches 10, 20, ... 100, each at most once. Nothing after the final line:
/// a bar shows one run; later calls print nothing (make a new bar for the next run).
///
/// Copies share one display (the state is shared), so the bar can be copied into MapOptions and
/// still be inspected through the original; moving copies too. The time counts from the
/// construction: make the bar just before the run.
///
/// Thread-safety: every member may be called from any thread, concurrently; calls are
/// serialized by a lock. A call whose `done` is below the largest seen changes nothing, so
/// calls arriving out of order never draw backwards.
class FORAGE_API ProgressBar {
 public:
  /// The shortest time between two terminal redraws (the final frame does not wait for it).
  static constexpr std::chrono::milliseconds kRedrawInterval{100};

  /// A bar titled `label` (may be empty) drawn to stderr. Reads the clock once; throws
  /// std::bad_alloc if out of memory.
  explicit ProgressBar(std::string label = {});
  /// A bar titled `label` with its output, mode, width and clock from `options`. Throws
  /// InvalidArgument if `options.file` is null and there is no `sink`.
  ProgressBar(std::string label, ProgressBarOptions options);

  /// Copies share the display. Never throws.
  ProgressBar(const ProgressBar&) noexcept = default;
  /// Shares `other`'s display. Never throws.
  ProgressBar& operator=(const ProgressBar&) noexcept = default;
  /// Ends an unfinished terminal line (see finish()) when the last copy goes.
  ~ProgressBar() = default;

  /// Reports `done` items of `total`: the on_progress signature. Draws if it is due (see the
  /// class). Throws InvalidArgument if done > total, or if `total` differs from an earlier
  /// call's (one bar shows one run); then the display is unchanged. Throws what the sink
  /// throws. Thread-safe.
  void operator()(std::size_t done, std::size_t total) const;

  /// Ends the display without a final frame, for a run that stopped early (an error, a
  /// cancellation): on a terminal a drawn, unfinished line gets its newline so later output
  /// starts on a line of its own. Later calls print nothing. The last copy's destructor calls
  /// it. Never throws (a throwing sink is ignored here). Thread-safe.
  void finish() const noexcept;

  /// True once the final frame was drawn or finish() was called. Thread-safe.
  bool finished() const noexcept;

  /// The mode it draws in: terminal or lines (automatic is resolved at construction).
  ProgressBarMode mode() const noexcept;

  /// The label given at construction.
  const std::string& label() const noexcept;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace forage
