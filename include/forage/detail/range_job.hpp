// The engine under parallel_for, parallel_for_each, parallel_map, parallel_reduce and
// map_async: run a body over the indices [0, n) and fold the partial results in order.
//
// One engine, two ways to schedule, picked by the executor:
//   work_stealing (Pool)   split the range in halves with join. Adaptive chunking splits while
//                          thieves are hungry (see Splitter); fixed/python split down to
//                          chunks of that size. Stolen halves balance skewed work.
//   one queue (SingleQueuePool)  cut the range into chunks and submit them all, as Python's
//                          Pool.map does; the caller waits (helping, on a worker).
//
// A Body provides:
//   using Partial = ...;                          // std::monostate when nothing is folded
//   Partial start(std::size_t first);             // a fresh accumulator for a chunk
//   void step(Partial& acc, std::size_t index);   // one item; may throw
//   Partial combine(Partial&& left, Partial&& right);
// and, when a partial result owns something (parallel_map's: the results its chunk
// constructed), also
//   void discard(Partial&& acc) noexcept;         // let go of one the job will not return
// which the job calls on every partial it drops because the run failed or stopped (then
// combine must be noexcept: a throwing one would leave its operands unaccounted for). So on
// a failure, everything the partials owned is released before run_range throws.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <utility>

#include "forage/detail/stop_node.hpp"
#include "forage/detail/task.hpp"
#include "forage/detail/wait_word.hpp"
#include "forage/errors.hpp"
#include "forage/executor.hpp"
#include "forage/export.hpp"
#include "forage/join.hpp"
#include "forage/map_options.hpp"

namespace forage::detail {

namespace FORAGE_API rt {

// Defined in lib/algorithm.cpp.
//
// On a Pool worker: did a thief find this worker's deque empty since the last call? (The
// signal is cleared by reading it.) False elsewhere.
bool thieves_waiting_on_current_worker() noexcept;
[[noreturn]] void throw_item_error(const char* where, std::size_t index, std::exception_ptr error);
[[noreturn]] void throw_chunk_cancelled(const char* where);
// Cancelled for an algorithm a stop request ended, after `ran` of `total` items (nullopt: a
// stream, whose length is not known).
[[noreturn]] void throw_stopped(const char* where, std::size_t ran,
                                std::optional<std::size_t> total);
[[noreturn]] void throw_too_many_chunks(const char* where, std::size_t chunks);
// Throws InvalidArgument for options no algorithm can use (max_in_flight = 0).
void validate_map_options(const MapOptions& options, const char* where);

}  // namespace rt

// A Body's step throws this to report a failure that is not the item's own (parallel_reduce's
// reduce): it is rethrown to the caller as it was, without ItemError and its index.
struct NotAnItemError {
  std::exception_ptr error;
};

// Items a chunk runs between two looks at the stop flag, the progress count and (adaptive)
// the hungry-thief signal: a tight loop inside, a stop or a thief waits at most this long.
inline constexpr std::size_t kItemsPerBlock = 128;
// A single-queue run counts its chunks in a CountLatch (31 bits).
inline constexpr std::size_t kMaxChunks = std::size_t{1} << 30;

// Progress reporting shared by the chunks of one job: a report when the total done crosses a
// 1% step, by whoever gets the reporter's try-lock (so never concurrently with itself).
class ProgressReporter {
 public:
  ProgressReporter(const std::function<void(std::size_t, std::size_t)>& callback,
                   std::size_t total) noexcept
      : callback_(callback ? &callback : nullptr),
        total_(total),
        step_(std::max<std::size_t>(1, (total + 99) / 100)) {}

  bool enabled() const noexcept { return callback_ != nullptr; }
  // A chunk reports its items in batches of this many.
  std::size_t step() const noexcept { return step_; }

