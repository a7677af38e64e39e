// The dispatcher: chunks dealt by the root, computed by every rank, one outcome everywhere.
// lib/mpi/README.md gives the protocol and why no rank is left waiting.
#include "forage/mpi/detail/dispatch.hpp"

#include <mpi.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <list>
#include <string>
#include <thread>

#include "exception_text.hpp"
#include "forage/mpi/errors.hpp"
#include "mpi/root_dispatcher.hpp"
#include "mpi/transport.hpp"

namespace forage::mpi::detail {

std::span<const std::byte> ChunkRunner::input_bytes(Chunk, std::vector<std::byte>&) {
  throw MpiError("forage::mpi: this algorithm has no inputs to send");
}

std::span<std::byte> ChunkRunner::input_buffer(Chunk, std::size_t) {
  throw MpiError("forage::mpi: this algorithm receives no inputs");
}

std::span<std::byte> ChunkRunner::result_buffer(Chunk, std::size_t) {
  throw MpiError("forage::mpi: this algorithm gathers no results");
}

void ChunkRunner::results_arrived(Chunk) {}

namespace {

// A rank other than the root: keeps one request in flight while it computes.
class RankWorker {
 public:
  RankWorker(Cluster& cluster, std::uint64_t call, int root, ChunkRunner& runner)
      : comm_(cluster.comm()), call_(call), root_(root), runner_(runner) {}

  void run() {
    request();
    for (;;) {
      if (!running_) {
        if (next_) {
          start(*next_);
          next_.reset();
          if (!terminal_) request();  // the prefetch: the next chunk is dealt while this runs
        } else if (terminal_) {
          return;
        } else {
          wait_for_reply();
        }
        continue;
      }
      const bool finished = runner_.wait_for(kPoll);
      if (awaiting_reply_) poll_reply();
      if (finished) report();
    }
  }

 private:
  void request() {
    send_header(comm_, root_, tag_of(call_, Channel::up), Header{Kind::request});
    awaiting_reply_ = true;
  }

  void start(Chunk chunk) {
    current_ = chunk;
    stop_ = std::stop_source();
    runner_.start(chunk, stop_.get_token());
    running_ = true;
  }

  void poll_reply() {
    int found = 0;
    MPI_Message message = MPI_MESSAGE_NULL;
    check(MPI_Improbe(root_, tag_of(call_, Channel::down), comm_, &found, &message,
                      MPI_STATUS_IGNORE),
          "forage::mpi: MPI_Improbe");
    if (found != 0) take_reply(message);
  }

  void wait_for_reply() {
    while (awaiting_reply_) {
      poll_reply();
      if (awaiting_reply_) std::this_thread::sleep_for(kPoll);
    }
  }

  void take_reply(MPI_Message& message) {
    const Header header = receive_header(message);
    awaiting_reply_ = false;
    if (header.kind == Kind::assign) {
      const Chunk chunk{static_cast<std::size_t>(header.first),
                        static_cast<std::size_t>(header.last)};
      if (header.bytes > 0) {
        const auto bytes = static_cast<std::size_t>(header.bytes);
        receive_bytes(comm_, root_, tag_of(call_, Channel::down_bytes),
                      runner_.input_buffer(chunk, bytes));
      }
      next_ = chunk;
      return;
    }
    terminal_ = true;
    if (header.kind == Kind::abort && running_) stop_.request_stop();
  }

  void report() {
    running_ = false;
    ChunkFailure failure;
    const ChunkStatus status = runner_.finish(failure);
    Header header{Kind::stopped, static_cast<std::int64_t>(current_.first),
                  static_cast<std::int64_t>(current_.last)};
    std::span<const std::byte> bytes;
    if (status == ChunkStatus::done) {
      header.kind = Kind::done;
      bytes = runner_.result_bytes();
    } else if (status == ChunkStatus::failed) {
      header.kind = Kind::failed;
      header.index = static_cast<std::int64_t>(failure.index);
      bytes = std::as_bytes(std::span(failure.message));
    }
    header.bytes = static_cast<std::int64_t>(bytes.size());
    send_header(comm_, root_, tag_of(call_, Channel::up), header);
    send_bytes(comm_, root_, tag_of(call_, Channel::up_bytes), bytes);
  }

