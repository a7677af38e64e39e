// libFuzzer target: the public API driven by a byte string of operations (submit, then,
// when_all, when_any, cancel, get, spawn, TaskGroup spawn/wait, parallel_map of a few items,
// nested submits and maps, submit_all, wait_idle, shutdown in either mode), with exactly-once
// accounting checked as it goes and at the end:
//
//   - every task id runs at most once; one that nothing could cancel or skip runs exactly once
//     (after wait_idle, and at the end); one whose cancel() returned true never runs;
//   - every future ends: after shutdown() each is ready, and its outcome is one its chain
//     allows (the value its tasks compute, their exception, or Cancelled only where a cancel,
//     a cancelling shutdown or a closed pool could cause it);
//   - every callable the API was given is destroyed exactly once (a live count per id that
//     returns to 0: no task block leaked or freed twice), and on_error hears of the throwing
//     spawns that ran.
//
// The pool's workers run concurrently with the fuzzing thread, so a run's interleaving is not
// replayable; the invariants above hold for every interleaving, which is what makes a failing
// input worth keeping. Input: byte 0 picks the pool, then an operation per byte (the low 4 bits
// pick it, the high 4 bits are its argument), at most kMaxOps of them.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "forage/forage.hpp"
#include "fuzz_target.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
// libFuzzer runs LeakSanitizer after any input that allocated more than it freed, while the
// process lives. The block allocator's cached blocks are chained through links inside their
// own poisoned bytes (lib/alloc/free_block.hpp), which LeakSanitizer does not follow unless
// told to: without this, every block past the first of a cached list is reported as leaked.
// A task block really leaked is still reported (no link reaches it).
extern "C" const char* __lsan_default_options() { return "use_poisoned=1"; }
#endif
#endif

namespace {

constexpr std::size_t kMaxOps = 256;
constexpr std::size_t kIdsPerOp = 8;  // no operation makes more task ids than this

struct FuzzError {};  // what a throwing task throws

[[noreturn]] void fail(const char* what, std::size_t step) {
  std::fprintf(stderr, "api_fuzz: %s (operation %zu)\n", what, step);
  std::abort();
}

void check(bool ok, const char* what, std::size_t step) {
  if (!ok) fail(what, step);
}

constexpr std::uint64_t value_of(std::uint64_t id) {
  return (id + 1) * 0x9E3779B97F4A7C15ULL ^ (id >> 3);
}

// Whether a task id must run, may run, or must not (its cancel() returned true).
enum class Fate : std::uint8_t { must, may, never };

struct Ledger {
  explicit Ledger(std::size_t ids) : runs(ids), alive(ids), fate(ids, Fate::may) {}

  std::vector<std::atomic<std::uint32_t>> runs;  // times each task id's function ran
  std::vector<std::atomic<std::int32_t>> alive;  // live copies of each id's callable
  std::vector<Fate> fate;                        // fuzzing thread only
  // Written by the fuzzing thread before the id's task is handed over, read by workers: one
  // byte per id (a std::vector<bool> would pack ids into shared words, a data race).
  std::vector<std::uint8_t> throws = std::vector<std::uint8_t>(fate.size(), 0);
  std::atomic<std::uint64_t> errors_reported{0};  // on_error calls
  std::uint32_t next_id = 0;

  std::uint32_t make_id(Fate initial, bool throwing = false) {
    const std::uint32_t id = next_id++;
    fate[id] = initial;
    throws[id] = throwing ? 1 : 0;
    return id;
  }
  // relaxed (all counters): read by the fuzzing thread after wait_idle()/shutdown(), which
  // order every task's run before their return.
  void ran(std::uint32_t id) { runs[id].fetch_add(1, std::memory_order_relaxed); }
  std::uint32_t runs_of(std::uint32_t id) const { return runs[id].load(std::memory_order_relaxed); }
};

// Carried by every callable handed to the API: counts its live copies, so the end can check
// that each was destroyed (no leak) and not once too often.
class Probe {
 public:
  Probe(Ledger& ledger, std::uint32_t id) : ledger_(&ledger), id_(id) { count(+1); }
  Probe(const Probe& other) : ledger_(other.ledger_), id_(other.id_) { count(+1); }
  Probe& operator=(const Probe&) = delete;
  ~Probe() { count(-1); }

  // Runs the task: records the run, throws if the id is a throwing one.
  std::uint64_t run() const {
    ledger_->ran(id_);
    if (ledger_->throws[id_] != 0) throw FuzzError{};
    return value_of(id_);
  }

