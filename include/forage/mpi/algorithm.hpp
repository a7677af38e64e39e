/// @file
/// The algorithms across ranks: forage's parallel_map, parallel_for and parallel_reduce with a
/// Cluster in place of a pool.
///
/// @code
///   std::optional<MapResults<R>> parallel_map(cluster, inputs, fn, options)
///   std::vector<Piece<R>>        parallel_map_distributed(cluster, inputs, fn, options)
///   void                         parallel_for(cluster, begin, end, fn, options)
///   T                            parallel_reduce(cluster, begin, end, identity, map, reduce,
///   options)
/// @endcode
///
/// Collective: every rank makes the same calls in the same order with the same arguments (each
/// call starts by checking that: CallMismatch on every rank otherwise). The root deals chunks
/// of the index range to the ranks as they ask (guided: big first, then shrinking) and computes
/// chunks itself between polls; each rank runs its chunks through its pool with forage's own
/// algorithms. An exception from fn on any rank becomes RemoteError on every rank.
#pragma once

#include <concepts>
#include <cstddef>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "forage/mpi/cluster.hpp"
#include "forage/mpi/codec.hpp"
#include "forage/mpi/detail/dispatch.hpp"
#include "forage/mpi/detail/map_runner.hpp"
#include "forage/mpi/detail/reduce_runner.hpp"
#include "forage/mpi/options.hpp"

