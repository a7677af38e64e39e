// TraceBuffer: one worker's trace events (PoolOptions::trace). The worker is the only writer;
// Pool::trace() reads a snapshot from any thread while the worker keeps recording.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "atomics/atomics.hpp"
#include "forage/trace.hpp"

namespace forage::detail {

class TraceBuffer {
 public:
  using Clock = std::chrono::steady_clock;

  TraceBuffer(std::uint32_t worker, std::size_t capacity, Clock::time_point origin)
      : events_(new TraceEvent[capacity]), capacity_(capacity), worker_(worker), origin_(origin) {}

  std::int64_t now() const noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - origin_).count();
  }

  // Owner only.
  void record(TraceKind kind, std::int64_t start_ns, std::int64_t end_ns,
              std::uint32_t other = 0) noexcept {
    // relaxed: this worker is the only writer of size_.
    const std::size_t size = size_.load(std::memory_order_relaxed);
    if (size == capacity_) {
      // relaxed: a statistic, read after the fact; this worker is its only writer.
      dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return;
    }
    events_[size] = TraceEvent{kind, worker_, other, start_ns, end_ns};
    // release: the event written above happens-before a reader that acquires the new size,
    // and the writer never touches a slot below it again.
    size_.store(size + 1, std::memory_order_release);
  }

  // Any thread: appends the events recorded so far; returns how many were dropped.
  std::uint64_t copy_to(std::vector<TraceEvent>& out) const {
    // acquire: pairs with record()'s release; slots below `size` are complete and final.
    const std::size_t size = size_.load(std::memory_order_acquire);
    out.insert(out.end(), events_.get(), events_.get() + size);
    // relaxed: a statistic; a drop racing with this read is reported by the next snapshot.
    return dropped_.load(std::memory_order_relaxed);
  }

 private:
  std::unique_ptr<TraceEvent[]> events_;
  const std::size_t capacity_;
  const std::uint32_t worker_;
  const Clock::time_point origin_;
  // Read by snapshots while the worker records: on its own line, away from the owner's data.
  alignas(kCacheLine) std::atomic<std::size_t> size_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace forage::detail
