// The shared state behind Future, SharedFuture and Promise.
//
// One 32-bit word holds the status, a "somebody sleeps on me" bit and a "continuations were
// added" bit, so a completion costs one exchange, plus a futex wake only when a thread sleeps
// and a pass over the continuations only when there are some. Continuations (then, on_done,
// when_all/when_any links) are an intrusive stack. An adder first sets the continuation bit,
// which fails once the status is done (the adder then fires its node itself: the future was
// done before the call). A completion that sees the bit closes the stack and fires what is
// on it; a push that finds the stack closed also fires its node itself.
//
//   pending ──try_start──▶ running ──finish──▶ value | error | cancelled
//      └────────────try_cancel────────────────▶ cancelled
//
// Exactly one thread wins try_start or try_cancel; only the winner touches the work and the
// result storage, so neither needs a lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iterator>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "forage/detail/assert.hpp"
#include "forage/detail/block_alloc.hpp"
#include "forage/detail/scheduler_id.hpp"
#include "forage/detail/wait_word.hpp"
#include "forage/export.hpp"

namespace forage::detail {

enum class Status : std::uint32_t { pending = 0, running = 1, value = 2, error = 3, cancelled = 4 };

struct Continuation {
  using Fire = void (*)(Continuation* self) noexcept;
  Fire fire;
  Continuation* next = nullptr;
};

class StateBase;

namespace FORAGE_API rt {
// Defined in lib/future.cpp. An exception from an on_done callback: to that pool's
// PoolOptions::on_error, else the calling worker's, else stderr.
void report_callback_error(SchedulerId scheduler, std::exception_ptr error) noexcept;
}  // namespace rt

// Every shared state is a block of the block allocator (BlockAllocated): `delete this` in
// release() frees the most derived object's size.
class StateBase : public BlockAllocated {
 public:
  static constexpr std::uint32_t kStatusMask = 0x7;
  static constexpr std::uint32_t kHasSleepers = 0x8;
  static constexpr std::uint32_t kHasContinuations = 0x10;

  StateBase(const StateBase&) = delete;
  StateBase& operator=(const StateBase&) = delete;

  // The word as text, for assertion messages and tests: "running +sleepers".
  static std::string decode(std::uint32_t word) {
    static constexpr const char* kNames[] = {"pending", "running", "value", "error", "cancelled"};
    const std::uint32_t status = word & kStatusMask;
    std::string text =
        status < std::size(kNames) ? kNames[status] : "invalid status " + std::to_string(status);
    if ((word & kHasSleepers) != 0) text += " +sleepers";
    if ((word & kHasContinuations) != 0) text += " +continuations";
    if (const std::uint32_t unknown = word & ~(kStatusMask | kHasSleepers | kHasContinuations);
        unknown != 0) {
      text += " +unknown bits " + std::to_string(unknown);
    }
    return text;
  }

  // A word the protocol can produce: a known status and no unknown bits; a done status
  // carries no flag (the completion clears them, and no flag is set once it is done).
  static bool valid_word(std::uint32_t word) noexcept {
    const std::uint32_t status = word & kStatusMask;
    const std::uint32_t flags = word & ~kStatusMask;
    if (status > static_cast<std::uint32_t>(Status::cancelled)) return false;
    if ((flags & ~(kHasSleepers | kHasContinuations)) != 0) return false;
    return status < static_cast<std::uint32_t>(Status::value) || flags == 0;
  }

  // A new owner is always made from an existing one, which keeps the state alive meanwhile.
  void add_ref() noexcept {
    // relaxed: as shared_ptr's copy; nothing is published through the count going up.
    const std::uint32_t before = refs_.fetch_add(1, std::memory_order_relaxed);
    FORAGE_ASSERT(before != 0, "StateBase::add_ref on a state nobody owns (already freed)");
  }
  void release() noexcept {
    // acq_rel: the last owner must see every other owner's writes (release on their
    // decrement, acquire on ours) before it destroys the state.
    const std::uint32_t before = refs_.fetch_sub(1, std::memory_order_acq_rel);
    FORAGE_ASSERT(before != 0, "StateBase::release: more releases than references");
    if (before == 1) delete this;
  }

