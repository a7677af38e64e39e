/// @file
/// The parallel algorithms: Python's Pool.map family over any forage executor.
///
/// @code
///   parallel_for(pool, begin, end, f)            f(i) for every i in [begin, end)
///   parallel_for_each(pool, range, f)            f(item) for every item
///   parallel_map(pool, inputs, f)                MapResults (a std::vector) of f(item), in
///                                                input order, each built where it is computed
///   parallel_map_into(pool, inputs, output, f)   output[i] = f(inputs[i]), storage you own
///   parallel_reduce(pool, begin, end, identity, map, reduce)
///   map_async(pool, inputs, f)                   Future of parallel_map's MapResults
///   imap(pool, inputs, f)                        a range of results, in order, while work runs
///   imap_unordered(pool, inputs, f)              a range of {index, result}, as they finish
/// @endcode
///
/// Each is written once over the Executor concept (forage/executor.hpp): on a Pool the range
/// is split recursively with join, on a SingleQueuePool it is cut into chunks submitted to the
/// queue (detail/range_job.hpp). MapOptions (forage/map_options.hpp) picks the chunking, a
/// progress callback and, for imap, how many results may wait for the consumer.
///
/// Errors. The first exception an element function throws stops the items that have not
/// started and reaches the caller as ItemError (the index and the original exception); other
/// exceptions (from parallel_reduce's reduce, from on_progress) arrive as they were thrown.
/// parallel_map destroys the results it had built before the exception reaches the caller.
/// Called from a task, every algorithm helps run the pool's work while it waits: nesting never
/// deadlocks. Empty input: empty output, no task is spawned. Every algorithm also throws
/// InvalidArgument for an empty callable or a bad MapOptions field (before any item runs),
/// PoolClosed when the pool refuses the work (after shutdown()), and Cancelled when
/// Shutdown::cancel_pending dropped part of it.
///
/// Stopping. A stop request (MapOptions::stop, MapOptions::deadline, map_async's
/// request_stop(), or a stop of the task, group or pool the call runs in) is the same mechanism
/// as a failure: no item starts after the blocks running end, and the call throws Cancelled,
/// whose items_run() counts the items that ran. Element functions can ask
/// forage::this_task::stop_requested() (true after another item's failure too).
///
/// Thread-safety. Any number of algorithm calls may run at once, on one pool or several, from
/// any thread or task. The element function is called on several workers at once (on distinct
/// items), so what it shares must be safe to use concurrently.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "forage/detail/assert.hpp"
#include "forage/detail/map_stream.hpp"
#include "forage/detail/range_job.hpp"
#include "forage/detail/submit.hpp"
#include "forage/detail/task.hpp"
#include "forage/executor.hpp"
#include "forage/export.hpp"
#include "forage/future.hpp"
#include "forage/map_options.hpp"
#include "forage/result_allocator.hpp"
#include "forage/stop.hpp"

namespace forage {

namespace detail {

namespace FORAGE_API rt {

// Defined in lib/algorithm.cpp.
[[noreturn]] void throw_output_size_mismatch(const char* where, std::size_t inputs,
                                             std::size_t outputs);

}  // namespace rt

// Indexed access to any input range. Random-access sized ranges are used in place; forward
// ranges through a vector of iterators; single-pass ranges are read into a vector first (as
// Python's Pool.map does with list(iterable)).
template <class R>
class IndexedInput {
 public:
  explicit IndexedInput(R& range) {
    if constexpr (kInPlace) {
      first_ = std::ranges::begin(range);
      size_ = static_cast<std::size_t>(std::ranges::size(range));
    } else {
      for (auto it = std::ranges::begin(range); it != std::ranges::end(range); ++it) {
        if constexpr (std::ranges::forward_range<R>) {
          held_.push_back(it);
        } else {
          held_.emplace_back(*it);
        }
      }
      size_ = held_.size();
    }
  }

  std::size_t size() const noexcept { return size_; }

  decltype(auto) operator[](std::size_t index) const {
    if constexpr (kInPlace) {
      return first_[static_cast<std::ranges::range_difference_t<R>>(index)];
    } else if constexpr (std::ranges::forward_range<R>) {
      return *held_[index];
    } else {
      return held_[index];
    }
  }

