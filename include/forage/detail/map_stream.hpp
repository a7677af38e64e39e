// The engine under imap and imap_unordered: a window of chunk tasks over an input range that
// is read lazily, on the consuming thread, as results are consumed.
//
// The window has up to max_in_flight / chunk slots. Each slot is a task holding one chunk of
// inputs and, once it ran, their results. Consuming a slot's last result refills it with the
// next chunk of the input and posts it again, so at most max_in_flight results exist that the
// consumer has not taken, however slow it is and however long the input. Slots are created as
// the input fills them, never ahead: memory follows what is in flight, bounded by the input
// (any max_in_flight >= 1 works, SIZE_MAX included, over 10 items as over 10^9).
//
// The input throwing (its iterator's *, ++ or end comparison) ends the reading, not the
// stream: the items read before the failing one are in slots already posted (the chunk being
// read is posted with what it has), so their results are yielded first, then the input's
// exception is rethrown as thrown.
//   ordered:   the consumer drains the slots in ring order (the order their chunks were read)
//   unordered: finished slots push themselves onto a lock-free list the consumer drains
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <vector>

#include "forage/detail/alloc_fault.hpp"
#include "forage/detail/range_job.hpp"
#include "forage/detail/stop_node.hpp"
#include "forage/detail/task.hpp"
#include "forage/detail/wait_word.hpp"
#include "forage/errors.hpp"
#include "forage/executor.hpp"
#include "forage/export.hpp"
#include "forage/map_options.hpp"

namespace forage::detail {

// Items per chunk and slots in the window, from the options; `known_size` when the input is
// sized.
struct StreamShape {
  std::size_t chunk;
  std::size_t slots;
};

namespace FORAGE_API rt {
// Defined in lib/algorithm.cpp (the errors it shares with the range engine are declared in
// range_job.hpp).
// Throws InvalidArgument for options imap cannot use (on_progress, max_in_flight = 0).
void validate_stream_options(const MapOptions& options, const char* where);
StreamShape stream_shape(const MapOptions& options, std::size_t workers,
                         std::optional<std::size_t> known_size) noexcept;
}  // namespace rt

// The input of a stream: a reference to an lvalue range (the caller keeps it alive, as with a
// range adaptor), or the range itself when it was passed as an rvalue. (Not std::views::all:
// clang 14 cannot use libstdc++ 12's views.)
template <class R>
class StreamInput {
 public:
  using Range = std::remove_reference_t<R>;

  explicit StreamInput(R&& range) : stored_(store(std::forward<R>(range))) {}
  Range& get() noexcept {
    if constexpr (kByReference) {
      return *stored_;
    } else {
      return stored_;
    }
  }

 private:
  static constexpr bool kByReference = std::is_lvalue_reference_v<R>;
  static auto store(R&& range) {
    if constexpr (kByReference) {
      return &range;
    } else {
      return Range(std::move(range));
    }
  }

  std::conditional_t<kByReference, Range*, Range> stored_;
};

// R is the type imap was given (an lvalue reference or a range type).
template <Executor E, class R, class F, bool Ordered>
  requires std::ranges::input_range<std::remove_reference_t<R>>
class MapStream {
  using View = std::remove_reference_t<R>;

 public:
  using Item = std::remove_cvref_t<std::ranges::range_reference_t<View>>;
  using Result = std::remove_cvref_t<std::invoke_result_t<F&, Item&>>;
  // What iteration yields: the result, or {index, result} when unordered.
  using Value = std::conditional_t<Ordered, Result, std::pair<std::size_t, Result>>;

 private:
  struct State;

 public:
  class iterator {
   public:
    using iterator_concept = std::input_iterator_tag;
    using value_type = Value;
    using difference_type = std::ptrdiff_t;

    iterator() noexcept = default;
    Value& operator*() const noexcept { return *stream_->current_; }
    Value* operator->() const noexcept { return &*stream_->current_; }
    // Waits for the next result (helping, on a worker); throws ItemError if it is the item
    // that failed.
    iterator& operator++() {
      stream_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
      return it.stream_->finished_;
    }

   private:
    friend class MapStream;
    explicit iterator(State* stream) noexcept : stream_(stream) {}
    State* stream_ = nullptr;
  };

