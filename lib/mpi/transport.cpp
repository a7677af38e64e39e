#include "mpi/transport.hpp"

#include <algorithm>
#include <climits>
#include <string>

#include "forage/mpi/errors.hpp"

namespace forage::mpi::detail {

namespace {

// The most bytes one MPI message carries here: counts are ints.
constexpr std::size_t kPieceBytes = std::size_t{1} << 30;
constexpr int kHeaderWords = 5;

}  // namespace

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw MpiError(std::string(what) +
                 " failed: " + std::string(text, static_cast<std::size_t>(length)));
}

void send_header(MPI_Comm comm, int to, int tag, const Header& header) {
  static_assert(sizeof(Header) == kHeaderWords * sizeof(std::int64_t));
  check(MPI_Send(&header, kHeaderWords, MPI_INT64_T, to, tag, comm), "forage::mpi: MPI_Send");
}

Header receive_header(MPI_Message& message) {
  Header header{Kind::request};
  check(MPI_Mrecv(&header, kHeaderWords, MPI_INT64_T, &message, MPI_STATUS_IGNORE),
        "forage::mpi: MPI_Mrecv");
  return header;
}

void send_bytes(MPI_Comm comm, int to, int tag, std::span<const std::byte> bytes) {
  for (std::size_t offset = 0; offset < bytes.size(); offset += kPieceBytes) {
    const std::size_t piece = std::min(kPieceBytes, bytes.size() - offset);
    check(MPI_Send(bytes.data() + offset, static_cast<int>(piece), MPI_BYTE, to, tag, comm),
          "forage::mpi: MPI_Send");
  }
}

void receive_bytes(MPI_Comm comm, int from, int tag, std::span<std::byte> bytes) {
  for (std::size_t offset = 0; offset < bytes.size(); offset += kPieceBytes) {
    const std::size_t piece = std::min(kPieceBytes, bytes.size() - offset);
    check(MPI_Recv(bytes.data() + offset, static_cast<int>(piece), MPI_BYTE, from, tag, comm,
                   MPI_STATUS_IGNORE),
          "forage::mpi: MPI_Recv");
  }
}

}  // namespace forage::mpi::detail
