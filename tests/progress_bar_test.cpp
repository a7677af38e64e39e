// forage/progress_bar.hpp: the exact frames on a fake terminal (a sink and a clock the test
// drives), the redraw limit, the plain lines, nothing after the end, out-of-order and
// concurrent calls, bad input, a real pseudo-terminal, and a bar on real algorithms.
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "forage/forage.hpp"

namespace forage {
namespace {

using std::chrono::milliseconds;

// A sink that keeps each write and a clock the test sets, for exact frames.
class FakeDisplay {
 public:
  ProgressBarOptions options(ProgressBarMode mode, std::size_t width = 60) {
    return {.sink =
                [this](std::string_view text) {
                  const std::lock_guard lock(mutex_);
                  writes_.emplace_back(text);
                },
            .mode = mode,
            .width = width,
            .clock =
                [this] {
                  // relaxed: the test sets the time before the calls that read it.
                  return std::chrono::steady_clock::time_point(
                      milliseconds(now_ms_.load(std::memory_order_relaxed)));
                }};
  }

  void set_time(std::int64_t ms) { now_ms_.store(ms, std::memory_order_relaxed); }  // see above
  // Advances the clock by `ms` and returns the new time (for the concurrent test).
  std::int64_t advance(std::int64_t ms) {
    // relaxed: only the value matters; the bar reads the clock under its own lock.
    return now_ms_.fetch_add(ms, std::memory_order_relaxed) + ms;
  }