 private:
  // relaxed: read by the fuzzing thread once the pool is destroyed (its workers joined).
  void count(int delta) { ledger_->alive[id_].fetch_add(delta, std::memory_order_relaxed); }
  Ledger* ledger_;
  std::uint32_t id_;
};

// A future of the fuzzing thread and what its chain allows.
struct Held {
  forage::Future<std::uint64_t> future;
  std::optional<std::uint64_t> expected;  // the value, when the chain has exactly one
  std::optional<std::uint32_t> own_id;    // the task whose run completes it with a value
  bool may_throw = false;                 // a task on its chain throws (or may)
  bool may_cancel = false;                // a cancel could reach it
};

class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return next_ >= size_; }
  std::uint8_t byte() { return next_ < size_ ? data_[next_++] : 0; }
  std::size_t position() const { return next_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t next_ = 0;
};

template <class PoolType>
class Session {
 public:
  Session(PoolType& pool, Ledger& ledger) : pool_(pool), ledger_(ledger), group_(pool) {}

  void run(Reader& in) {
    std::size_t ops = 0;
    while (!in.done() && ops++ < kMaxOps) {
      const std::uint8_t byte = in.byte();
      apply_op(byte, in.position());
    }
    finish(in.position());
  }

 private:
  // A fresh task id, its fate as of now.
  std::uint32_t new_id(bool throwing) {
    return ledger_.make_id(cancelling_ || closed_ ? Fate::may : Fate::must, throwing);
  }

  Held held_for(std::uint32_t id, forage::Future<std::uint64_t> future) {
    Held held{std::move(future), std::nullopt, id, ledger_.throws[id] != 0, cancelling_};
    if (!held.may_throw) held.expected = value_of(id);
    return held;
  }

  void submit(bool throwing, std::size_t step) {
    const std::uint32_t id = new_id(throwing);
    try {
      held_.push_back(
          held_for(id, pool_.submit([probe = Probe(ledger_, id)] { return probe.run(); })));
      check(!closed_, "submit accepted by a closed pool", step);
    } catch (const forage::PoolClosed&) {
      check(closed_, "submit refused by an open pool", step);
      ledger_.fate[id] = Fate::never;
    }
  }

  // then(): the continuation records its own id and folds the antecedent's value into its own.
  void then(std::size_t pick, bool on_pool, std::size_t step) {
    if (held_.empty()) return;
    Held antecedent = take(pick);
    const std::uint32_t id = new_id(false);
    if (antecedent.may_throw || antecedent.may_cancel) ledger_.fate[id] = Fate::may;
    auto fold = [probe = Probe(ledger_, id)](std::uint64_t x) { return x * 3 + probe.run(); };
    Held held{on_pool ? antecedent.future.then(pool_, std::move(fold))
                      : antecedent.future.then(std::move(fold)),
              std::nullopt, id, antecedent.may_throw,
              antecedent.may_cancel || cancelling_ || closed_};
    // A continuation due to run on a closed pool is cancelled rather than lost.
    if (closed_) ledger_.fate[id] = Fate::may;
    if (antecedent.expected) held.expected = *antecedent.expected * 3 + value_of(id);
    held_.push_back(std::move(held));
    (void)step;
  }

  // when_all of the last `count` futures, summed by a continuation that runs where it ends.
  void when_all(std::size_t count, std::size_t step) {
    count = std::min(count, held_.size());
    if (count == 0) return;
    std::vector<forage::Future<std::uint64_t>> inputs;
    Held combined{{}, std::uint64_t{0}, std::nullopt, false, false};
    for (std::size_t i = held_.size() - count; i < held_.size(); ++i) {
      Held& input = held_[i];
      combined.may_throw |= input.may_throw;
      combined.may_cancel |= input.may_cancel;
      if (combined.expected && input.expected) {
        *combined.expected += *input.expected;
      } else {
        combined.expected.reset();
      }
      inputs.push_back(std::move(input.future));
    }
    held_.resize(held_.size() - count);
    const std::uint32_t id = new_id(false);
    ledger_.fate[id] = Fate::may;  // runs only if every input has a value
    combined.own_id = id;
    if (combined.expected) *combined.expected += value_of(id);
    combined.future = forage::when_all(std::move(inputs))
                          .then([probe = Probe(ledger_, id)](std::vector<std::uint64_t> all) {
                            std::uint64_t sum = probe.run();
                            for (std::uint64_t v : all) sum += v;
                            return sum;
                          });
    held_.push_back(std::move(combined));
    (void)step;
  }