  // Adds finished items; reports if a step boundary was crossed. Throws what the callback
  // throws.
  void add(std::size_t items) {
    // relaxed: the count is a statistic; the report below reads it under the try-lock.
    const std::size_t before = done_.fetch_add(items, std::memory_order_relaxed);
    const std::size_t after = before + items;
    if (after / step_ == before / step_ && after != total_) return;
    // acquire: pairs with the release below; the last reporter's `reported_` is visible.
    if (reporting_.exchange(true, std::memory_order_acquire)) return;  // busy: skip this one
    struct Unlock {
      std::atomic<bool>& flag;
      // release: our `reported_` write happens-before the next reporter's acquire.
      ~Unlock() { flag.store(false, std::memory_order_release); }
    } unlock{reporting_};
    // relaxed: any value at least `after` is a fair report; the try-lock orders `reported_`.
    const std::size_t now = done_.load(std::memory_order_relaxed);
    if (now > reported_) {
      reported_ = now;
      (*callback_)(now, total_);
    }
  }

  // The calling thread, after every chunk finished successfully: the final (total, total),
  // also (0, 0) for an empty input, so a progress display always sees the end.
  void finish() {
    if (enabled() && (reported_ != total_ || total_ == 0)) {
      reported_ = total_;
      (*callback_)(total_, total_);
    }
  }

 private:
  const std::function<void(std::size_t, std::size_t)>* callback_;
  std::size_t total_;
  std::size_t step_;
  std::atomic<std::size_t> done_{0};
  std::atomic<bool> reporting_{false};
  std::size_t reported_ = 0;  // guarded by reporting_
};

// Where a job's stop node hangs: under the task that runs the call (so a stopped task, group
// or pool stops the algorithms it runs), else under the pool's root. `extra_root` is the
// pool's root when the chain does not end there (a call from a task), so Shutdown::stop of the
// pool that runs the items is always seen.
struct StopPlace {
  const StopNode* parent;
  const StopNode* extra_root;

  static StopPlace on(const StopNode* pool_root) noexcept {
    const StopNode* current = tls_current_stop;
    return current != nullptr ? StopPlace{current, pool_root} : StopPlace{pool_root, nullptr};
  }
};

// What the chunks of one run share: the body, the first failure, the stop node, progress.
//
// One stop mechanism: an item's failure, a request through MapOptions::stop or the caller's
// token (map_async's future), the deadline, and a stop of an enclosing task, group or pool all
// end in the job's StopNode, which chunks check between blocks. The outcome is settled once
// every chunk finished: the failure if there is one, else Cancelled if a stop was requested
// (items_run: the items not skipped), else the result.
template <class Body>
class RangeJob {
 public:
  using Partial = typename Body::Partial;
  using Clock = std::chrono::steady_clock;

  RangeJob(Body& body, std::size_t total, const MapOptions& options, const char* where,
           StopPlace place, const std::stop_token& extra)
      : body_(body),
        progress_(options.on_progress, total),
        where_(where),
        total_(total),
        node_(place.parent),
        extra_root_(place.extra_root),
        deadline_(options.deadline),
        has_deadline_(options.deadline != Clock::time_point::max()),
        on_stop_(options.stop, RequestStop{&node_}),
        on_extra_stop_(extra, RequestStop{&node_}) {
    static_assert(
        !kOwnsPartials || noexcept(body.combine(std::declval<Partial>(), std::declval<Partial>())),
        "a Body with discard() needs a noexcept combine()");
    if (has_deadline_ && Clock::now() >= deadline_) node_.request();
  }

  bool stopped() const noexcept {
    // relaxed (both): a hint that lets remaining chunks skip; a failure is published by the
    // completion of the chunk that failed (a join or a latch), and a request's outcome is
    // decided by finish() after every chunk finished.
    return node_.requested(std::memory_order_relaxed) ||
           (extra_root_ != nullptr && extra_root_->own_requested(std::memory_order_relaxed));
  }