  std::vector<std::string> writes() const {
    const std::lock_guard lock(mutex_);
    return writes_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> writes_;
  std::atomic<std::int64_t> now_ms_{0};
};

// The columns a terminal frame takes: without its "\r", clear-to-end and newline.
std::size_t visible_columns(std::string frame) {
  frame.erase(0, frame.find_first_not_of('\r'));
  const std::size_t clear = frame.find("\x1b[K");
  if (clear != std::string::npos) frame.erase(clear);
  return frame.size();
}

TEST(ProgressBar, TerminalFramesShowBarPercentCountRateAndEta) {
  FakeDisplay display;
  ProgressBar bar("map", display.options(ProgressBarMode::terminal));
  EXPECT_EQ(bar.mode(), ProgressBarMode::terminal);
  // 100 items per second from the construction at time 0.
  display.set_time(1000);
  bar(100, 1000);
  display.set_time(2000);
  bar(200, 1000);
  display.set_time(10000);
  bar(1000, 1000);
  const std::vector<std::string> expected = {
      "\rmap [=>               ]  10%  100/1000   100 it/s ETA 00:09\x1b[K",
      "\rmap [===>             ]  20%  200/1000   100 it/s ETA 00:08\x1b[K",
      "\rmap [=================] 100% 1000/1000   100 it/s  in 00:10\x1b[K\n",
  };
  EXPECT_EQ(display.writes(), expected);
  for (const std::string& frame : expected) EXPECT_EQ(visible_columns(frame), 59u) << frame;
  EXPECT_TRUE(bar.finished());
}

TEST(ProgressBar, TheRateIsSmoothedOverTime) {
  FakeDisplay display;
  ProgressBar bar("", display.options(ProgressBarMode::terminal, 80));
  // 1000 items/s for 10 s, then 100 items/s for 0.5 s: the shown rate moves toward 100 but
  // not to it (the last sample alone would say 100, the average since the start 957).
  display.set_time(10000);
  bar(10000, 100000);
  display.set_time(10500);
  bar(10050, 100000);
  const std::vector<std::string> writes = display.writes();
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_NE(writes[0].find(" 1.00k it/s"), std::string::npos) << writes[0];
  // The samples weighted by (1 - e^(-dt/3)), the older one times e^(-0.5/3): 857.5...
  EXPECT_NE(writes[1].find("  858 it/s"), std::string::npos) << writes[1];
  EXPECT_EQ(writes[1].rfind("\r[", 0), 0u) << "no label, no space before the bar";
}

TEST(ProgressBar, RedrawsAtMostEvery100MillisecondsButAlwaysTheFinalFrame) {
  FakeDisplay display;
  ProgressBar bar("map", display.options(ProgressBarMode::terminal));
  display.set_time(1000);
  bar(100, 1000);  // the first call draws
  for (std::int64_t ms = 1010; ms < 1100; ms += 10) {
    display.set_time(ms);
    bar(static_cast<std::size_t>(ms - 900), 1000);
  }
  EXPECT_EQ(display.writes().size(), 1u) << "calls within 100 ms of the last frame draw nothing";
  display.set_time(1100);
  bar(200, 1000);
  EXPECT_EQ(display.writes().size(), 2u) << "100 ms after the last frame, a call draws";
  display.set_time(1110);
  bar(1000, 1000);
  const std::vector<std::string> writes = display.writes();
  ASSERT_EQ(writes.size(), 3u) << "the final frame does not wait";
  EXPECT_EQ(writes[2], "\rmap [=================] 100% 1000/1000   901 it/s  in 00:01\x1b[K\n");
}

TEST(ProgressBar, PlainLinesAtEachTenPercentOnceEach) {
  FakeDisplay display;
  // A sink is not a terminal: automatic means lines.
  ProgressBar bar("map", display.options(ProgressBarMode::automatic));
  EXPECT_EQ(bar.mode(), ProgressBarMode::lines);
  for (std::size_t done = 50; done <= 1000; done += 50) {
    display.set_time(static_cast<std::int64_t>(done) * 10);  // 100 items per second
    bar(done, 1000);
  }
  std::vector<std::string> expected;
  for (int tenth = 1; tenth < 10; ++tenth) {
    expected.push_back("map: " + std::to_string(tenth * 10) + "% " + std::to_string(tenth * 100) +
                       "/1000 100 it/s ETA 00:0" + std::to_string(10 - tenth) + "\n");
  }
  expected.emplace_back("map: 100% 1000/1000 100 it/s in 00:10\n");
  EXPECT_EQ(display.writes(), expected);
  EXPECT_EQ(display.writes()[0], "map: 10% 100/1000 100 it/s ETA 00:09\n");
}

TEST(ProgressBar, PlainLinesAJumpOverSeveralStepsPrintsOneLine) {
  FakeDisplay display;
  ProgressBar bar("", display.options(ProgressBarMode::lines));
  display.set_time(1000);
  bar(5, 100);  // under 10%: nothing
  display.set_time(2000);
  bar(37, 100);
  display.set_time(3000);
  bar(39, 100);  // still in the 30s: nothing
  const std::vector<std::string> expected = {"37% 37/100 20.7 it/s ETA 00:03\n"};
  EXPECT_EQ(display.writes(), expected);
}

TEST(ProgressBar, NothingAfterTheFinalLine) {
  for (const ProgressBarMode mode : {ProgressBarMode::terminal, ProgressBarMode::lines}) {
    FakeDisplay display;
    {
      ProgressBar bar("map", display.options(mode));
      display.set_time(1000);
      bar(10, 10);
      const std::size_t written = display.writes().size();
      EXPECT_EQ(written, 1u);
      ASSERT_TRUE(display.writes().back().ends_with("\n"));
      display.set_time(5000);
      bar(10, 10);
      bar(5, 10);
      bar(10, 20);  // a new total after the end: ignored, not an error
      bar.finish();
      const ProgressBar copy = bar;  // NOLINT(performance-unnecessary-copy-initialization)
      copy(10, 10);
      EXPECT_EQ(display.writes().size(), written);
    }  // the last copy goes: nothing either
    EXPECT_EQ(display.writes().size(), 1u);
  }
}

TEST(ProgressBar, OutOfOrderCallsNeverDrawBackwards) {
  FakeDisplay display;
  ProgressBar bar("map", display.options(ProgressBarMode::terminal));
  display.set_time(1000);
  bar(500, 1000);
  display.set_time(2000);
  bar(300, 1000);  // older news: ignored
  EXPECT_EQ(display.writes().size(), 1u);
  display.set_time(2000);
  bar(600, 1000);
  const std::vector<std::string> writes = display.writes();
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[1], "\rmap [==========>      ]  60%  600/1000   267 it/s ETA 00:01\x1b[K");
}

TEST(ProgressBar, ConcurrentCallsDrawMonotonicallyAndOneFinalLine) {
  FakeDisplay display;
  const ProgressBar bar("map", display.options(ProgressBarMode::terminal));
  constexpr std::size_t kThreads = 4;
  constexpr std::size_t kTotal = 4000;
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kThreads; ++t) {
    // Each thread reports its own interleaved values: globally out of order.
    threads.emplace_back([&display, bar, t] {
      for (std::size_t done = t; done < kTotal; done += kThreads) {
        display.advance(7);
        bar(done, kTotal);
      }
      bar(kTotal, kTotal);  // every thread reports the end; one final line
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::vector<std::string> writes = display.writes();
  ASSERT_GE(writes.size(), 2u);
  std::size_t last_done = 0;
  std::size_t finals = 0;
  for (const std::string& frame : writes) {
    // "...] NNN% DONE/4000 ..." : the count after the percent.
    const std::size_t slash = frame.find("/4000");
    ASSERT_NE(slash, std::string::npos) << frame;
    const std::size_t start = frame.find_last_of(' ', slash - 1) + 1;
    const std::size_t done = std::stoul(frame.substr(start, slash - start));
    EXPECT_GE(done, last_done) << frame;
    last_done = done;
    if (frame.ends_with("\n")) ++finals;
  }
  EXPECT_EQ(finals, 1u);
  EXPECT_TRUE(writes.back().ends_with("\n"));
  EXPECT_NE(writes.back().find("100% 4000/4000"), std::string::npos) << writes.back();
}

TEST(ProgressBar, AnEmptyRunDrawsOneFinalFrame) {
  FakeDisplay display;
  ProgressBar terminal("map", display.options(ProgressBarMode::terminal));
  ProgressBar lines("map", display.options(ProgressBarMode::lines));
  display.set_time(2000);
  terminal(0, 0);
  lines(0, 0);
  const std::vector<std::string> expected = {
      "\rmap [=======================] 100% 0/0  0.00 it/s  in 00:02\x1b[K\n",
      "map: 100% 0/0 0.00 it/s in 00:02\n",
  };
  EXPECT_EQ(display.writes(), expected);
  EXPECT_EQ(visible_columns(expected[0]), 59u);
}

TEST(ProgressBar, DoneAboveTotalIsAnInvalidArgumentAndChangesNothing) {
  FakeDisplay display;
  ProgressBar bar("map", display.options(ProgressBarMode::lines));
  display.set_time(1000);
  EXPECT_THROW(bar(11, 10), InvalidArgument);
  EXPECT_TRUE(display.writes().empty());
  bar(5, 10);
  EXPECT_THROW(bar(5, 20), InvalidArgument) << "a bar shows one run, of one total";
  bar(10, 10);
  const std::vector<std::string> expected = {"map: 50% 5/10 5.00 it/s ETA 00:01\n",
                                             "map: 100% 10/10 10.0 it/s in 00:01\n"};
  EXPECT_EQ(display.writes(), expected);
}

TEST(ProgressBar, ANullFileWithoutSinkIsAnInvalidArgument) {
  EXPECT_THROW(ProgressBar("map", ProgressBarOptions{.file = nullptr}), InvalidArgument);
}

TEST(ProgressBar, ANarrowTerminalDrawsTheNumbersWithoutTheBar) {
  FakeDisplay display;
  ProgressBar bar("map", display.options(ProgressBarMode::terminal, 40));
  display.set_time(1000);
  bar(100, 1000);
  const std::vector<std::string> expected = {"\rmap  10%  100/1000   100 it/s ETA 00:09\x1b[K"};
  EXPECT_EQ(display.writes(), expected);
}

TEST(ProgressBar, FinishEndsAnUnfinishedLineAndSilencesTheBar) {
  FakeDisplay display;
  {
    ProgressBar bar("map", display.options(ProgressBarMode::terminal));
    display.set_time(1000);
    bar(100, 1000);
    bar.finish();  // e.g. the algorithm threw
    EXPECT_TRUE(bar.finished());
    display.set_time(9000);
    bar(900, 1000);
    ASSERT_EQ(display.writes().size(), 2u);
    EXPECT_EQ(display.writes()[1], "\n");
  }
  {
    ProgressBar bar("map", display.options(ProgressBarMode::terminal));
    bar(100, 1000);
  }  // the last copy ends the line
  ASSERT_EQ(display.writes().size(), 4u);
  EXPECT_EQ(display.writes()[3], "\n");
}

TEST(ProgressBar, CopiesAndMovesShareTheDisplay) {
  FakeDisplay display;
  const ProgressBar bar("map", display.options(ProgressBarMode::lines));
  ProgressBar copy = bar;
  ProgressBar moved = std::move(copy);  // copies: `copy` still works
  display.set_time(1000);
  copy(5, 10);
  moved(10, 10);
  EXPECT_TRUE(bar.finished());
  EXPECT_EQ(display.writes().size(), 2u);
  EXPECT_EQ(bar.label(), "map");
}

// A pseudo-terminal, opened with posix_openpt: its reader side sees what a terminal would.
class PseudoTerminal {
 public:
  PseudoTerminal() {
    controller_ = ::posix_openpt(O_RDWR | O_NOCTTY);
    if (controller_ < 0 || ::grantpt(controller_) != 0 || ::unlockpt(controller_) != 0) return;
    const char* name = ::ptsname(controller_);  // NOLINT(concurrency-mt-unsafe): one thread
    if (name == nullptr) return;
    const int device = ::open(name, O_RDWR | O_NOCTTY);
    if (device >= 0) device_ = ::fdopen(device, "w");
  }
  PseudoTerminal(const PseudoTerminal&) = delete;
  PseudoTerminal& operator=(const PseudoTerminal&) = delete;
  ~PseudoTerminal() {
    if (device_ != nullptr) std::fclose(device_);
    if (controller_ >= 0) ::close(controller_);
  }

  bool open() const { return device_ != nullptr; }
  std::FILE* device() const { return device_; }
  void set_columns(unsigned short columns) const {
    winsize size{};
    size.ws_row = 24;
    size.ws_col = columns;
    ::ioctl(controller_, TIOCSWINSZ, &size);
  }
  // What the terminal received, until `size` bytes came or 5 s passed.
  std::string read(std::size_t size) const {
    std::string text;
    char buffer[256];
    pollfd ready{controller_, POLLIN, 0};
    while (text.size() < size && ::poll(&ready, 1, 5000) > 0) {
      const ssize_t got = ::read(controller_, buffer, sizeof buffer);
      if (got <= 0) break;
      text.append(buffer, static_cast<std::size_t>(got));
    }
    return text;
  }

 private:
  int controller_ = -1;
  std::FILE* device_ = nullptr;
};

TEST(ProgressBar, OnARealTerminalItChoosesTheTerminalModeAndItsWidth) {
  const PseudoTerminal terminal;
  ASSERT_TRUE(terminal.open()) << "posix_openpt failed";
  terminal.set_columns(60);  // not the default 80
  std::int64_t now_ms = 0;
  ProgressBarOptions options{.file = terminal.device()};  // automatic mode, width from the tty
  options.clock = [&now_ms] { return std::chrono::steady_clock::time_point(milliseconds(now_ms)); };
  ProgressBar bar("map", options);
  EXPECT_EQ(bar.mode(), ProgressBarMode::terminal);
  now_ms = 10000;
  bar(1000, 1000);
  // The terminal's output processing turns "\n" into "\r\n".
  const std::string expected =
      "\rmap [=================] 100% 1000/1000   100 it/s  in 00:10\x1b[K\r\n";
  EXPECT_EQ(terminal.read(expected.size()), expected);
}

TEST(ProgressBar, OnAPipeItChoosesPlainLines) {
  int ends[2];
  ASSERT_EQ(::pipe(ends), 0);
  std::FILE* writer = ::fdopen(ends[1], "w");
  ASSERT_NE(writer, nullptr);
  {
    const ProgressBar bar("map", {.file = writer});
    EXPECT_EQ(bar.mode(), ProgressBarMode::lines);
  }
  std::fclose(writer);
  ::close(ends[0]);
}

// The bar on real algorithms: the final frame says 100%, once, at the end.
TEST(ProgressBar, WithParallelForAndParallelMapOnAPoolTheLastFrameIs100Percent) {
  Pool pool({.workers = 2});
  for (const ProgressBarMode mode : {ProgressBarMode::terminal, ProgressBarMode::lines}) {
    std::mutex mutex;
    std::string text;
    ProgressBarOptions options{.sink =
                                   [&](std::string_view piece) {
                                     const std::lock_guard lock(mutex);
                                     text += piece;
                                   },
                               .mode = mode,
                               .width = 60};
    parallel_for(pool, 0, 100'000, [](int) {}, {.on_progress = ProgressBar("for", options)});
    std::vector<int> inputs(50'000, 3);
    const MapResults<int> out = parallel_map(pool, inputs, [](int x) { return x * 2; },
                                             {.on_progress = ProgressBar("map", options)});
    EXPECT_EQ(out.size(), inputs.size());
    parallel_for(pool, 0, 0, [](int) {}, {.on_progress = ProgressBar("none", options)});

    const std::lock_guard lock(mutex);
    std::size_t finals = 0;
    for (std::size_t at = text.find("100%"); at != std::string::npos;
         at = text.find("100%", at + 1)) {
      ++finals;
    }
    EXPECT_EQ(finals, 3u) << text;
    if (mode == ProgressBarMode::terminal) {
      EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;
      EXPECT_EQ(text.find('\n'), text.find('\n', text.find("100% 100000/100000"))) << text;
    }
    const std::size_t for_end = text.find("100% 100000/100000");
    const std::size_t map_end = text.find("100% 50000/50000");
    const std::size_t none_end = text.find("100% 0/0");
    ASSERT_NE(for_end, std::string::npos) << text;
    ASSERT_NE(map_end, std::string::npos) << text;
    ASSERT_NE(none_end, std::string::npos) << text;
    EXPECT_LT(for_end, map_end);
    EXPECT_TRUE(text.ends_with("\n"));
  }
}

}  // namespace
}  // namespace forage