  Status status() const noexcept {
    // acquire: a done status makes the result it announces visible (finish's release).
    return static_cast<Status>(word_.load(std::memory_order_acquire) & kStatusMask);
  }
  bool done() const noexcept { return status() >= Status::value; }
  SchedulerId scheduler() const noexcept { return scheduler_; }

  // pending -> running. The winner, and only it, may produce the result.
  bool try_start() noexcept { return transition(Status::pending, Status::running); }

  // pending -> cancelled, then wakes and fires as any completion. False once started.
  bool try_cancel() noexcept {
    std::uint32_t old_word = 0;
    if (!transition(Status::pending, Status::cancelled, &old_word)) return false;
    drop_work();
    after_completion(old_word);
    return true;
  }

  // Future::request_stop: cancels the task if it has not started; otherwise asks it to stop
  // (a running task reads the request through its token or this_task; a finished one ignores
  // it).
  void request_stop() noexcept {
    if (!try_cancel()) stop_running();
  }

  // Pushes `node`; false when the state has already completed (the caller fires it then).
  bool add_continuation(Continuation* node) noexcept {
    // acquire: a done status makes the result visible to the caller, who fires the node.
    std::uint32_t word = word_.load(std::memory_order_acquire);
    for (;;) {
      // Done before the call: the caller fires the node at once, on its own thread. (The
      // completer may not have closed the stack yet, so pushing would defer it.)
      if (static_cast<Status>(word & kStatusMask) >= Status::value) return false;
      if ((word & kHasContinuations) != 0) break;  // set by an earlier adder
      // acquire (both): on failure `word` may be a done status, as the load above. The bit
      // itself needs no order (the node is published by the push below); success uses
      // acquire only because g++ rejects a failure order stronger than the success order.
      if (word_.compare_exchange_weak(word, word | kHasContinuations, std::memory_order_acquire,
                                      std::memory_order_acquire)) {
        FORAGE_ASSERT(valid_word(word | kHasContinuations),
                      "StateBase::add_continuation set its bit on " + decode(word));
        break;
      }
    }
    // acquire: on seeing the stack closed, see the result published before it was closed.
    Continuation* head = continuations_.load(std::memory_order_acquire);
    do {
      if (head == closed_stack()) return false;
      node->next = head;
      // release: the node's contents travel with it to complete()'s acquire exchange.
      // acquire (failure): as the load above.
    } while (!continuations_.compare_exchange_weak(head, node, std::memory_order_release,
                                                   std::memory_order_acquire));
    return true;
  }

  // Blocks until done or until `deadline` (kNoDeadline: none); returns whether it is done. On
  // a worker thread it runs other tasks meanwhile (help-while-wait).
  bool wait_until(std::chrono::steady_clock::time_point deadline) const {
    if (done()) return true;
    return rt::wait_for_word(word_, kHasSleepers, &is_done_word, 0, deadline);
  }

  // For tests that look at the sleeper bit.
  std::atomic<std::uint32_t>& word() const noexcept { return word_; }

 protected:
  StateBase(std::uint32_t initial_refs, SchedulerId scheduler) noexcept
      : refs_(initial_refs), scheduler_(scheduler) {}
  virtual ~StateBase() = default;

  // running -> value/error/cancelled, after the winner of try_start stored the result.
  void finish(Status final_status) noexcept {
    // release: publishes the result written before this to every acquire of the status.
    const std::uint32_t old =
        word_.exchange(static_cast<std::uint32_t>(final_status), std::memory_order_release);
    FORAGE_ASSERT(
        static_cast<Status>(old & kStatusMask) == Status::running,
        "StateBase::finish by a thread that did not win try_start: the word was " + decode(old));
    after_completion(old);
  }

  // Frees the work (a task's callable) of a state cancelled before it ran.
  virtual void drop_work() noexcept {}
  // Asks the running work to stop (a submitted task's stop node); nothing for a state with no
  // work of its own (a Promise's, a continuation's).
  virtual void stop_running() noexcept {}

 private:
  static bool is_done_word(std::uint32_t word, std::uint32_t /*unused*/) noexcept {
    return static_cast<Status>(word & kStatusMask) >= Status::value;
  }

  static Continuation* closed_stack() noexcept {
    // A non-null address no node can have (nodes are aligned); never dereferenced.
    return reinterpret_cast<Continuation*>(std::uintptr_t{1});
  }