 private:
  static constexpr bool kInPlace =
      std::ranges::random_access_range<R> && std::ranges::sized_range<R>;
  using Held = std::conditional_t<std::ranges::forward_range<R>, std::ranges::iterator_t<R>,
                                  std::ranges::range_value_t<R>>;

  std::ranges::iterator_t<R> first_{};
  std::size_t size_ = 0;
  mutable std::vector<Held> held_;  // empty when kInPlace; items are handed out mutable
};

template <class R, class F>
using MapResult = std::remove_cvref_t<
    std::invoke_result_t<F&, decltype(std::declval<const IndexedInput<R>&>()[0])>>;

// The part of the results one chunk (or a fold of neighbouring chunks) has constructed.
struct ConstructedExtent {
  std::size_t begin;
  std::size_t end;
};

// fn(input[i]) constructed at out + i by the worker that computes it. A partial result is
// the extent it built; one the job drops (it failed or stopped) is destroyed by discard().
template <class Input, class F, class Stored>
struct MapBody {
  using Partial = ConstructedExtent;
  Partial start(std::size_t first) const noexcept { return {first, first}; }
  void step(Partial& built, std::size_t index) {
    // The result initialises the element directly (no temporary, no move).
    ::new (static_cast<void*>(out + index)) Stored(std::invoke(fn, input[index]));
    built.end = index + 1;
  }
  Partial combine(Partial&& left, Partial&& right) const noexcept {
    FORAGE_ASSERT(left.end == right.begin, "parallel_map folds neighbouring extents only");
    return {left.begin, right.end};
  }
  void discard(Partial&& built) const noexcept { std::destroy(out + built.begin, out + built.end); }

  const Input& input;
  F& fn;
  Stored* out;
};

// output[i] = fn(input[i]), into storage the caller owns.
template <class Input, class F, class Out>
struct MapIntoBody {
  using Partial = std::monostate;
  Partial start(std::size_t) const noexcept { return {}; }
  void step(Partial&, std::size_t index) {
    out[static_cast<std::iter_difference_t<Out>>(index)] = std::invoke(fn, input[index]);
  }
  Partial combine(Partial&&, Partial&&) const noexcept { return {}; }

  const Input& input;
  F& fn;
  Out out;
};

template <class F, class Item>
struct ForBody {
  using Partial = std::monostate;
  Partial start(std::size_t) const noexcept { return {}; }
  void step(Partial&, std::size_t index) { std::invoke(fn, item(index)); }
  Partial combine(Partial&&, Partial&&) const noexcept { return {}; }

  F& fn;
  Item item;  // index -> what fn is called with
};

template <class T, class Map, class Reduce, class I>
struct ReduceBody {
  using Partial = T;
  T start(std::size_t) const { return identity; }
  void step(T& acc, std::size_t index) {
    auto mapped = std::invoke(map, static_cast<I>(first + index));
    try {  // reduce is not an element function: its failures arrive as thrown
      acc = std::invoke(reduce, std::move(acc), std::move(mapped));
    } catch (...) {
      throw NotAnItemError{std::current_exception()};
    }
  }
  T combine(T&& left, T&& right) { return std::invoke(reduce, std::move(left), std::move(right)); }

