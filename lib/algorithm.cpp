// The compiled half of the parallel algorithms: the hungry-thief signal and the errors.
#include "forage/algorithm.hpp"

#include <algorithm>
#include <optional>
#include <string>

#include "exception_text.hpp"
#include "forage/detail/map_stream.hpp"
#include "forage/detail/range_job.hpp"
#include "forage/errors.hpp"
#include "forage/map_options.hpp"
#include "lifecycle/scheduler.hpp"
#include "lifecycle/worker_context.hpp"

namespace forage {

Chunking Chunking::fixed(std::size_t items) {
  if (items == 0) {
    throw InvalidArgument(
        "forage::Chunking::fixed(0): a chunk needs at least one item; use fixed(1) for one "
        "item per task, or Chunking::adaptive() to let the pool decide");
  }
  return Chunking(Kind::fixed, items);
}

namespace detail::rt {

bool thieves_waiting_on_current_worker() noexcept {
  const WorkerContext* context = current_worker_context();
  return context != nullptr && context->scheduler->take_steal_request();
}

[[noreturn]] void throw_item_error(const char* where, std::size_t index, std::exception_ptr error) {
  throw ItemError(std::string(where) + ": item " + std::to_string(index) +
                      " threw: " + describe_exception(error) +
                      " (ItemError::original() holds that exception; items not yet started "
                      "were skipped)",
                  index, error);
}

[[noreturn]] void throw_chunk_cancelled(const char* where) {
  throw Cancelled(std::string(where) +
                  ": the pool was shut down with Shutdown::cancel_pending while this call was "
                  "running, so part of its work was dropped; shut down after the call "
                  "returns, or use Shutdown::drain");
}

[[noreturn]] void throw_stopped(const char* where, std::size_t ran,
                                std::optional<std::size_t> total) {
  const std::string of = total ? " of " + std::to_string(*total) : std::string();
  throw Cancelled(std::string(where) + ": stopped by a stop request after " + std::to_string(ran) +
                      of +
                      " items ran (MapOptions::stop or deadline, the future's request_stop(), "
                      "or a stop of the task, group or pool it ran in); "
                      "Cancelled::items_run() holds the count",
                  ran);
}

[[noreturn]] void throw_too_many_chunks(const char* where, std::size_t chunks) {
  throw InvalidArgument(std::string(where) + ": the chunking gives " + std::to_string(chunks) +
                        " chunks, more than the " + std::to_string(kMaxChunks) +
                        " one call can track; use a larger Chunking::fixed size, or "
                        "Chunking::adaptive()");
}

[[noreturn]] void throw_output_size_mismatch(const char* where, std::size_t inputs,
                                             std::size_t outputs) {
  throw InvalidArgument(std::string(where) + ": the output holds " + std::to_string(outputs) +
                        " elements but the input has " + std::to_string(inputs) +
                        "; size the output to the input first (a std::vector: resize(" +
                        std::to_string(inputs) + ")), or pass a std::span of exactly " +
                        std::to_string(inputs) + " elements");
}

void validate_map_options(const MapOptions& options, const char* where) {
  if (options.max_in_flight && *options.max_in_flight == 0) {
    throw InvalidArgument(std::string(where) +
                          ": MapOptions::max_in_flight is 0, so no item could ever run; give "
                          "at least 1, or leave it unset for the default of 4 per worker");
  }
}

void validate_stream_options(const MapOptions& options, const char* where) {
  validate_map_options(options, where);
  if (options.on_progress) {
    throw InvalidArgument(std::string(where) +
                          ": MapOptions::on_progress is not used here: the loop over the "
                          "results sees each one as it arrives, so count them there");
  }
}

StreamShape stream_shape(const MapOptions& options, std::size_t workers,
                         std::optional<std::size_t> known_size) noexcept {
  const std::size_t window = options.max_in_flight.value_or(4 * std::max<std::size_t>(1, workers));
  std::size_t chunk = 1;
  switch (options.chunking.kind()) {
    case Chunking::Kind::fixed:
      chunk = options.chunking.items();
      break;
    case Chunking::Kind::python:
      if (known_size) chunk = options.chunking.chunk_size(*known_size, workers);
      break;
    case Chunking::Kind::adaptive:
      break;
  }
  chunk = std::clamp<std::size_t>(chunk, 1, window);
  return {chunk, std::max<std::size_t>(1, window / chunk)};
}

}  // namespace detail::rt

}  // namespace forage