  MapStream(E& executor, R&& inputs, F fn, const MapOptions& options, const char* where)
      : state_(std::make_unique<State>(executor, std::forward<R>(inputs), std::move(fn), options,
                                       where,
                                       // Under the pool only: a stream may be moved out of
                                       // the task that made it and outlive its node.
                                       StopPlace{SchedulerAccess::stop_root(executor), nullptr})) {}

  MapStream(MapStream&&) noexcept = default;
  MapStream& operator=(MapStream&&) = delete;

  // Reads the first chunks and waits for the first result. Call once: the input is read as
  // the stream goes (a second begin() continues where the first left off).
  iterator begin() {
    if (!state_->started_) {
      state_->started_ = true;
      state_->guarded([this] { state_->start(); });
    }
    return iterator(state_.get());
  }
  std::default_sentinel_t end() const noexcept { return std::default_sentinel; }

 private:
  struct Slot final : Task {
    Slot() noexcept : Task{&Slot::invoke_task} {}

    static void invoke_task(Task* self, TaskAction action) noexcept {
      auto* slot = static_cast<Slot*>(self);
      State* state = slot->state;
      if (action == TaskAction::run) {
        slot->run();
      } else if (state->stopped()) {
        // A stop (Shutdown::stop among them) ends the stream: a skipped chunk, so the
        // consumer gets the stop's Cancelled, not a chunk cancelled by cancel_pending.
        slot->cut_short = true;
      } else {
        slot->cancelled = true;
      }
      state->publish(*slot);
      state->in_flight_.count_down();  // our last access: the stream may be destroyed now
    }

    void run() noexcept {
      const StopScope scope(&state->node_);  // for this_task::stop_requested()
      if (state->deadline_passed()) {
        cut_short = true;
        return;
      }
      for (std::size_t k = 0; k < items.size(); ++k) {
        if (state->stopped()) {
          cut_short = true;
          return;
        }
        try {
          results.push_back(std::invoke(state->fn_, items[k]));
        } catch (...) {
          error = std::current_exception();
          error_index = first_index + k;
          state->stop();
          return;
        }
      }
    }

    State* state = nullptr;
    std::size_t first_index = 0;
    std::vector<Item> items;
    std::vector<Result> results;
    std::size_t consumed = 0;  // consumer only
    bool active = false;       // consumer only: holds a chunk not yet fully consumed
    std::exception_ptr error;
    std::size_t error_index = 0;
    bool cancelled = false;
    bool cut_short = false;     // stopped by another item's failure before all its items ran
    CountLatch ready{0};        // ordered: 1 while the slot's task is queued or running
    Slot* next_done = nullptr;  // unordered: the finished list
  };

  struct State {
    State(E& executor, R&& inputs, F fn, const MapOptions& options, const char* where,
          StopPlace place)
        : executor_(executor),
          inputs_(std::forward<R>(inputs)),
          fn_(std::move(fn)),
          where_(where),
          node_(place.parent),
          extra_root_(place.extra_root),
          deadline_(options.deadline),
          has_deadline_(options.deadline != std::chrono::steady_clock::time_point::max()),
          on_stop_(options.stop, RequestStop{&node_}) {
      std::optional<std::size_t> known_size;
      if constexpr (std::ranges::sized_range<View>) {
        known_size = static_cast<std::size_t>(std::ranges::size(inputs_.get()));
      }
      const StreamShape shape = rt::stream_shape(options, executor.worker_count(), known_size);
      chunk_ = shape.chunk;
      max_slots_ = shape.slots;
    }

    ~State() {
      stop();
      in_flight_.wait();  // no slot task may outlive the slots
    }

    State(const State&) = delete;
    State& operator=(const State&) = delete;

    // The one stop mechanism (range_job.hpp): a failure, the consumer leaving, a request
    // (MapOptions::stop, the deadline, a stop of the enclosing task or the pool) all set the
    // node. At the end of the stream, a stop that no failure explains is a request: Cancelled.
    bool stopped() const noexcept {
      // relaxed (both): a hint; results and errors are published by publish()/in_flight_.
      return node_.requested(std::memory_order_relaxed) ||
             (extra_root_ != nullptr && extra_root_->own_requested(std::memory_order_relaxed));
    }
    void stop() noexcept { node_.request(); }
    // Only when a deadline was given is the clock read; passing it is a stop request.
    bool deadline_passed() noexcept {
      if (!has_deadline_ || std::chrono::steady_clock::now() < deadline_) return false;
      node_.request();
      return true;
    }