  // when_any of the last `count` futures: any input's value (not checked), or its error.
  void when_any(std::size_t count) {
    count = std::min(count, held_.size());
    if (count == 0) return;
    std::vector<forage::Future<std::uint64_t>> inputs;
    Held first{};
    for (std::size_t i = held_.size() - count; i < held_.size(); ++i) {
      first.may_throw |= held_[i].may_throw;
      first.may_cancel |= held_[i].may_cancel;
      inputs.push_back(std::move(held_[i].future));
    }
    held_.resize(held_.size() - count);
    first.future =
        forage::when_any(std::move(inputs)).then([](std::pair<std::size_t, std::uint64_t> winner) {
          return winner.second;
        });
    held_.push_back(std::move(first));
  }

  void cancel(std::size_t pick, std::size_t step) {
    if (held_.empty()) return;
    Held& held = held_[pick % held_.size()];
    if (!held.future.cancel()) return;
    check(held.future.cancelled(), "cancel() returned true but the future is not cancelled", step);
    held.may_cancel = true;
    if (held.own_id) ledger_.fate[*held.own_id] = Fate::never;
  }

  void get(std::size_t pick, std::size_t step) {
    if (held_.empty()) return;
    settle(take(pick), step);
  }

  // Checks a future's outcome against what its chain allows; waits for it.
  void settle(Held held, std::size_t step) {
    try {
      const std::uint64_t value = held.future.get();
      check(!held.may_throw || !held.expected, "a value from a chain that throws", step);
      if (held.expected) check(value == *held.expected, "get() returned a wrong value", step);
      if (held.own_id) {
        check(ledger_.runs_of(*held.own_id) == 1, "a value whose task did not run once", step);
        check(ledger_.throws[*held.own_id] == 0, "a value from a task that throws", step);
      }
    } catch (const FuzzError&) {
      check(held.may_throw, "a task's exception from a chain that does not throw", step);
    } catch (const forage::Cancelled&) {
      check(held.may_cancel, "Cancelled where nothing could cancel", step);
    } catch (const forage::PoolClosed&) {
      // A nested submit refused by a closing pool; only where a shutdown could reach.
      check(held.may_cancel, "PoolClosed from a task where no shutdown could reach", step);
    }
  }

  void spawn(bool throwing, std::size_t step) {
    const std::uint32_t id = new_id(throwing);
    spawned_.push_back(id);
    try {
      pool_.spawn([probe = Probe(ledger_, id)] { probe.run(); });
      check(!closed_, "spawn accepted by a closed pool", step);
    } catch (const forage::PoolClosed&) {
      check(closed_, "spawn refused by an open pool", step);
      ledger_.fate[id] = Fate::never;
    }
  }

  // A group task, which may spawn a child into the same group.
  void group_spawn(bool throwing, bool with_child, std::size_t step) {
    const std::uint32_t id = new_id(throwing);
    const std::uint32_t child = new_id(false);
    if (throwing || !with_child) ledger_.fate[child] = Fate::never;
    if (throwing) group_throwers_.push_back(id);
    try {
      group_.spawn([this, probe = Probe(ledger_, id), child, with_child] {
        probe.run();
        if (with_child) group_.spawn([child_probe = Probe(ledger_, child)] { child_probe.run(); });
      });
      check(!closed_, "TaskGroup::spawn accepted by a closed pool", step);
    } catch (const forage::PoolClosed&) {
      check(closed_, "TaskGroup::spawn refused by an open pool", step);
      ledger_.fate[id] = Fate::never;
      ledger_.fate[child] = Fate::never;
    }
  }

  void group_wait(std::size_t step) {
    try {
      group_.wait();
      // No throwing group task ran since the last wait, or its exception would be here.
      for (std::uint32_t id : group_throwers_) {
        check(ledger_.runs_of(id) == 0, "TaskGroup::wait dropped a task's exception", step);
      }
    } catch (const FuzzError&) {
      check(!group_throwers_.empty(), "TaskGroup::wait threw an exception no task threw", step);
    } catch (const forage::Cancelled&) {
      check(cancelling_, "TaskGroup::wait threw Cancelled without a cancelling shutdown", step);
    } catch (const forage::PoolClosed&) {
      check(closed_, "a group task's spawn refused by an open pool", step);
    }
    group_throwers_.clear();
  }