  // Runs the items [begin, end) into a fresh accumulator. Returns nullopt if the job stopped
  // or an item failed (the failure is recorded). Items run in blocks of kItemsPerBlock with
  // nothing else in the loop; between blocks it checks the stop flag, reports progress and,
  // when `split_on_demand`, hands half of what is left to hungry thieves.
  template <class SplitRest>
  std::optional<Partial> run_chunk(std::size_t begin, std::size_t end, bool split_on_demand,
                                   SplitRest&& split_rest) noexcept {
    std::optional<Partial> acc;
    try {
      acc.emplace(body_.start(begin));
    } catch (...) {
      fail(std::current_exception(), std::nullopt);
      return std::nullopt;
    }
    // A local copy: the compiler may keep its pointers in registers while items are stored.
    Body body = body_;
    // this_task::stop_requested() in the element function reads the job's node.
    const StopScope scope(&node_);
    std::size_t index = begin;
    std::size_t unreported = 0;
    while (index < end) {
      const std::size_t block_end = std::min(end, index + kItemsPerBlock);
      if (stopped() || deadline_passed()) {
        skip(end - index);
        discard(acc);  // what this chunk built so far
        return std::nullopt;
      }
      if (!run_block(body, *acc, index, block_end, *this)) {
        discard(acc);
        return std::nullopt;
      }
      unreported += block_end - index;
      index = block_end;
      if (unreported >= progress_.step()) {
        report(unreported);
        unreported = 0;
      }
      if (split_on_demand && end - index >= 2 && rt::thieves_waiting_on_current_worker()) {
        report(unreported);
        return combine(std::move(acc), split_rest(index, end));
      }
    }
    report(unreported);
    return acc;
  }

  std::optional<Partial> combine(std::optional<Partial>&& left,
                                 std::optional<Partial>&& right) noexcept {
    if (!left || !right) {
      discard(left);
      discard(right);
      return std::nullopt;
    }
    try {
      return body_.combine(std::move(*left), std::move(*right));
    } catch (...) {
      fail(std::current_exception(), std::nullopt);
      return std::nullopt;
    }
  }

  // Records the first failure and stops the chunks that have not started. `index` names the
  // item whose function threw; without one (a throwing combine or progress callback) the
  // exception is rethrown as it is.
  void fail(std::exception_ptr error, std::optional<std::size_t> index) noexcept {
    // acq_rel: exactly one failure wins; its writes are published by its chunk's completion.
    if (!failed_.exchange(true, std::memory_order_acq_rel)) {
      error_ = std::move(error);
      error_index_ = index;
    }
    node_.request();  // the same stop as a request's; finish() tells them apart by failed_
  }

  // Items [begin, end) that will not run because the job stopped.
  void skip(std::size_t items) noexcept {
    // relaxed: a count read by finish() after every chunk's completion was acquired.
    skipped_.fetch_add(items, std::memory_order_relaxed);
  }

  // The calling thread, once every chunk has finished: rethrows the failure, or throws
  // Cancelled if a stop was requested, or reports the final progress.
  void finish() {
    // relaxed: every chunk's completion was acquired before this call.
    if (failed_.load(std::memory_order_relaxed)) {
      if (error_index_) rt::throw_item_error(where_, *error_index_, error_);
      std::rethrow_exception(error_);
    }
    if (stopped()) {
      // relaxed: as failed_ above.
      rt::throw_stopped(where_, total_ - skipped_.load(std::memory_order_relaxed), total_);
    }
    progress_.finish();
  }

  const char* where() const noexcept { return where_; }

  // Drops a partial result the job will not return, releasing what it owns (Body::discard).
  void discard(std::optional<Partial>& partial) noexcept {
    if constexpr (kOwnsPartials) {
      if (partial) body_.discard(std::move(*partial));
    }
    partial.reset();
  }

 private:
  static constexpr bool kOwnsPartials = requires(Body & body, Partial&& partial) {
    body.discard(std::move(partial));
  };

  // Items [begin, end) into `acc`; false if an item failed (the failure is recorded).
  static bool run_block(Body& body, Partial& acc, std::size_t begin, std::size_t end,
                        RangeJob& job) noexcept {
    std::size_t index = begin;
    try {
      for (; index < end; ++index) body.step(acc, index);
    } catch (NotAnItemError& e) {
      job.fail(e.error, std::nullopt);
      return false;
    } catch (...) {
      job.fail(std::current_exception(), index);
      return false;
    }
    return true;
  }

  // Only when a deadline was given is the clock read; passing it is a stop request.
  bool deadline_passed() noexcept {
    if (!has_deadline_ || Clock::now() < deadline_) return false;
    node_.request();
    return true;
  }

  void report(std::size_t items) noexcept {
    if (items == 0 || !progress_.enabled()) return;
    try {
      progress_.add(items);
    } catch (...) {
      fail(std::current_exception(), std::nullopt);
    }
  }

