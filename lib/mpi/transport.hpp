// Point-to-point and collective helpers of the dispatcher: tags, headers, byte buffers of any
// size. Private to lib/mpi.
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

namespace forage::mpi::detail {

// Throws MpiError naming `what` unless rc is MPI_SUCCESS (on forage's communicator MPI aborts
// first; this covers calls that fail before one exists).
void check(int rc, const char* what);

// How long the calling thread waits for its chunk (or sleeps when it has none) between two
// polls of MPI: short against a chunk (milliseconds), long enough that a waiting rank leaves
// its core to the pool's workers.
inline constexpr std::chrono::microseconds kPoll{100};

// Message kinds, each on its own tag: a header, then (if the header says so) its bytes.
enum class Channel : int {
  up = 0,         // rank -> root: Header (request, chunk done / failed / stopped)
  up_bytes = 1,   // rank -> root: a chunk's result bytes or failure message
  down = 2,       // root -> rank: Header (assignment, done, abort)
  down_bytes = 3  // root -> rank: an assigned chunk's input bytes
};

// The call number is part of every tag, so a message of one call can never be taken for
// another's; MPI guarantees tags up to 32767, so it counts calls modulo kCallsInTags.
inline constexpr int kChannels = 4;
inline constexpr std::uint64_t kCallsInTags = 8000;

inline int tag_of(std::uint64_t call, Channel channel) {
  return static_cast<int>(call % kCallsInTags) * kChannels + static_cast<int>(channel);
}

enum class Kind : std::int64_t {
  request,  // up: give me a chunk
  done,     // up: a chunk finished (bytes = its results' size)
  failed,   // up: a chunk failed at `index` (bytes = the message's size)
  stopped,  // up: a chunk was stopped or skipped because the call was aborted
  assign,   // down: compute [first, last) (bytes = its inputs' size, Inputs::at_root)
  finish,   // down: no chunk left; the rank stops asking
  abort     // down: the call failed elsewhere; stop and stop asking
};

struct Header {
  Kind kind;
  std::int64_t first = 0;
  std::int64_t last = 0;
  std::int64_t bytes = 0;
  std::int64_t index = 0;
};

// Blocking sends and receives of a header, and of bytes in pieces MPI's int counts can hold.
void send_header(MPI_Comm comm, int to, int tag, const Header& header);
Header receive_header(MPI_Message& message);
void send_bytes(MPI_Comm comm, int to, int tag, std::span<const std::byte> bytes);
void receive_bytes(MPI_Comm comm, int from, int tag, std::span<std::byte> bytes);

}  // namespace forage::mpi::detail