    // Fills the window: one slot per chunk the input has, up to max_slots_. After this the
    // slot count is fixed (the ring of the ordered drain is slots_.size() long).
    void start() {
      try {
        next_input_ = std::ranges::begin(inputs_.get());
      } catch (...) {
        input_error_ = std::current_exception();
        input_ended_ = true;
      }
      while (slots_.size() < max_slots_ && !input_at_end()) {
        allocation_fault_point();  // a test's injected failure (detail/alloc_fault.hpp)
        Slot& slot = slots_.emplace_back();
        slot.state = this;
        if (!refill(slot)) {  // the input threw before the chunk's first item
          slots_.pop_back();
          break;
        }
      }
      advance();
    }

    // True when no further item can be read (the end, or the input threw). The comparison
    // itself may throw: that ends the input too.
    bool input_at_end() noexcept {
      if (input_ended_) return true;
      try {
        input_ended_ = next_input_ == std::ranges::end(inputs_.get());
      } catch (...) {
        input_error_ = std::current_exception();
        input_ended_ = true;
      }
      return input_ended_;
    }

    // Reads the next chunk of input into `slot` and posts it; false when it read nothing (the
    // end of the input, or the input threw before a first item: see the header comment).
    bool refill(Slot& slot) {
      slot.items.clear();
      slot.results.clear();
      slot.consumed = 0;
      slot.error = nullptr;
      slot.cancelled = false;
      slot.cut_short = false;
      slot.first_index = next_index_;
      while (slot.items.size() < chunk_ && !input_at_end()) {
        try {
          slot.items.emplace_back(*next_input_);
        } catch (...) {
          input_error_ = std::current_exception();
          input_ended_ = true;
          break;
        }
        ++next_index_;
        try {
          ++next_input_;
        } catch (...) {
          input_error_ = std::current_exception();  // the item before was read: it runs
          input_ended_ = true;
        }
      }
      slot.active = !slot.items.empty();
      if (!slot.active) return false;
      ++active_;
      in_flight_.add();
      if constexpr (Ordered) slot.ready.add();
      try {
        SchedulerAccess::post(executor_, &slot);
      } catch (const PoolClosed&) {
        // The refusal cancelled the slot (publishing it) before throwing. A pool stopped
        // (Shutdown::stop) after it took this stream's first chunk: the stream drains to the
        // stop's Cancelled. Shutdown::stop requests the pool's stop before it closes the pool,
        // and a refusal acquires the close, so the refusal sees the request. A stream refused
        // outright, or by a plain shutdown(), gets PoolClosed.
        if (!posted_any_ || !SchedulerAccess::stop_root(executor_)->own_requested()) throw;
        return true;
      }
      posted_any_ = true;
      return true;
    }

    // Runs on the worker that finished the slot.
    void publish(Slot& slot) noexcept {
      if constexpr (Ordered) {
        slot.ready.count_down();
      } else {
        // relaxed load, release CAS: the slot's results happen-before the consumer's acquire
        // exchange that takes the list.
        Slot* head = done_.load(std::memory_order_relaxed);
        do {
          slot.next_done = head;
        } while (!done_.compare_exchange_weak(head, &slot, std::memory_order_release,
                                              std::memory_order_relaxed));
        arrived_.notify();
      }
    }

    // Makes current_ the next result, or sets finished_. Throws for a failed or cancelled
    // item, and once every result is consumed, the input's exception if it threw (then
    // finished_ is set: the stream ends there).
    void advance() {
      guarded([this] { advance_unguarded(); });
    }

    template <class Step>
    void guarded(Step&& step) {
      try {
        step();
      } catch (...) {
        finished_ = true;
        current_.reset();
        throw;
      }
    }