  Body& body_;
  ProgressReporter progress_;
  const char* where_;
  std::size_t total_;
  StopNode node_;  // before the callbacks that request it
  const StopNode* extra_root_;
  Clock::time_point deadline_;
  bool has_deadline_;
  std::stop_callback<RequestStop> on_stop_;        // MapOptions::stop
  std::stop_callback<RequestStop> on_extra_stop_;  // the caller's (map_async's task token)
  std::atomic<std::size_t> skipped_{0};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;                // written by the failure that set failed_
  std::optional<std::size_t> error_index_;  // likewise
};

// How a Pool cuts the range. Adaptive (after rayon's adaptive splitter): split while
// `splits` lasts, starting at one per worker and halving per level; a stolen half proves a
// thief was hungry and gets at least `workers` splits again. Fixed sizes split down to whole
// chunks, at multiples of the chunk size, so the chunks are the ones a single queue would get.
struct Splitter {
  std::size_t chunk;   // fixed/python: leaf size; adaptive: 0
  std::size_t splits;  // adaptive: splits left on this path
  std::size_t workers;

  bool adaptive() const noexcept { return chunk == 0; }

  bool try_split(std::size_t length, bool stolen) noexcept {
    if (!adaptive()) return length > chunk;
    if (length < 2) return false;
    if (stolen) {
      splits = std::max(workers, splits / 2);
      return true;
    }
    if (splits == 0) return false;
    splits /= 2;
    return true;
  }

  std::size_t middle(std::size_t begin, std::size_t end) const noexcept {
    if (adaptive()) return begin + (end - begin) / 2;
    const std::size_t chunks = (end - begin) / chunk + ((end - begin) % chunk != 0 ? 1 : 0);
    return begin + (chunks / 2) * chunk;
  }
};

template <class Body>
std::optional<typename Body::Partial> split_range(RangeJob<Body>& job, std::size_t begin,
                                                  std::size_t end, Splitter splitter, bool stolen) {
  using Partial = typename Body::Partial;
  if (job.stopped()) {
    job.skip(end - begin);
    return std::nullopt;
  }
  const auto halves = [&job](std::size_t from, std::size_t mid, std::size_t to,
                             const Splitter& both) {
    auto [left, right] = join_on_worker(
        [&] { return split_range(job, from, mid, both, false); },
        [&](bool was_stolen) { return split_range(job, mid, to, both, was_stolen); });
    return job.combine(std::move(left), std::move(right));
  };
  if (splitter.try_split(end - begin, stolen)) {
    return halves(begin, splitter.middle(begin, end), end, splitter);
  }
  return job.run_chunk(begin, end, splitter.adaptive(),
                       [&](std::size_t from, std::size_t to) -> std::optional<Partial> {
                         // A thief asked: give it the second half of what is left, with one
                         // split per worker to spend as a stolen half would.
                         Splitter fresh{0, splitter.workers, splitter.workers};
                         return halves(from, from + (to - from) / 2, to, fresh);
                       });
}

// One chunk on a single queue: a node in an array the caller owns until every chunk finished.
template <class Body>
struct ChunkTask final : Task {
  ChunkTask() noexcept : Task{&ChunkTask::invoke_task} {}

  static void invoke_task(Task* self, TaskAction action) noexcept {
    auto* chunk = static_cast<ChunkTask*>(self);
    CountLatch& finished = *chunk->finished;
    if (action == TaskAction::run) {
      *chunk->partial = chunk->job->run_chunk(
          chunk->begin, chunk->end, false,
          [](std::size_t, std::size_t) { return std::optional<typename Body::Partial>(); });
    } else if (chunk->job->stopped()) {
      // Shutdown::stop (or any request) already ends the job: a skipped chunk, not a failure,
      // so the caller gets the request's Cancelled with the count of items that ran.
      chunk->job->skip(chunk->end - chunk->begin);
    } else {
      try {
        rt::throw_chunk_cancelled(chunk->job->where());
      } catch (...) {
        chunk->job->fail(std::current_exception(), std::nullopt);
      }
    }
    finished.count_down();  // our last access: the caller may free the chunks now
  }