  // parallel_map of `count` items from the fuzzing thread: each item once, results in order.
  void map(std::size_t count, std::size_t step) {
    std::vector<std::size_t> items(count);
    for (std::size_t i = 0; i < count; ++i) items[i] = i;
    std::vector<std::atomic<int>> calls(count);
    try {
      auto results = forage::parallel_map(pool_, items, [&calls](std::size_t item) {
        // relaxed: read after parallel_map returned, which its completion orders.
        calls[item].fetch_add(1, std::memory_order_relaxed);
        return value_of(item);
      });
      check(!closed_ || count == 0, "parallel_map ran on a closed pool", step);
      check(results.size() == count, "parallel_map returned the wrong number of results", step);
      for (std::size_t i = 0; i < count; ++i) {
        check(results[i] == value_of(i), "parallel_map result out of place", step);
        check(calls[i].load(std::memory_order_relaxed) == 1, "parallel_map item not run once",
              step);
      }
    } catch (const forage::PoolClosed&) {
      check(closed_, "parallel_map refused by an open pool", step);
      for (std::size_t i = 0; i < count; ++i) {
        check(calls[i].load(std::memory_order_relaxed) == 0, "refused parallel_map ran", step);
      }
    }
  }

  // A task that submits a child and waits for it (help-while-wait), or maps a few items.
  void nested(bool use_map, std::size_t step) {
    const std::uint32_t id = new_id(false);
    const std::uint32_t child = new_id(false);
    // The child runs only if its parent does, which a cancel() of the parent's future can
    // prevent; a value from the parent proves both ran (settle checks the parent, and the
    // value includes the child's).
    ledger_.fate[child] = use_map ? Fate::never : Fate::may;
    try {
      auto future = pool_.submit([this, probe = Probe(ledger_, id), child, use_map] {
        std::uint64_t result = probe.run();
        if (use_map) {
          auto doubled = forage::parallel_map(pool_, std::vector<std::uint64_t>{1, 2, 3},
                                              [](std::uint64_t x) { return 2 * x; });
          return result + doubled[0] + doubled[1] + doubled[2];
        }
        return result + pool_.submit([p = Probe(ledger_, child)] { return p.run(); }).get();
      });
      Held held = held_for(id, std::move(future));
      if (held.expected) *held.expected += use_map ? 12 : value_of(child);
      held_.push_back(std::move(held));
      check(!closed_, "submit accepted by a closed pool", step);
    } catch (const forage::PoolClosed&) {
      check(closed_, "submit refused by an open pool", step);
      ledger_.fate[id] = Fate::never;
      ledger_.fate[child] = Fate::never;
    }
  }

  void submit_all(std::size_t count, std::size_t step) {
    std::vector<std::uint32_t> ids;
    for (std::size_t i = 0; i < count; ++i) ids.push_back(new_id(false));
    try {
      auto futures = pool_.submit_all(ids, [probe_ledger = &ledger_](std::uint32_t id) {
        return Probe(*probe_ledger, id).run();
      });
      check(!closed_ || count == 0, "submit_all accepted by a closed pool", step);
      check(futures.size() == count, "submit_all returned the wrong number of futures", step);
      for (std::size_t i = 0; i < futures.size(); ++i) {
        held_.push_back(held_for(ids[i], std::move(futures[i])));
      }
    } catch (const forage::PoolClosed&) {
      check(closed_, "submit_all refused by an open pool", step);
      for (std::uint32_t id : ids) ledger_.fate[id] = Fate::never;
    }
  }

  void wait_idle(std::size_t step) {
    pool_.wait_idle();
    check_ledger(step);
  }

  void shutdown(bool cancel_pending, std::size_t step) {
    if (cancel_pending && !closed_) {
      cancelling_ = true;
      for (Held& held : held_) held.may_cancel = true;
      for (Fate& fate : ledger_.fate) {
        if (fate == Fate::must) fate = Fate::may;
      }
    }
    pool_.shutdown(cancel_pending ? forage::Shutdown::cancel_pending : forage::Shutdown::drain);
    closed_ = true;
    // No future is left hanging: each one is done the moment shutdown returns.
    for (Held& held : held_) check(held.future.ready(), "a future not done after shutdown", step);
    check_ledger(step);
  }

  void apply_op(std::uint8_t byte, std::size_t step) {
    const unsigned arg = byte >> 4;
    switch (byte & 15u) {
      case 0:
        submit(false, step);
        break;
      case 1:
        submit(arg == 15, step);
        break;
      case 2:
        then(arg, (arg & 1u) != 0, step);
        break;
      case 3:
        when_all(1 + arg % 4, step);
        break;
      case 4:
        when_any(1 + arg % 3);
        break;
      case 5:
        cancel(arg, step);
        break;
      case 6:
        get(arg, step);
        break;
      case 7:
        spawn(arg == 15, step);
        break;
      case 8:
        group_spawn(arg == 15, (arg & 1u) != 0, step);
        break;
      case 9:
        group_wait(step);
        break;
      case 10:
        map(arg % 6, step);
        break;
      case 11:
        nested((arg & 1u) != 0, step);
        break;
      case 12:
        submit_all(arg % 5, step);
        break;
      case 13:
        wait_idle(step);
        break;
      case 14:
        if (arg >= 12) shutdown((arg & 1u) != 0, step);
        break;
      default:
        submit(false, step);
        break;
    }
  }