  const T& identity;
  Map& map;
  Reduce& reduce;
  I first;
};

template <std::integral I>
std::size_t count_between(I begin, I end) noexcept {
  if (!(begin < end)) return 0;
  using U = std::make_unsigned_t<I>;
  return static_cast<std::size_t>(static_cast<U>(static_cast<U>(end) - static_cast<U>(begin)));
}

// vector<bool> packs results into words that threads cannot write independently: they are
// computed as bytes, then packed in parallel, each task writing whole words.
template <class E>
MapResults<bool> pack_bits(E& executor, const unsigned char* bytes, std::size_t total,
                           const char* where) {
  MapResults<bool> bits(total);
  // Bits per task: a multiple of any word size a vector<bool> uses.
  constexpr std::size_t kGroup = 512;
  auto pack = [&bits, bytes, total](std::size_t group) {
    const std::size_t end = std::min(total, (group + 1) * kGroup);
    for (std::size_t i = group * kGroup; i < end; ++i) bits[i] = bytes[i] != 0;
  };
  auto item = [](std::size_t group) { return group; };
  ForBody<decltype(pack), decltype(item)> body{pack, item};
  run_range(executor, (total + kGroup - 1) / kGroup, body, MapOptions{}, where);
  return bits;
}

template <class E, class R, class F>
auto parallel_map_as(E& executor, R& inputs, F& fn, const MapOptions& options, const char* where,
                     const std::stop_token& extra = {}) -> MapResults<MapResult<R, F>> {
  using Result = MapResult<R, F>;
  static_assert(!std::is_void_v<Result>,
                "forage::parallel_map: the function returns void; use parallel_for_each");
  using Stored = std::conditional_t<std::is_same_v<Result, bool>, unsigned char, Result>;
  const IndexedInput<R> input(inputs);
  const std::size_t total = input.size();
  ResultStorage<Stored> storage(total);
  MapBody<IndexedInput<R>, F, Stored> body{input, fn, storage.data()};
  // On a failure every constructed result was destroyed (MapBody::discard) before this throws.
  const std::optional<ConstructedExtent> built =
      run_range(executor, total, body, options, where, extra);
  FORAGE_ASSERT(total == 0 || (built && built->begin == 0 && built->end == total),
                "a parallel_map that succeeded constructed every result");
  if constexpr (std::is_same_v<Result, bool>) {
    return pack_bits(executor, storage.data(), total, where);
  } else {
    return std::move(storage).adopt();
  }
}

// What parallel_map_into writes through: the output's iterator, or the output itself.
template <class Out>
struct OutputIterator {
  using type = std::remove_cvref_t<Out>;
};
template <class Out>
  requires std::ranges::range<Out>
struct OutputIterator<Out> {
  using type = std::ranges::iterator_t<Out>;
};

}  // namespace detail

/// fn(i) for every i in [begin, end), in parallel; nothing when end <= begin. An ItemError's
/// index is the position i - begin. Errors and thread-safety: as forage/algorithm.hpp
/// says.
template <Executor E, std::integral I, class F>
  requires std::invocable<F&, I>
void parallel_for(E& executor, I begin, I end, F&& fn, const MapOptions& options = {}) {
  constexpr const char* kWhere = "forage::parallel_for";
  detail::require_callable(fn, kWhere);
  detail::rt::validate_map_options(options, kWhere);
  auto item = [begin](std::size_t index) {
    using U = std::make_unsigned_t<I>;
    return static_cast<I>(static_cast<U>(static_cast<U>(begin) + static_cast<U>(index)));
  };
  detail::ForBody<std::remove_reference_t<F>, decltype(item)> body{fn, item};
  detail::run_range(executor, detail::count_between(begin, end), body, options, kWhere);
}

/// fn(item) for every item of `range` (by reference: fn may modify it), in parallel. Errors
/// and thread-safety: as forage/algorithm.hpp says.
template <Executor E, std::ranges::input_range R, class F>
  requires std::invocable<F&, std::ranges::range_reference_t<R>>
void parallel_for_each(E& executor, R&& range, F&& fn, const MapOptions& options = {}) {
  constexpr const char* kWhere = "forage::parallel_for_each";
  detail::require_callable(fn, kWhere);
  detail::rt::validate_map_options(options, kWhere);
  const detail::IndexedInput<std::remove_reference_t<R>> input(range);
  auto item = [&input](std::size_t index) -> decltype(auto) { return input[index]; };
  detail::ForBody<std::remove_reference_t<F>, decltype(item)> body{fn, item};
  detail::run_range(executor, input.size(), body, options, kWhere);
}

/// {fn(item)...} in input order, computed in parallel, as a MapResults<R>: a std::vector<R>
/// whose elements each worker constructed where it computed them (forage/result_allocator.hpp
/// says why the allocator is forage's). R needs a move constructor only. On a failure, the
/// results already built are destroyed before the exception reaches the caller. Blocks until
/// done (helping, on a worker). Errors and thread-safety: as forage/algorithm.hpp
/// says.
template <Executor E, std::ranges::input_range R, class F>
  requires std::invocable<F&, std::ranges::range_reference_t<R>>
auto parallel_map(E& executor, R&& inputs, F&& fn, const MapOptions& options = {}) {
  constexpr const char* kWhere = "forage::parallel_map";
  detail::require_callable(fn, kWhere);
  detail::rt::validate_map_options(options, kWhere);
  return detail::parallel_map_as(executor, inputs, fn, options, kWhere);
}

/// output[i] = fn(inputs[i]) for every i, in parallel, into storage the caller owns and may
/// reuse from call to call (a loop over time steps writing one buffer). `output` is a sized
/// random-access range (a std::vector or an array, by reference, or a std::span), whose size
/// must equal the input's (else InvalidArgument, before any item runs), or a random-access
/// iterator to at least that many elements, as with std::transform. Chunking, progress and
/// errors as parallel_map; after an ItemError the output holds new results for the items that
/// ran and its old values elsewhere. Nothing else may use the output during the call.
template <Executor E, std::ranges::input_range R, class Out, class F>
  requires std::invocable<F&, std::ranges::range_reference_t<R>>
void parallel_map_into(E& executor, R&& inputs, Out&& output, F&& fn,
                       const MapOptions& options = {}) {
  constexpr const char* kWhere = "forage::parallel_map_into";
  constexpr bool kRange = std::ranges::random_access_range<Out> && std::ranges::sized_range<Out>;
  static_assert(kRange || std::random_access_iterator<std::remove_cvref_t<Out>>,
                "forage::parallel_map_into: the output must be a sized random-access range (a "
                "std::vector, an array, a std::span) or a random-access iterator");
  static_assert(!kRange || std::ranges::borrowed_range<Out>,
                "forage::parallel_map_into: pass the output container as an lvalue or a "
                "std::span; results written into a temporary container would be lost");
  using It = typename detail::OutputIterator<Out>::type;
  static_assert(std::is_lvalue_reference_v<std::iter_reference_t<It>>,
                "forage::parallel_map_into: the output's elements are proxies, not objects "
                "(std::vector<bool> packs 8 results a byte, which threads cannot write "
                "independently); write into a std::vector<char>, or use parallel_map, whose "
                "bool results are packed safely");
  detail::require_callable(fn, kWhere);
  detail::rt::validate_map_options(options, kWhere);
  const detail::IndexedInput<std::remove_reference_t<R>> input(inputs);
  static_assert(
      std::is_assignable_v<std::iter_reference_t<It>, std::invoke_result_t<F&, decltype(input[0])>>,
      "forage::parallel_map_into: fn's result cannot be assigned to an output element");
  if constexpr (kRange) {
    const auto outputs = static_cast<std::size_t>(std::ranges::size(output));
    if (outputs != input.size()) {
      detail::rt::throw_output_size_mismatch(kWhere, input.size(), outputs);
    }
  }
  const It first = [&output] {
    if constexpr (kRange) {
      return std::ranges::begin(output);
    } else {
      return It(output);
    }
  }();
  detail::MapIntoBody<decltype(input), std::remove_reference_t<F>, It> body{input, fn, first};
  detail::run_range(executor, input.size(), body, options, kWhere);
}

/// reduce(... reduce(reduce(identity, map(begin)), map(begin + 1)) ..., map(end - 1)), with
/// the items grouped in parallel: `reduce` must be associative and `identity` neutral for it
/// (each chunk starts from a copy). Partial results are combined in index order, so reduce
/// need not be commutative. Returns identity for an empty range. map's exceptions arrive as
/// ItemError, reduce's as thrown; map and reduce run on several workers at once.
template <Executor E, std::integral I, class T, class Map, class Reduce>
  requires std::invocable<Map&, I> &&
      std::convertible_to<std::invoke_result_t<Reduce&, T, std::invoke_result_t<Map&, I>>, T>
          T parallel_reduce(E& executor, I begin, I end, T identity, Map&& map, Reduce&& reduce,
                            const MapOptions& options = {}) {
    constexpr const char* kWhere = "forage::parallel_reduce";
    detail::require_callable(map, kWhere);
    detail::require_callable(reduce, kWhere);
    detail::rt::validate_map_options(options, kWhere);
    detail::ReduceBody<T, std::remove_reference_t<Map>, std::remove_reference_t<Reduce>, I> body{
        identity, map, reduce, begin};
    std::optional<T> result =
        detail::run_range(executor, detail::count_between(begin, end), body, options, kWhere);
    return result ? std::move(*result) : identity;
  }

/// parallel_map as a task: returns at once with a Future of its MapResults. The inputs, fn and
/// options are copied or moved into the task (as std::async does): pass std::span to avoid copying
/// a container you keep alive until the future is ready. The future's request_stop() stops the map
/// as MapOptions::stop does (get() throws Cancelled), or cancels it if it has not started. Throws
/// InvalidArgument (empty fn, bad options) and PoolClosed at the call; the map's own errors come
/// from the future's get(). Thread-safety: as forage/algorithm.hpp says.
template <Executor E, std::ranges::input_range R, class F>
  requires std::invocable < std::decay_t<F>
&, std::ranges::range_reference_t < std::decay_t<R>& >>
       auto map_async(E& executor, R&& inputs, F&& fn, MapOptions options = {}) {
  constexpr const char* kWhere = "forage::map_async";
  detail::require_callable(fn, kWhere);
  detail::rt::validate_map_options(options, kWhere);
  return detail::submit_to(executor, kWhere,
                           [&executor, inputs = std::decay_t<R>(std::forward<R>(inputs)),
                            fn = std::decay_t<F>(std::forward<F>(fn)),
                            options = std::move(options)](std::stop_token stop) mutable {
                             // The task's token: the future's request_stop() stops the map between
                             // blocks.
                             return detail::parallel_map_as(executor, inputs, fn, options, kWhere,
                                                            stop);
                           });
}

/// A range you iterate while the work runs: fn(item) for each item, in input order. The input
/// is read lazily, on the iterating thread, so it may be any input range, even an endless
/// generator; at most MapOptions::max_in_flight results are computed ahead of the consumer
/// (memory follows the items actually in flight, so any max_in_flight >= 1 works).
/// Like a range adaptor it refers to an lvalue input (keep it alive) and owns an rvalue one.
/// Leaving the loop early stops the work (the range's destructor waits for running items).
/// If the input itself throws, every item read before the failing one is still yielded, then
/// the input's exception comes as thrown (detail/map_stream.hpp). Errors (ItemError, Cancelled,
/// PoolClosed) come from the iteration; InvalidArgument from the call. The range is iterated
/// by one thread; fn runs on several workers at once.
template <Executor E, std::ranges::input_range R, class F>
  requires std::invocable < std::decay_t<F>
&, std::remove_cvref_t<std::ranges::range_reference_t<R>>& >
       auto imap(E& executor, R&& inputs, F&& fn, const MapOptions& options = {}) {
  constexpr const char* kWhere = "forage::imap";
  detail::require_callable(fn, kWhere);
  detail::rt::validate_stream_options(options, kWhere);
  return detail::MapStream<E, R, std::decay_t<F>, true>(executor, std::forward<R>(inputs),
                                                        std::forward<F>(fn), options, kWhere);
}

/// As imap, but yields std::pair{index, result} as items finish, in no particular order.
/// Errors and thread-safety as imap's.
template <Executor E, std::ranges::input_range R, class F>
  requires std::invocable < std::decay_t<F>
&, std::remove_cvref_t<std::ranges::range_reference_t<R>>& >
       auto imap_unordered(E& executor, R&& inputs, F&& fn, const MapOptions& options = {}) {
  constexpr const char* kWhere = "forage::imap_unordered";
  detail::require_callable(fn, kWhere);
  detail::rt::validate_stream_options(options, kWhere);
  return detail::MapStream<E, R, std::decay_t<F>, false>(executor, std::forward<R>(inputs),
                                                         std::forward<F>(fn), options, kWhere);
}

}  // namespace forage