  // `from` -> `to` if the status is `from`. A final `to` clears the flag bits and reports the
  // word it replaced (the caller then wakes sleepers and fires continuations); otherwise the
  // flags are kept.
  bool transition(Status from, Status to, std::uint32_t* old_word = nullptr) noexcept {
    const bool final_status = to >= Status::value;
    // relaxed: the CAS below re-reads it; only its atomicity decides the winner.
    std::uint32_t word = word_.load(std::memory_order_relaxed);
    std::uint32_t desired = 0;
    do {
      if (static_cast<Status>(word & kStatusMask) != from) return false;
      desired = (final_status ? 0 : word & ~kStatusMask) | static_cast<std::uint32_t>(to);
      // acq_rel: acquire so the winner sees the work the state was built with (a canceller
      // may be another thread than the submitter); release so a final status publishes
      // itself as finish() does.
    } while (!word_.compare_exchange_weak(word, desired, std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
    FORAGE_ASSERT(valid_word(word) && valid_word(desired),
                  "StateBase::transition: " + decode(word) + " -> " + decode(desired));
    if (old_word != nullptr) *old_word = word;
    return true;
  }

  // `old_word`: the word the final status replaced; its flags say who must hear of it.
  void after_completion(std::uint32_t old_word) noexcept {
    if ((old_word & kHasSleepers) != 0) rt::wake_word_sleepers(word_);
    // No adder set the bit before our exchange, and none can now: nothing to fire.
    if ((old_word & kHasContinuations) == 0) return;
    // acquire: see the contents of every node pushed (their release CAS).
    // release: pairs with add_continuation's acquire, which must see the result.
    Continuation* node = continuations_.exchange(closed_stack(), std::memory_order_acq_rel);
    // The stack is newest-first; fire in the order the continuations were added.
    Continuation* in_order = nullptr;
    while (node != nullptr) {
      Continuation* next = node->next;
      node->next = in_order;
      in_order = node;
      node = next;
    }
    while (in_order != nullptr) {
      Continuation* next = in_order->next;  // fire may free the node
      in_order->fire(in_order);
      in_order = next;
    }
  }

  mutable std::atomic<std::uint32_t> word_{static_cast<std::uint32_t>(Status::pending)};
  std::atomic<std::uint32_t> refs_;
  std::atomic<Continuation*> continuations_{nullptr};
  const SchedulerId scheduler_;
};

// The result slot: a value (absent for void) or an exception, chosen by the status.
template <class T>
class SharedState : public StateBase {
 public:
  SharedState(std::uint32_t initial_refs, SchedulerId scheduler) noexcept
      : StateBase(initial_refs, scheduler) {}

  // Only the winner of try_start calls these, once.
  template <class... Args>
  void set_value(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    ::new (static_cast<void*>(&storage_.value)) T(std::forward<Args>(args)...);
    finish(Status::value);
  }
  void set_error(std::exception_ptr error) noexcept {
    ::new (static_cast<void*>(&storage_.error)) std::exception_ptr(std::move(error));
    finish(Status::error);
  }
  void set_cancelled() noexcept { finish(Status::cancelled); }

  // Only once done() and status() is value / error.
  T& value() noexcept { return storage_.value; }
  const std::exception_ptr& error() const noexcept { return storage_.error; }

 protected:
  ~SharedState() override {
    // The destructor runs after the last release(), whose acquire made the status visible.
    if (status() == Status::value) storage_.value.~T();
    if (status() == Status::error) storage_.error.~exception_ptr();
  }

 private:
  union Storage {
    Storage() noexcept {}
    ~Storage() {}
    T value;
    std::exception_ptr error;
  } storage_;
};

template <>
class SharedState<void> : public StateBase {
 public:
  SharedState(std::uint32_t initial_refs, SchedulerId scheduler) noexcept
      : StateBase(initial_refs, scheduler) {}

  void set_value() noexcept { finish(Status::value); }
  void set_error(std::exception_ptr error) noexcept {
    error_ = std::move(error);
    finish(Status::error);
  }
  void set_cancelled() noexcept { finish(Status::cancelled); }
  const std::exception_ptr& error() const noexcept { return error_; }

 private:
  std::exception_ptr error_;
};

// Releases a state reference at scope exit.
template <class State>
struct StateRef {
  State* state;
  ~StateRef() {
    if (state != nullptr) state->release();
  }
};

}  // namespace forage::detail
