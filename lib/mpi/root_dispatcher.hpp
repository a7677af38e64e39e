// The root's side of a call: deals chunks to the ranks that ask, computes chunks itself
// between polls, gathers what the call gathers. Private to lib/mpi (lib/mpi/README.md).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <list>
#include <optional>
#include <stop_token>
#include <vector>

#include "forage/mpi/detail/dispatch.hpp"
#include "mpi/transport.hpp"

namespace forage::mpi::detail {

class RootDispatcher {
 public:
  RootDispatcher(Cluster& cluster, std::uint64_t call, const CallShape& shape, std::size_t size,
                 ChunkRunner& runner);
  // Returns once every rank has been told finish or abort and every chunk dealt has been
  // reported; the first failure, if any.
  std::optional<Failure> run();

 private:
  struct Peer {
    std::size_t assigned = 0;  // chunks dealt to it
    std::size_t reported = 0;  // chunks it reported (done, failed or stopped)
    bool told_to_stop = false;
  };
  // A reply in flight: MPI_Isend, so that the root never blocks on a rank that is itself
  // sending (a rank's results to the root and the root's inputs to it could otherwise wait
  // for each other).
  struct Reply {
    Header header;
    std::vector<std::byte> scratch;
    std::vector<MPI_Request> requests;
  };

  bool finished() const;
  bool take_messages();
  void take_message(int source, MPI_Message& message);
  void reply(int to, Kind kind, Chunk chunk = {0, 0});
  void reap_replies(bool all);
  Chunk take_chunk();
  void start_own();
  void finish_own();
  void chunk_done(Chunk chunk);
  void fail(int rank, std::size_t index, std::string message);

  Cluster& cluster_;
  std::uint64_t call_;
  const CallShape& shape_;
  std::size_t size_;
  ChunkRunner& runner_;
  std::vector<Peer> peers_;
  std::size_t next_ = 0;  // the first item not yet dealt
  std::size_t items_done_ = 0;
  std::optional<Failure> failure_;
  bool own_running_ = false;
  Chunk own_{0, 0};
  std::stop_source own_stop_;
  std::list<Reply> replies_;  // a list: the MPI requests point into its elements
};

// The next chunk's size: Chunking::adaptive() is guided, remaining / (2 * ranks) with a floor
// of total / (kGuidedFloorDivisor * ranks) items (at least 1), so that the last chunks stay
// worth a message and a fork-join on the pool.
inline constexpr std::size_t kGuidedFloorDivisor = 128;
std::size_t next_chunk_size(const Chunking& chunking, std::size_t remaining, std::size_t total,
                            std::size_t ranks);

}  // namespace forage::mpi::detail