    void advance_unguarded() {
      for (;;) {
        Slot* slot = draining();
        if (slot == nullptr) {
          finished_ = true;
          current_.reset();
          // No slot failed (that slot would have thrown when drained), yet the work stopped.
          if (stopped()) rt::throw_stopped(where_, ran_, std::nullopt);
          // Every slot was drained: each item read before the input threw was yielded.
          if (input_error_) std::rethrow_exception(std::exchange(input_error_, nullptr));
          return;
        }
        if (!failing_ && slot->consumed < slot->results.size()) {
          const std::size_t index = slot->first_index + slot->consumed;
          Result& result = slot->results[slot->consumed++];
          if constexpr (Ordered) {
            current_.emplace(std::move(result));
          } else {
            current_.emplace(index, std::move(result));
          }
          return;
        }
        // Every result of this slot was consumed.
        ran_ += slot->results.size();
        --active_;
        slot->active = false;
        drained_ = nullptr;
        if (slot->error) rt::throw_item_error(where_, slot->error_index, slot->error);
        if (slot->cancelled) rt::throw_chunk_cancelled(where_);
        // Another slot's item failed and cut this one short: what follows has gaps, so yield
        // nothing more and drain on to the slot that holds the failure.
        if (slot->cut_short) failing_ = true;
        if (!failing_ && !stopped() && !deadline_passed()) refill(*slot);
        if constexpr (Ordered) head_ = (head_ + 1) % slots_.size();
      }
    }

    // The finished slot to take results from next, waiting for one if needed; null when no
    // slot holds a chunk.
    Slot* draining() {
      if (drained_ != nullptr) return drained_;
      if (active_ == 0) return nullptr;
      if constexpr (Ordered) {
        Slot& slot = slots_[head_];
        slot.ready.wait();  // acquire: the slot's results are visible
        drained_ = &slot;
      } else {
        while (finished_list_ == nullptr) {
          const std::uint32_t seen = arrived_.sequence();
          // acquire: pairs with publish()'s release CAS.
          Slot* taken = done_.exchange(nullptr, std::memory_order_acquire);
          if (taken == nullptr) {
            arrived_.wait_past(seen);
            continue;
          }
          // The list is newest first; reverse it so results come in completion order.
          while (taken != nullptr) {
            Slot* next = taken->next_done;
            taken->next_done = finished_list_;
            finished_list_ = taken;
            taken = next;
          }
        }
        drained_ = finished_list_;
        finished_list_ = finished_list_->next_done;
      }
      return drained_;
    }

    E& executor_;
    StreamInput<R> inputs_;
    F fn_;
    const char* where_;
    std::size_t chunk_ = 1;
    std::size_t max_slots_ = 1;  // the window: max_in_flight / chunk
    // Created by start() as the input fills them; a deque: slots are tasks, their addresses
    // must not change.
    std::deque<Slot> slots_;
    StopNode node_;  // before the callback that requests it
    const StopNode* extra_root_;
    std::chrono::steady_clock::time_point deadline_;
    bool has_deadline_;
    std::stop_callback<RequestStop> on_stop_;  // MapOptions::stop
    CountLatch in_flight_{0};                  // slot tasks posted and not finished

    // Consumer only.
    std::ranges::iterator_t<View> next_input_{};
    std::size_t next_index_ = 0;
    bool input_ended_ = false;        // the end was seen, or the input threw
    bool posted_any_ = false;         // the pool took at least one chunk
    std::exception_ptr input_error_;  // what the input threw; rethrown after the last result
    std::size_t active_ = 0;          // slots holding a chunk not yet fully consumed
    std::size_t head_ = 0;            // ordered: the slot whose chunk comes next
    std::size_t ran_ = 0;             // items whose function ran, of the drained slots
    Slot* drained_ = nullptr;         // the slot results are being taken from
    Slot* finished_list_ = nullptr;   // unordered: finished slots taken from done_
    std::optional<Value> current_;
    bool started_ = false;
    bool finished_ = false;
    bool failing_ = false;  // a slot was cut short: drain to the failure, yield nothing

    // Unordered: finished slots, pushed by workers (newest first), and its wake-up word.
    std::atomic<Slot*> done_{nullptr};
    Signal arrived_;
  };

  std::unique_ptr<State> state_;
};

}  // namespace forage::detail
