// StopNode: the one stop mechanism of forage. A pool, a submitted task, a task group and a
// running algorithm each own one; a failure and a stop request set the same flag.
//
// Nodes form a tree by `parent` (a job inside a task inside a group inside the pool): a node
// is stopped when its own flag or any ancestor's is set. Readers pull: a check walks the chain
// (a few loads of lines nobody writes until a stop), so making a node costs no registration
// and no allocation. A parent always outlives its children: a pool outlives its tasks, a group
// waits for its tasks, an algorithm for its chunks.
//
// A std::stop_token is made only when a callable asks for one (it takes a token first, as
// std::jthread's do) or someone asks for the node's token: then the node allocates a
// std::stop_source once (lazily, first caller wins a CAS), and forwards its parent's token into
// it with a std::stop_callback, so the token fires for every request the chain pulls.
//
//   request():  flag.exchange(seq_cst) ; load lazy (seq_cst) -> request its source
//   token():    CAS lazy (seq_cst)      ; load flag (seq_cst) -> request the new source
// Either the requester sees the new source or the creator sees the flag (the two seq_cst
// accesses of each side cannot both miss the other's): no request is lost.
#pragma once

#include <atomic>
#include <optional>
#include <stop_token>
#include <utility>

#include "forage/export.hpp"

namespace forage::detail {

class StopNode {
 public:
  explicit StopNode(const StopNode* parent = nullptr) noexcept : parent_(parent) {}
  ~StopNode() { delete lazy_.load(std::memory_order_acquire); }  // acquire: the creator's writes

  StopNode(const StopNode&) = delete;
  StopNode& operator=(const StopNode&) = delete;

  const StopNode* parent() const noexcept { return parent_; }

  // This node's own flag; true once request() was called.
  bool own_requested(std::memory_order order = std::memory_order_acquire) const noexcept {
    return flag_.load(order);
  }

  // This node's flag or an ancestor's. `order`: acquire for code that acts on data written
  // before the request (this_task::stop_requested, as std::stop_token does); relaxed for the
  // algorithms' check between blocks, a hint whose outcome is settled after the joins.
  bool requested(std::memory_order order = std::memory_order_acquire) const noexcept {
    for (const StopNode* node = this; node != nullptr; node = node->parent_) {
      if (node->flag_.load(order)) return true;
    }
    return false;
  }

  // Sets the flag; returns whether this call set it (the first request). Thread-safe, never
  // blocks except to run the std::stop_callbacks of a token handed out (std::stop_source).
  bool request() noexcept {
    // seq_cst: pairs with token()'s seq_cst CAS and flag load (header comment).
    if (flag_.exchange(true, std::memory_order_seq_cst)) return false;
    // seq_cst: as above.
    if (Lazy* lazy = lazy_.load(std::memory_order_seq_cst)) lazy->source.request_stop();
    return true;
  }

  // A std::stop_token that fires when this node or an ancestor is stopped. Allocates on the
  // first call (the node's std::stop_source, and the link to the parent's token).
  std::stop_token token() {
    // acquire: a source another thread created is fully constructed.
    Lazy* lazy = lazy_.load(std::memory_order_acquire);
    if (lazy == nullptr) {
      auto* fresh = new Lazy;
      // seq_cst: pairs with request() (header comment); on failure, acquire as the load.
      if (lazy_.compare_exchange_strong(lazy, fresh, std::memory_order_seq_cst,
                                        std::memory_order_acquire)) {
        lazy = fresh;
        // Only the winner links: a parent request, past or future, reaches the new source.
        if (parent_ != nullptr) {
          lazy->from_parent.emplace(const_cast<StopNode*>(parent_)->token(), Forward{this});
        }
        // seq_cst: pairs with request()'s exchange (header comment).
        if (flag_.load(std::memory_order_seq_cst)) lazy->source.request_stop();
      } else {
        delete fresh;
      }
    }
    return lazy->source.get_token();
  }

 private:
  struct Forward {
    StopNode* node;
    void operator()() const noexcept { node->request(); }
  };
  struct Lazy {
    std::stop_source source;
    std::optional<std::stop_callback<Forward>> from_parent;
  };

  // Set once by request(); read by every check of this node and its descendants.
  std::atomic<bool> flag_{false};
  const StopNode* parent_;
  // Null until token() is first called; then owned by this node.
  std::atomic<Lazy*> lazy_{nullptr};
};

// Requests stop of a node: the std::stop_callback a job or group registers on a token it was
// given.
struct RequestStop {
  StopNode* node;
  void operator()() const noexcept { node->request(); }
};

// The node of the task running on this thread, or null when it carries none (a plain spawn, a
// join half: it then reads the pool's, rt::pool_stop_requested). Set by the tasks that carry a
// node around their run (StopScope), cleared around help-while-wait (lib/wait_word.cpp), so a
// task never reads another task's node.
FORAGE_API inline thread_local const StopNode* tls_current_stop = nullptr;

// Makes `node` the current one for a scope: one thread-local load and two stores.
class StopScope {
 public:
  explicit StopScope(const StopNode* node) noexcept : saved_(tls_current_stop) {
    tls_current_stop = node;
  }
  ~StopScope() { tls_current_stop = saved_; }
  StopScope(const StopScope&) = delete;
  StopScope& operator=(const StopScope&) = delete;

 private:
  const StopNode* saved_;
};

// The node a new job, group or task started on this thread hangs under: the current task's,
// else `root` (its pool's).
inline const StopNode* enclosing_stop(const StopNode* root) noexcept {
  const StopNode* current = tls_current_stop;
  return current != nullptr ? current : root;
}

}  // namespace forage::detail