  void finish(std::size_t step) {
    if (!closed_) shutdown(false, step);
    while (!held_.empty()) settle(take(0), step);
    group_wait(step);
    check_ledger(step);
  }

  // Every id ran at most once; one that must run did; one whose cancel succeeded did not.
  void check_ledger(std::size_t step) const {
    for (std::uint32_t id = 0; id < ledger_.next_id; ++id) {
      const std::uint32_t runs = ledger_.runs_of(id);
      check(runs <= 1, "a task ran twice", step);
      if (ledger_.fate[id] == Fate::must) check(runs == 1, "a task that must run did not", step);
      if (ledger_.fate[id] == Fate::never) check(runs == 0, "a cancelled task ran", step);
    }
  }

  Held take(std::size_t pick) {
    const std::size_t index = pick % held_.size();
    Held held = std::move(held_[index]);
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(index));
    return held;
  }

 public:
  // Spawned ids, for the on_error reconciliation at the very end.
  const std::vector<std::uint32_t>& spawned() const { return spawned_; }

 private:
  PoolType& pool_;
  Ledger& ledger_;
  forage::TaskGroup group_;
  std::vector<Held> held_;
  std::vector<std::uint32_t> spawned_;
  std::vector<std::uint32_t> group_throwers_;  // throwing group tasks since the last wait
  bool closed_ = false;
  bool cancelling_ = false;
};

forage::PoolOptions options_for(Ledger& ledger) {
  // A fixed synthetic machine: no hwloc discovery per input, no pinning.
  static const forage::Topology machine = forage::Topology::synthetic("package:1 core:2 pu:1");
  forage::PoolOptions options;
  options.pinning = forage::Pinning::none;
  options.topology = machine;
  options.name = "fuzz";
  options.stack_size = forage::PoolOptions::kMinStackSize * 16;
  options.on_error = [&ledger](std::exception_ptr) {
    // relaxed: read after the pool is shut down (its workers joined).
    ledger.errors_reported.fetch_add(1, std::memory_order_relaxed);
  };
  return options;
}

template <class PoolType>
void run_on(PoolType& pool, Ledger& ledger, Reader& in) {
  std::vector<std::uint32_t> spawned;
  {
    Session<PoolType> session(pool, ledger);
    session.run(in);
    spawned = session.spawned();
  }  // the TaskGroup is destroyed here: nothing of it is left
  // on_error heard of every throwing spawn that ran, and of nothing else but group tasks'
  // exceptions nobody collected (there are none: finish() waited on the group).
  std::uint64_t throwing_spawns_ran = 0;
  for (std::uint32_t id : spawned) {
    if (ledger.throws[id] != 0 && ledger.runs_of(id) == 1) ++throwing_spawns_ran;
  }
  check(ledger.errors_reported.load(std::memory_order_relaxed) == throwing_spawns_ran,
        "on_error calls differ from the throwing spawns that ran", in.position());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  const std::uint8_t config = in.byte();
  Ledger ledger(kIdsPerOp * (std::min(size, kMaxOps) + 1));
  {
    forage::PoolOptions options = options_for(ledger);
    switch (config % 4) {
      case 0:
      case 1: {
        options.workers = 1 + (config >> 2) % 3;  // 1 to 3 workers on 2 cores
        forage::Pool pool(std::move(options));
        run_on(pool, ledger, in);
        break;
      }
      case 2: {
        forage::SingleQueuePool pool(2, forage::QueueKind::locked, std::move(options));
        run_on(pool, ledger, in);
        break;
      }
      default: {
        forage::SingleQueuePool pool(2, forage::QueueKind::lock_free, std::move(options));
        run_on(pool, ledger, in);
        break;
      }
    }
  }
  // Every callable handed to the API was destroyed, exactly once.
  for (std::uint32_t id = 0; id < ledger.next_id; ++id) {
    const std::int32_t alive = ledger.alive[id].load(std::memory_order_relaxed);
    if (alive != 0) {
      std::fprintf(stderr, "api_fuzz: task id %u: %d live copies of its callable\n", id, alive);
      fail(alive > 0 ? "a callable was never destroyed" : "a callable was destroyed twice", size);
    }
  }
  return 0;
}
