#include "mpi/root_dispatcher.hpp"

#include <algorithm>
#include <exception>
#include <string>
#include <thread>

#include "forage/mpi/errors.hpp"

namespace forage::mpi::detail {

std::size_t next_chunk_size(const Chunking& chunking, std::size_t remaining, std::size_t total,
                            std::size_t ranks) {
  std::size_t size = 0;
  switch (chunking.kind()) {
    case Chunking::Kind::fixed:
      size = chunking.items();
      break;
    case Chunking::Kind::python:
      size = Chunking::python_chunk_size(total, ranks);
      break;
    case Chunking::Kind::adaptive: {
      const std::size_t floor = std::max<std::size_t>(1, total / (kGuidedFloorDivisor * ranks));
      size = std::max(floor, (remaining + 2 * ranks - 1) / (2 * ranks));
      break;
    }
  }
  return std::clamp<std::size_t>(size, 1, remaining);
}

RootDispatcher::RootDispatcher(Cluster& cluster, std::uint64_t call, const CallShape& shape,
                               std::size_t size, ChunkRunner& runner)
    : cluster_(cluster),
      call_(call),
      shape_(shape),
      size_(size),
      runner_(runner),
      peers_(static_cast<std::size_t>(cluster.size())) {
  // The root does not ask itself.
  peers_[static_cast<std::size_t>(cluster.rank())].told_to_stop = true;
}

std::optional<Failure> RootDispatcher::run() {
  while (!finished()) {
    const bool took = take_messages();
    if (!own_running_ && !failure_ && next_ < size_) start_own();
    if (own_running_) {
      if (runner_.wait_for(kPoll)) finish_own();
    } else if (!took && !finished()) {
      std::this_thread::sleep_for(kPoll);  // nothing to compute: the ranks are finishing
    }
    reap_replies(false);
  }
  reap_replies(true);
  return std::move(failure_);
}

bool RootDispatcher::finished() const {
  if (own_running_ || (!failure_ && next_ < size_)) return false;
  return std::all_of(peers_.begin(), peers_.end(), [](const Peer& peer) {
    return peer.told_to_stop && peer.reported == peer.assigned;
  });
}

bool RootDispatcher::take_messages() {
  bool took = false;
  for (;;) {
    int found = 0;
    MPI_Message message = MPI_MESSAGE_NULL;
    MPI_Status status;
    check(MPI_Improbe(MPI_ANY_SOURCE, tag_of(call_, Channel::up), cluster_.comm(), &found, &message,
                      &status),
          "forage::mpi: MPI_Improbe");
    if (found == 0) return took;
    took = true;
    take_message(status.MPI_SOURCE, message);
  }
}

void RootDispatcher::take_message(int source, MPI_Message& message) {
  const Header header = receive_header(message);
  Peer& peer = peers_[static_cast<std::size_t>(source)];
  if (header.kind == Kind::request) {
    if (failure_) {
      reply(source, Kind::abort);
      peer.told_to_stop = true;
    } else if (next_ < size_) {
      ++peer.assigned;
      reply(source, Kind::assign, take_chunk());
    } else {
      reply(source, Kind::finish);
      peer.told_to_stop = true;
    }
    return;
  }
  ++peer.reported;
  const Chunk chunk{static_cast<std::size_t>(header.first), static_cast<std::size_t>(header.last)};
  const auto bytes = static_cast<std::size_t>(header.bytes);
  const int bytes_tag = tag_of(call_, Channel::up_bytes);
  if (header.kind == Kind::done) {
    if (bytes > 0) {
      receive_bytes(cluster_.comm(), source, bytes_tag, runner_.result_buffer(chunk, bytes));
    }
    try {
      runner_.results_arrived(chunk);  // decodes: a codec may throw
    } catch (const std::exception& e) {
      fail(cluster_.rank(), chunk.first, std::string("decoding results: ") + e.what());
      return;
    }
    chunk_done(chunk);
  } else if (header.kind == Kind::failed) {
    std::string text(bytes, ' ');
    receive_bytes(cluster_.comm(), source, bytes_tag, std::as_writable_bytes(std::span(text)));
    fail(source, static_cast<std::size_t>(header.index), std::move(text));
  }
}

void RootDispatcher::reply(int to, Kind kind, Chunk chunk) {
  Reply& sent = replies_.emplace_back();
  sent.header =
      Header{kind, static_cast<std::int64_t>(chunk.first), static_cast<std::int64_t>(chunk.last)};
  std::span<const std::byte> inputs;
  if (kind == Kind::assign && shape_.options.inputs == Inputs::at_root) {
    inputs = runner_.input_bytes(chunk, sent.scratch);
  }
  sent.header.bytes = static_cast<std::int64_t>(inputs.size());
  MPI_Comm comm = cluster_.comm();
  check(MPI_Isend(&sent.header, sizeof(Header) / sizeof(std::int64_t), MPI_INT64_T, to,
                  tag_of(call_, Channel::down), comm, &sent.requests.emplace_back()),
        "forage::mpi: MPI_Isend");
  constexpr std::size_t kPieceBytes = std::size_t{1} << 30;  // as send_bytes
  for (std::size_t offset = 0; offset < inputs.size(); offset += kPieceBytes) {
    const std::size_t piece = std::min(kPieceBytes, inputs.size() - offset);
    check(MPI_Isend(inputs.data() + offset, static_cast<int>(piece), MPI_BYTE, to,
                    tag_of(call_, Channel::down_bytes), comm, &sent.requests.emplace_back()),
          "forage::mpi: MPI_Isend");
  }
}

void RootDispatcher::reap_replies(bool all) {
  for (auto it = replies_.begin(); it != replies_.end();) {
    int done = 0;
    auto count = static_cast<int>(it->requests.size());
    if (all) {
      check(MPI_Waitall(count, it->requests.data(), MPI_STATUSES_IGNORE),
            "forage::mpi: MPI_Waitall");
      done = 1;
    } else {
      check(MPI_Testall(count, it->requests.data(), &done, MPI_STATUSES_IGNORE),
            "forage::mpi: MPI_Testall");
    }
    it = done != 0 ? replies_.erase(it) : std::next(it);
  }
}

Chunk RootDispatcher::take_chunk() {
  const std::size_t size = next_chunk_size(shape_.options.chunking, size_ - next_, size_,
                                           static_cast<std::size_t>(cluster_.size()));
  const Chunk chunk{next_, next_ + size};
  next_ = chunk.last;
  return chunk;
}

void RootDispatcher::start_own() {
  own_ = take_chunk();
  own_stop_ = std::stop_source();
  runner_.start(own_, own_stop_.get_token());
  own_running_ = true;
}

void RootDispatcher::finish_own() {
  own_running_ = false;
  ChunkFailure failure;
  switch (runner_.finish(failure)) {
    case ChunkStatus::done:
      chunk_done(own_);
      break;
    case ChunkStatus::failed:
      fail(cluster_.rank(), failure.index, std::move(failure.message));
      break;
    case ChunkStatus::stopped:
      break;
  }
}

void RootDispatcher::chunk_done(Chunk chunk) {
  items_done_ += chunk.size();
  if (failure_ || !shape_.options.on_progress) return;
  try {
    shape_.options.on_progress(items_done_, size_);
  } catch (const std::exception& e) {
    fail(cluster_.rank(), chunk.first, std::string("on_progress threw: ") + e.what());
  } catch (...) {
    fail(cluster_.rank(), chunk.first,
         "on_progress threw an exception not derived from std::exception");
  }
}

void RootDispatcher::fail(int rank, std::size_t index, std::string message) {
  if (!failure_) failure_ = Failure{rank, index, std::move(message)};
  own_stop_.request_stop();  // the root's own chunk stops between blocks
}

}  // namespace forage::mpi::detail