namespace forage::mpi {

namespace detail {

inline std::optional<std::string> check_root(const Cluster& cluster, const MapOptions& options,
                                             const char* where) {
  if (options.root < 0 || options.root >= cluster.size()) {
    return std::string(where) + ": root " + std::to_string(options.root) +
           " is not a rank of the cluster (0 to " + std::to_string(cluster.size() - 1) + ")";
  }
  return std::nullopt;
}

// The common part of the two maps; `then(runner, total)` takes the results out.
template <class Range, class F, class Then>
auto map_call(Cluster& cluster, Range& inputs, F& fn, const MapOptions& options,
              Algorithm algorithm, const char* where, Then then) {
  using R = forage::detail::MapResult<Range, F>;
  using Value = std::remove_cvref_t<std::ranges::range_value_t<Range>>;
  const std::uint64_t call = cluster.next_call();
  const forage::detail::IndexedInput<Range> input(inputs);
  const bool root = cluster.rank() == options.root;
  const bool gathers = algorithm == Algorithm::map;
  CallShape shape{algorithm, input.size(), options, gathers, check_root(cluster, options, where)};
  if (!shape.local_problem && algorithm == Algorithm::map &&
      options.results == Results::distributed) {
    shape.local_problem = std::string(where) +
                          ": Results::distributed keeps each rank's results where they were "
                          "computed; call forage::mpi::parallel_map_distributed for that";
  }
  if (!shape.local_problem && options.inputs == Inputs::at_root) {
    if (!Encodable<Value>) {
      shape.local_problem = std::string(where) +
                            ": Inputs::at_root sends the inputs to the ranks, and their type has "
                            "no forage::mpi::Codec; specialise it (include/forage/mpi/codec.hpp)";
    } else if (!root && input.size() != 0) {
      shape.local_problem = std::string(where) +
                            ": with Inputs::at_root only the root holds the inputs; pass an "
                            "empty range on the other ranks";
    }
  }
  const std::size_t total = rt::agree(cluster, call, shape);
  const bool travels = options.inputs == Inputs::at_root && !root;
  MapRunner<Range, F, R> runner(cluster.pool(), ItemSource<Range>(input, travels), fn, root,
                                gathers, total);
  if (auto failure = rt::dispatch(cluster, call, shape, total, runner)) {
    rt::throw_remote_error(where, *failure);
  }
  return then(runner, total);
}

}  // namespace detail

namespace detail {

template <class Range, class F>
auto map_gathered(Cluster& cluster, Range& inputs, F& fn, const MapOptions& options) {
  using R = forage::detail::MapResult<Range, F>;
  constexpr const char* kWhere = "forage::mpi::parallel_map";
  using Result = std::optional<MapResults<R>>;
  auto then = [&cluster, &options](auto& runner, std::size_t total) -> Result {
    const bool root = cluster.rank() == options.root;
    if (options.results != Results::everywhere) {
      if (!root) return std::nullopt;
      return std::move(runner).gathered(total);
    }
    if constexpr (detail::kBytewise<R>) {
      if (root) {
        MapResults<R> all = std::move(runner).gathered(total);
        detail::rt::broadcast(cluster, options.root, std::as_writable_bytes(std::span(all)));
        return all;
      }
      forage::detail::ResultStorage<R> storage(total);
      detail::rt::broadcast(cluster, options.root,
                            std::as_writable_bytes(std::span(storage.data(), total)));
      return std::move(storage).adopt();
    } else {
      // A flag first: if a codec throws on the root, every rank throws RemoteError rather
      // than waiting for bytes that will not come.
      std::vector<std::byte> bytes;
      MapResults<R> all;
      if (root) {
        all = std::move(runner).gathered(total);
        Writer writer(bytes);
        bool encoded = true;
        writer.write(&encoded, sizeof encoded);
        try {
          for (const R& result : all) Codec<R>::encode(result, writer);
        } catch (const std::exception& e) {
          bytes.clear();
          encoded = false;
          writer.write(&encoded, sizeof encoded);
          Codec<std::string>::encode(std::string("encoding the results: ") + e.what(), writer);
        }
      }
      detail::rt::broadcast(cluster, options.root, bytes);
      Reader reader(bytes.data(), bytes.size());
      bool encoded = false;
      reader.read(&encoded, sizeof encoded);
      if (!encoded) {
        rt::throw_remote_error(kWhere,
                               Failure{options.root, 0, Codec<std::string>::decode(reader)});
      }
      if (root) return all;
      all.reserve(total);
      for (std::size_t i = 0; i < total; ++i) all.push_back(Codec<R>::decode(reader));
      return all;
    }
  };
  return map_call(cluster, inputs, fn, options, Algorithm::map, kWhere, then);
}

}  // namespace detail

/// {fn(item)...} in input order, computed across the ranks. Results::at_root (the default):
/// the results on the root, std::nullopt on the others; Results::everywhere: on every rank.
/// R (fn's result) needs a Codec (codec.hpp); so do the inputs' items with Inputs::at_root.
/// Errors: RemoteError (fn threw somewhere), CallMismatch, InvalidArgument (bad root; with
/// Results::distributed, which is parallel_map_distributed's), MpiError.
/// Thread-safety: collective, from one thread at a time per Cluster (see cluster.hpp); fn runs
/// on several of each rank's workers at once.
template <std::ranges::input_range Range, class F>
  requires std::invocable<F&, std::ranges::range_reference_t<Range>>
auto parallel_map(Cluster& cluster, Range&& inputs, F&& fn, const MapOptions& options = {})
    -> std::optional<MapResults<forage::detail::MapResult<std::remove_reference_t<Range>, F>>> {
  using R = forage::detail::MapResult<std::remove_reference_t<Range>, F>;
  using Result = std::optional<MapResults<R>>;
  if constexpr (!Encodable<R>) {
    detail::require_codec<R>("forage::mpi::parallel_map");  // fails, with the message
    return Result{};
  } else {
    return detail::map_gathered(cluster, inputs, fn, options);
  }
}

/// As parallel_map, but every rank keeps the results it computed, as pieces {first index,
/// values} in input order: for outputs too large to gather. options.results is not used.
/// Errors and thread-safety as parallel_map's.
template <std::ranges::input_range Range, class F>
  requires std::invocable<F&, std::ranges::range_reference_t<Range>>
auto parallel_map_distributed(Cluster& cluster, Range&& inputs, F&& fn,
                              const MapOptions& options = {})
    -> std::vector<Piece<forage::detail::MapResult<std::remove_reference_t<Range>, F>>> {
  MapOptions distributed = options;
  distributed.results = Results::distributed;
  return detail::map_call(cluster, inputs, fn, distributed, detail::Algorithm::map_distributed,
                          "forage::mpi::parallel_map_distributed",
                          [](auto& runner, std::size_t) { return std::move(runner).pieces(); });
}

/// fn(i) for every i in [begin, end), across the ranks (each i on one rank); nothing to gather.
/// options.results and options.inputs are not used. Errors and thread-safety as
/// parallel_map's.
template <std::integral I, class F>
  requires std::invocable<F&, I>
void parallel_for(Cluster& cluster, I begin, I end, F&& fn, const MapOptions& options = {}) {
  constexpr const char* kWhere = "forage::mpi::parallel_for";
  const std::uint64_t call = cluster.next_call();
  MapOptions shaped = options;
  shaped.results = Results::distributed;
  shaped.inputs = Inputs::replicated;
  const std::size_t count = forage::detail::count_between(begin, end);
  const detail::CallShape shape{detail::Algorithm::for_each_index,
                                count,
                                shaped,
                                false,
                                detail::check_root(cluster, shaped, kWhere),
                                static_cast<std::uint64_t>(begin)};
  const std::size_t total = detail::rt::agree(cluster, call, shape);
  detail::ForRunner<I, std::remove_reference_t<F>> runner(cluster.pool(), begin, fn);
  if (auto failure = detail::rt::dispatch(cluster, call, shape, total, runner)) {
    detail::rt::throw_remote_error(kWhere, *failure);
  }
}

/// reduce over map(i) for i in [begin, end), across the ranks, combined in index order (reduce
/// must be associative, identity neutral for it), returned on every rank. T needs a Codec.
/// Errors (RemoteError also when reduce threw) and thread-safety as parallel_map's.
template <std::integral I, class T, class Map, class Reduce>
  requires std::invocable<Map&, I> &&
      std::convertible_to<std::invoke_result_t<Reduce&, T, std::invoke_result_t<Map&, I>>, T>
          T parallel_reduce(Cluster& cluster, I begin, I end, T identity, Map&& map,
                            Reduce&& reduce, const MapOptions& options = {}) {
    if constexpr (!Encodable<T>) {
      detail::require_codec<T>("forage::mpi::parallel_reduce");  // fails, with the message
      return identity;
    } else {
      constexpr const char* kWhere = "forage::mpi::parallel_reduce";
      const std::uint64_t call = cluster.next_call();
      MapOptions shaped = options;
      shaped.results = Results::everywhere;
      shaped.inputs = Inputs::replicated;
      const std::size_t count = forage::detail::count_between(begin, end);
      const detail::CallShape shape{detail::Algorithm::reduce,
                                    count,
                                    shaped,
                                    true,
                                    detail::check_root(cluster, shaped, kWhere),
                                    static_cast<std::uint64_t>(begin)};
      const std::size_t total = detail::rt::agree(cluster, call, shape);
      detail::ReduceRunner<I, T, std::remove_reference_t<Map>, std::remove_reference_t<Reduce>>
          runner(cluster.pool(), begin, identity, map, reduce, cluster.rank() == shaped.root);
      if (auto failure = detail::rt::dispatch(cluster, call, shape, total, runner)) {
        detail::rt::throw_remote_error(kWhere, *failure);
      }
      return runner.combine_everywhere(cluster, shaped.root, kWhere);
    }
  }

}  // namespace forage::mpi
