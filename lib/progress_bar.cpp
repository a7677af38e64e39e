// The compiled half of forage/progress_bar.hpp: the frames, the smoothed rate, the lock.
#include "forage/progress_bar.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <optional>
#include <utility>

#include "forage/errors.hpp"

namespace forage {
namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

// The rate is an exponential moving average over time with this time constant: a sample
// counts e times less after it. Long enough for a steady ETA, short enough to follow a change.
constexpr double kRateTimeConstantSeconds = 3.0;
constexpr std::size_t kDefaultWidth = 80;
// Below this many cells the bar is left out and the numbers alone are drawn.
constexpr std::size_t kMinBarCells = 10;
// Clears from the cursor to the end of the line (ANSI EL), after a frame shorter than the last.
constexpr std::string_view kClearToEnd = "\x1b[K";

std::string printf_string(const char* format, auto... args) {
  char buffer[64];
  const int length = std::snprintf(buffer, sizeof buffer, format, args...);
  return std::string(buffer, static_cast<std::size_t>(std::max(length, 0)));
}

// floor(100 * done / total), 100 for an empty run.
unsigned percent_of(std::size_t done, std::size_t total) {
  if (total == 0) return 100;
  if (total <= std::numeric_limits<std::size_t>::max() / 100) {
    return static_cast<unsigned>(done * 100 / total);
  }
  return static_cast<unsigned>(std::min<std::size_t>(100, done / (total / 100)));  // total >= 100
}

// Three significant digits with an SI suffix: "950", "9.50", "36.5k", "1.20M"; "--" unknown.
std::string format_rate(std::optional<double> rate) {
  if (!rate || !std::isfinite(*rate) || *rate < 0) return "--";
  double value = *rate;
  const char* suffixes[] = {"", "k", "M", "G", "T", "P"};
  std::size_t scale = 0;
  while (value >= 999.5 && scale + 1 < std::size(suffixes)) {
    value /= 1000;
    ++scale;
  }
  const char* format = value < 9.995 ? "%.2f%s" : value < 99.95 ? "%.1f%s" : "%.0f%s";
  return printf_string(format, value, suffixes[scale]);
}

// "mm:ss" under an hour, "h:mm:ss" above, "--:--" unknown or over 99 hours.
std::string format_duration(std::optional<double> seconds) {
  if (!seconds || !std::isfinite(*seconds) || *seconds < 0 || *seconds >= 99 * 3600.0) {
    return "--:--";
  }
  const long total = std::lround(*seconds);
  if (total < 3600) return printf_string("%02ld:%02ld", total / 60, total % 60);
  return printf_string("%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
}

// Terminal columns a string takes: its UTF-8 code points (continuation bytes take none).
std::size_t columns_of(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::size_t environment_columns() {
  const char* columns = std::getenv("COLUMNS");  // NOLINT(concurrency-mt-unsafe): read-only
  if (columns == nullptr) return 0;
  char* end = nullptr;
  const unsigned long value = std::strtoul(columns, &end, 10);
  return end != columns && *end == '\0' ? value : 0;
}

ProgressBarMode resolve_mode(const ProgressBarOptions& options) {
  if (options.mode != ProgressBarMode::automatic) return options.mode;
  if (options.sink || options.file == nullptr) return ProgressBarMode::lines;
  return ::isatty(::fileno(options.file)) == 1 ? ProgressBarMode::terminal : ProgressBarMode::lines;
}

}  // namespace

struct ProgressBar::State {
  State(std::string label_text, ProgressBarOptions options_in)
      : label(std::move(label_text)),
        options(std::move(options_in)),
        mode(resolve_mode(options)),
        start(now()),
        last_sample(start) {}

  State(const State&) = delete;
  State& operator=(const State&) = delete;

  ~State() { end_without_final_frame(); }

  Clock::time_point now() const { return options.clock ? options.clock() : Clock::now(); }

  void write(std::string_view text) const {
    if (options.sink) {
      options.sink(text);
      return;
    }
    std::fwrite(text.data(), 1, text.size(), options.file);
    std::fflush(options.file);
  }

  void report(std::size_t done, std::size_t total) {
    if (done > total) {
      throw InvalidArgument("ProgressBar: done = " + std::to_string(done) + " is above total = " +
                            std::to_string(total) + "; report items done out of the total");
    }
    const std::lock_guard lock(mutex);
    if (ended) return;  // one run per bar: nothing after the end
    if (total_seen && *total_seen != total) {
      throw InvalidArgument("ProgressBar: total = " + std::to_string(total) +
                            " differs from the earlier " + std::to_string(*total_seen) +
                            "; a bar shows one run: make a new one for the next");
    }
    total_seen = total;
    if (done < largest_done) return;  // out of order: never draw backwards
    largest_done = done;
    const Clock::time_point time = now();
    sample(done, time);
    const bool final = done == total;
    if (mode == ProgressBarMode::terminal) {
      if (!final && drawn && time - last_draw < kRedrawInterval) return;
      write(terminal_frame(done, total, final, time));
      drawn = true;
      last_draw = time;
    } else {
      const unsigned decade = percent_of(done, total) / 10;
      if (!final && decade <= decades_printed) return;
      write(plain_line(done, total, final, time));
      decades_printed = decade;
    }
    ended = final;
  }

  // Feeds the moving average with the items since the last sample. With its weight divided
  // out (`rate_weight`), the average does not start from 0: until a few time constants have
  // passed it is the plain average since the start.
  void sample(std::size_t done, Clock::time_point time) {
    const double seconds = std::chrono::duration_cast<Seconds>(time - last_sample).count();
    if (seconds <= 0) return;  // the same clock tick: the items count in the next sample
    const double rate = static_cast<double>(done - sampled_done) / seconds;
    const double decay = std::exp(-seconds / kRateTimeConstantSeconds);
    rate_sum = rate_sum * decay + (1 - decay) * rate;
    rate_weight = rate_weight * decay + (1 - decay);
    sampled_done = done;
    last_sample = time;
  }

  std::optional<double> smoothed_rate() const {
    if (rate_weight <= 0) return std::nullopt;
    return rate_sum / rate_weight;
  }

  // What follows the bar: percent, done/total, rate and ETA (or, final, the time taken).
  // `padded` aligns the fields so a redrawn line keeps its shape.
  std::string numbers(std::size_t done, std::size_t total, bool final, Clock::time_point time,
                      bool padded) const {
    const std::string total_text = std::to_string(total);
    std::string done_text = std::to_string(done);
    if (padded && done_text.size() < total_text.size()) {
      done_text.insert(0, total_text.size() - done_text.size(), ' ');
    }
    const double elapsed = std::chrono::duration_cast<Seconds>(time - start).count();
    std::optional<double> rate = smoothed_rate();
    std::string tail;
    if (final) {
      rate = elapsed > 0 ? std::optional(static_cast<double>(done) / elapsed) : std::nullopt;
      tail = (padded ? " in " : "in ") + format_duration(elapsed);  // padded: as wide as ETA
    } else {
      std::optional<double> left;
      if (rate && *rate > 0) left = static_cast<double>(total - done) / *rate;
      tail = "ETA " + format_duration(left);
    }
    std::string rate_text = format_rate(rate);
    if (padded && rate_text.size() < 5) rate_text.insert(0, 5 - rate_text.size(), ' ');
    return printf_string(padded ? "%3u%%" : "%u%%", percent_of(done, total)) + " " + done_text +
           "/" + total_text + " " + rate_text + " it/s " + tail;
  }

  std::size_t terminal_width() const {
    if (options.width != 0) return options.width;
    if (!options.sink && options.file != nullptr) {
      winsize size{};
      if (::ioctl(::fileno(options.file), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
        return size.ws_col;
      }
    }
    const std::size_t columns = environment_columns();
    return columns != 0 ? columns : kDefaultWidth;
  }

  // "\r<label> [=====>    ] <numbers>\x1b[K", and "\n" after the final one.
  std::string terminal_frame(std::size_t done, std::size_t total, bool final,
                             Clock::time_point time) const {
    const std::string head = label.empty() ? std::string() : label + " ";
    const std::string tail = numbers(done, total, final, time, true);
    const std::size_t used = columns_of(head) + 3 + columns_of(tail);  // 3: "[", "] "
    const std::size_t width = terminal_width();
    std::string frame = "\r" + head;
    if (width > used + kMinBarCells) {
      const std::size_t cells = width - 1 - used;  // one column short: never wraps
      const std::size_t filled = total == 0
                                     ? cells
                                     : static_cast<std::size_t>(static_cast<long double>(cells) *
                                                                static_cast<long double>(done) /
                                                                static_cast<long double>(total));
      frame += '[';
      frame.append(filled, '=');
      if (filled < cells) {
        frame += '>';
        frame.append(cells - filled - 1, ' ');
      }
      frame += "] ";
    }
    frame += tail;
    frame += kClearToEnd;
    if (final) frame += '\n';
    return frame;
  }

  // "<label>: <numbers>\n"
  std::string plain_line(std::size_t done, std::size_t total, bool final,
                         Clock::time_point time) const {
    const std::string head = label.empty() ? std::string() : label + ": ";
    return head + numbers(done, total, final, time, false) + "\n";
  }

  void end_without_final_frame() noexcept {
    const std::lock_guard lock(mutex);
    if (ended) return;
    ended = true;
    if (mode != ProgressBarMode::terminal || !drawn) return;
    try {
      write("\n");
    } catch (...) {  // NOLINT(bugprone-empty-catch): documented, a throwing sink is ignored
    }
  }

  const std::string label;
  const ProgressBarOptions options;
  const ProgressBarMode mode;
  const Clock::time_point start;

  mutable std::mutex mutex;  // guards everything below
  bool ended = false;        // the final frame was drawn, or finish() was called
  bool drawn = false;        // terminal: a frame is on the line
  std::optional<std::size_t> total_seen;
  std::size_t largest_done = 0;  // the largest `done` reported: what is drawn never goes back
  std::size_t sampled_done = 0;  // `done` at the last rate sample
  Clock::time_point last_sample;
  Clock::time_point last_draw{};
  unsigned decades_printed = 0;  // lines: the last multiple of 10% printed, divided by 10
  double rate_sum = 0;           // the moving average's weighted sum of rates
  double rate_weight = 0;        // ... and its total weight
};

ProgressBar::ProgressBar(std::string label) : ProgressBar(std::move(label), {}) {}

ProgressBar::ProgressBar(std::string label, ProgressBarOptions options) {
  if (!options.sink && options.file == nullptr) {
    throw InvalidArgument(
        "ProgressBar: options.file is null and there is no sink; pass a "
        "stream (stderr by default) or a sink");
  }
  state_ = std::make_shared<State>(std::move(label), std::move(options));
}

void ProgressBar::operator()(std::size_t done, std::size_t total) const {
  state_->report(done, total);
}

void ProgressBar::finish() const noexcept { state_->end_without_final_frame(); }

bool ProgressBar::finished() const noexcept {
  const std::lock_guard lock(state_->mutex);
  return state_->ended;
}

ProgressBarMode ProgressBar::mode() const noexcept { return state_->mode; }

const std::string& ProgressBar::label() const noexcept { return state_->label; }

}  // namespace forage