  RangeJob<Body>* job = nullptr;
  CountLatch* finished = nullptr;
  std::optional<typename Body::Partial>* partial = nullptr;
  std::size_t begin = 0;
  std::size_t end = 0;
};

template <class Body, class E>
std::optional<typename Body::Partial> run_in_chunks(E& executor, RangeJob<Body>& job,
                                                    std::size_t total, std::size_t chunk) {
  using Partial = typename Body::Partial;
  const std::size_t count = total / chunk + (total % chunk != 0 ? 1 : 0);
  if (count > kMaxChunks) rt::throw_too_many_chunks(job.where(), count);
  auto chunks = std::make_unique<ChunkTask<Body>[]>(count);
  auto partials = std::make_unique<std::optional<Partial>[]>(count);
  CountLatch finished(static_cast<std::uint32_t>(count));
  std::size_t posted = 0;
  // A post that throws cancelled (and counted) its chunk; the ones never posted are counted
  // here, then the posted ones are waited for: none may outlive `chunks`.
  const auto abandon_unposted = [&] {
    for (std::size_t k = posted + 1; k < count; ++k) finished.count_down();
    finished.wait();
  };
  const auto release_and_rethrow = [&] {
    for (std::size_t k = 0; k < posted; ++k) job.discard(partials[k]);
    throw;
  };
  try {
    for (; posted < count; ++posted) {
      ChunkTask<Body>& task = chunks[posted];
      task.job = &job;
      task.finished = &finished;
      task.partial = &partials[posted];
      task.begin = posted * chunk;
      task.end = std::min(total, task.begin + chunk);
      SchedulerAccess::post(executor, &task);
    }
  } catch (const PoolClosed&) {
    abandon_unposted();
    // A pool stopped (Shutdown::stop) after it took this call's first chunks: the job ends as
    // the stop says (Cancelled with the count of items that ran, below), not with PoolClosed.
    // Shutdown::stop requests the pool's stop before it closes the pool, and a refusal
    // acquires the close, so the refusal sees the request. (Not job.stopped(): the refused
    // chunk's own failure stops the job too.) A call refused outright gets PoolClosed.
    if (posted == 0 || !SchedulerAccess::stop_root(executor)->own_requested()) {
      release_and_rethrow();
    }
    job.skip(total - std::min(total, (posted + 1) * chunk));
  } catch (...) {
    abandon_unposted();
    release_and_rethrow();
  }
  finished.wait();
  std::optional<Partial> result = std::move(partials[0]);
  for (std::size_t k = 1; k < count; ++k)
    result = job.combine(std::move(result), std::move(partials[k]));
  return result;
}

// Runs `body` over [0, total) on `executor` and returns the folded partial result (nullopt for
// an empty range). Throws ItemError for the first item that threw, or what a combine or the
// progress callback threw; PoolClosed when the pool refuses the work; Cancelled when
// Shutdown::cancel_pending dropped part of it, or a stop was requested (MapOptions::stop or
// deadline, `extra`, or a stop of the task, group or pool the call runs in).
template <Executor E, class Body>
std::optional<typename Body::Partial> run_range(E& executor, std::size_t total, Body& body,
                                                const MapOptions& options, const char* where,
                                                const std::stop_token& extra = {}) {
  if (total == 0) {
    ProgressReporter(options.on_progress, 0).finish();
    return std::nullopt;
  }
  RangeJob<Body> job(body, total, options, where,
                     StopPlace::on(SchedulerAccess::stop_root(executor)), extra);
  std::optional<typename Body::Partial> result;
  const std::size_t workers = executor.worker_count();
  if constexpr (E::work_stealing) {
    const bool adaptive = options.chunking.kind() == Chunking::Kind::adaptive;
    const Splitter splitter{adaptive ? 0 : options.chunking.chunk_size(total, workers), workers,
                            workers};
    auto whole = [&] { return split_range(job, 0, total, splitter, false); };
    result = run_inside(executor, whole, where);
  } else {
    result = run_in_chunks(executor, job, total, options.chunking.chunk_size(total, workers));
  }
  try {
    job.finish();  // throws the failure; or what the final progress report throws
  } catch (...) {
    job.discard(result);
    throw;
  }
  return result;
}

}  // namespace forage::detail
