// The other threads of the process, read from the kernel (/proc/self/task): how many there
// are, and whether all of them are asleep. For the suites about idle pools (idle, wake), whose
// peers have no counters of their own for that. Linux only.
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "common/bench_support.hpp"

namespace forage::bench {

// The threads of the process besides the calling one.
inline std::size_t other_threads() {
  std::size_t threads = 0;
  std::error_code error;
  for (std::filesystem::directory_iterator it("/proc/self/task", error), end; !error && it != end;
       it.increment(error)) {
    ++threads;
  }
  return threads > 0 ? threads - 1 : 0;
}

// The other threads of the process at one look: whether all were sleeping, and how often
// each had been given a CPU.
struct ThreadsLook {
  bool all_asleep = true;
  std::vector<std::pair<pid_t, std::uint64_t>> runs;  // (tid, run count), in tid order

  bool same_runs(const ThreadsLook& other) const { return runs == other.runs; }
};

// The start of a small /proc file ("" if it is gone): open and read, no stream machinery,
// since a settle reads two per thread per poll.
inline std::string read_proc_file(const std::string& path) {
  char buffer[512];
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  const ssize_t size = read(fd, buffer, sizeof buffer);
  close(fd);
  return size > 0 ? std::string(buffer, static_cast<std::size_t>(size)) : std::string();
}

// A thread that exits between the listing and the reads shows as asleep with no runs: it is
// not running, and the next look no longer lists it (so the runs differ and the settle goes
// on polling).
inline ThreadsLook look_at_other_threads() {
  ThreadsLook look;
  const pid_t self = gettid();
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task", error)) {
    const pid_t tid = std::stoi(entry.path().filename().string());
    if (tid == self) continue;
    // stat: "tid (comm) S ...": the state follows the last ')' (comm may hold any byte).
    const std::string task = entry.path().string();
    const std::string stat = read_proc_file(task + "/stat");
    const std::size_t paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'S') {
      look.all_asleep = false;
    }
    // schedstat: "<ns on CPU> <ns waiting for a CPU> <times run>".
    const std::string schedstat = read_proc_file(task + "/schedstat");
    const std::size_t last_field = schedstat.find_last_of(' ');
    std::uint64_t runs = 0;
    if (last_field != std::string::npos) {
      const char* digits = schedstat.data() + last_field + 1;
      std::from_chars(digits, schedstat.data() + schedstat.size(), runs);
    }
    look.runs.emplace_back(tid, runs);
  }
  std::sort(look.runs.begin(), look.runs.end());
  return look;
}

// Waits until every other thread of the process is asleep (state S in
// /proc/self/task/<tid>/stat) on two looks `poll` apart and none has run in between (the run
// count, third field of /proc/self/task/<tid>/schedstat, unchanged). Returns false if `cap`
// passed first.
inline bool wait_until_threads_asleep(Clock::duration poll, Clock::duration cap) {
  const Clock::time_point deadline = Clock::now() + cap;
  ThreadsLook last = look_at_other_threads();
  for (;;) {
    std::this_thread::sleep_for(poll);
    ThreadsLook now = look_at_other_threads();
    if (last.all_asleep && now.all_asleep && now.same_runs(last)) return true;
    if (Clock::now() > deadline) return false;
    last = std::move(now);
  }
}

}  // namespace forage::bench