  MPI_Comm comm_;
  std::uint64_t call_;
  int root_;
  ChunkRunner& runner_;
  bool awaiting_reply_ = false;  // a request is out and its reply not yet taken
  bool terminal_ = false;        // the root said finish or abort: no more requests
  bool running_ = false;
  Chunk current_{0, 0};
  std::optional<Chunk> next_;
  std::stop_source stop_;
};

// The root tells every rank the outcome; then all of them return it.
std::optional<Failure> broadcast_outcome(Cluster& cluster, int root,
                                         std::optional<Failure> failure) {
  std::array<std::int64_t, 4> head{};
  if (failure) {
    head = {1, failure->rank, static_cast<std::int64_t>(failure->index),
            static_cast<std::int64_t>(failure->message.size())};
  }
  check(MPI_Bcast(head.data(), 4, MPI_INT64_T, root, cluster.comm()), "forage::mpi: MPI_Bcast");
  if (head[0] == 0) return std::nullopt;
  Failure outcome{static_cast<int>(head[1]), static_cast<std::size_t>(head[2]), {}};
  outcome.message =
      failure ? failure->message : std::string(static_cast<std::size_t>(head[3]), ' ');
  rt::broadcast(cluster, root, std::as_writable_bytes(std::span(outcome.message)));
  return outcome;
}

}  // namespace

namespace rt {

std::optional<Failure> dispatch(Cluster& cluster, std::uint64_t call, const CallShape& shape,
                                std::size_t size, ChunkRunner& runner) {
  const int root = shape.options.root;
  std::optional<Failure> failure;
  try {
    if (cluster.rank() == root) {
      RootDispatcher dispatcher(cluster, call, shape, size, runner);
      failure = dispatcher.run();
    } else {
      RankWorker(cluster, call, root, runner).run();
    }
  } catch (const std::exception& e) {
    // Only a broken invariant of forage's own gets here (element functions' exceptions are
    // chunk failures): the other ranks could wait for this one forever, so end the job.
    std::fprintf(stderr, "forage::mpi: rank %d: internal failure, aborting the job: %s\n",
                 cluster.rank(), e.what());
    MPI_Abort(cluster.comm(), 1);
  }
  return broadcast_outcome(cluster, root, std::move(failure));
}

void broadcast(Cluster& cluster, int root, std::vector<std::byte>& bytes) {
  auto size = static_cast<std::int64_t>(bytes.size());
  check(MPI_Bcast(&size, 1, MPI_INT64_T, root, cluster.comm()), "forage::mpi: MPI_Bcast");
  bytes.resize(static_cast<std::size_t>(size));
  broadcast(cluster, root, std::span<std::byte>(bytes));
}

void broadcast(Cluster& cluster, int root, std::span<std::byte> bytes) {
  constexpr std::size_t kPieceBytes = std::size_t{1} << 30;
  for (std::size_t offset = 0; offset < bytes.size(); offset += kPieceBytes) {
    const std::size_t piece = std::min(kPieceBytes, bytes.size() - offset);
    check(MPI_Bcast(bytes.data() + offset, static_cast<int>(piece), MPI_BYTE, root, cluster.comm()),
          "forage::mpi: MPI_Bcast");
  }
}

void throw_remote_error(const char* where, const Failure& failure) {
  throw RemoteError(std::string(where) + ": item " + std::to_string(failure.index) +
                        " failed on rank " + std::to_string(failure.rank) + ": " + failure.message,
                    failure.rank, failure.index, failure.message);
}

std::string exception_message(const std::exception_ptr& error) {
  return forage::detail::describe_exception(error);
}

}  // namespace rt

}  // namespace forage::mpi::detail
