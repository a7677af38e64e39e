// The Chase–Lev work-stealing deque (Lê, Pop, Cohen, Zappa Nardelli, PPoPP 2013), reached
// through two handles, as crossbeam-deque's Worker and Stealer are:
//
//   DequeOwner<T>    push and pop at the bottom (LIFO); one thread, the deque's owner. It holds
//                    the deque itself, so it neither copies nor moves.
//   DequeStealer<T>  steal at the top (FIFO), from any thread; a copyable pointer, valid while
//                    its DequeOwner lives. Code that holds only a stealer cannot push or pop.
//
// lib/deque/README.md describes the protocol: the states, the invariants, why each fence and
// order, the two published bugs avoided (push reloads the ring after growing; steal re-checks
// the ring before claiming), the retired rings and the owner/stealer split. Each line below
// keeps its one-line reason.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "atomics/atomics.hpp"
#include "forage/detail/alloc_fault.hpp"
#include "forage/detail/assert.hpp"

namespace forage::detail {

enum class StealStatus : std::uint8_t {
  success,   // the value is ours
  empty,     // the deque had nothing to steal
  lost_race  // another thief or the owner took the item first, or the ring was swapped:
             // the deque may still hold work, try again
};

template <class T>
struct Stolen {
  StealStatus status;
  T value;  // meaningful only when status == success
};

// Elements are copied in and out of atomic slots, so they must be trivially copyable.
template <class T>
concept DequeElement = std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T>;

template <DequeElement T, class Atoms = DefaultAtomics>
class DequeOwner;
template <DequeElement T, class Atoms = DefaultAtomics>
class DequeStealer;

// The deque's shared state and its three operations. Nothing here is public: the owner side
// reaches push/pop through DequeOwner, thieves reach steal through DequeStealer.
template <DequeElement T, class Atoms>
class WorkDeque {
  template <class U>
  using Atomic = typename Atoms::template atomic<U>;

  class Ring {
   public:
    explicit Ring(std::int64_t capacity)
        : mask_(capacity - 1), slots_(allocate_slots(static_cast<std::size_t>(capacity))) {}

    std::int64_t capacity() const noexcept { return mask_ + 1; }

    // relaxed: the slot is published by the release fence + bottom store in push, and read
    // only after the acquire of bottom (steal) or by the owner itself (pop).
    void put(std::int64_t index, T value) noexcept {
      slots_[static_cast<std::size_t>(index & mask_)].store(value, std::memory_order_relaxed);
    }
    // relaxed: see put; a thief's read may be stale, in which case its top CAS fails.
    T get(std::int64_t index) const noexcept {
      return slots_[static_cast<std::size_t>(index & mask_)].load(std::memory_order_relaxed);
    }

   private:
    static Atomic<T>* allocate_slots(std::size_t capacity) {
      allocation_fault_point();  // a test's injected failure (detail/alloc_fault.hpp)
      return new Atomic<T>[capacity];
    }

    std::int64_t mask_;
    std::unique_ptr<Atomic<T>[]> slots_;
  };

  friend class DequeOwner<T, Atoms>;
  friend class DequeStealer<T, Atoms>;

  explicit WorkDeque(std::size_t initial_capacity) {
    std::int64_t capacity = 1;
    while (static_cast<std::size_t>(capacity) < initial_capacity) capacity <<= 1;
    rings_.push_back(std::make_unique<Ring>(capacity));
    // relaxed: construction happens-before any use (the deque is published by thread start).
    top_.store(0, std::memory_order_relaxed);
    bottom_.store(0, std::memory_order_relaxed);
    ring_.store(rings_.back().get(), std::memory_order_relaxed);
  }

  WorkDeque(const WorkDeque&) = delete;
  WorkDeque& operator=(const WorkDeque&) = delete;

  // Owner only (DequeOwner::push).
  void push(T value) {
    // relaxed: only the owner writes bottom.
    const std::int64_t bottom = bottom_.load(std::memory_order_relaxed);
    // acquire: pairs with the top CAS in steal/pop, so the slots thieves have vacated are
    // really free before we reuse them.
    const std::int64_t top = top_.load(std::memory_order_acquire);
    // relaxed: only the owner writes ring_.
    Ring* ring = ring_.load(std::memory_order_relaxed);
    if (bottom - top > ring->capacity() - 1) {
      grow(top, bottom, ring->capacity() * 2);
      // relaxed: reload the ring grow just installed; the CDSChecker fix.
      ring = ring_.load(std::memory_order_relaxed);
    }
    ring->put(bottom, value);
    // release: the slot write above happens-before any thief that acquires the new bottom.
    Atoms::fence(std::memory_order_release, FenceSite::deque_push_release);
    // relaxed: ordered after the slot write by the fence above.
    bottom_.store(bottom + 1, std::memory_order_relaxed);
  }

  // Owner only (DequeOwner::pop). Takes the most recently pushed value.
  std::optional<T> pop() {
    // relaxed: only the owner writes bottom.
    const std::int64_t bottom = bottom_.load(std::memory_order_relaxed) - 1;
    // relaxed: only the owner writes ring_.
    Ring* ring = ring_.load(std::memory_order_relaxed);
    // relaxed: ordered before the top load by the seq_cst fence below.
    bottom_.store(bottom, std::memory_order_relaxed);
    // seq_cst: pairs with the fence in steal (store-buffering). Either a thief sees the
    // reserved bottom and backs off, or we see its top increment and compete by CAS.
    Atoms::fence(std::memory_order_seq_cst, FenceSite::deque_pop_seq_cst);
    // relaxed: ordered after the bottom store by the fence above.
    std::int64_t top = top_.load(std::memory_order_relaxed);
    if (top > bottom) {  // was empty: undo the reservation
      // relaxed: restoring our own index; no thief can act on bottom < top.
      bottom_.store(bottom + 1, std::memory_order_relaxed);
      return std::nullopt;
    }
    T value = ring->get(bottom);
    if (top < bottom) return value;  // more than one left: thieves cannot reach this slot
    // Last element: race the thieves for it.
    // seq_cst on success: pairs with the thieves' top CAS, a single total order decides who
    // owns the element. relaxed on failure: we only learn that a thief won.
    const bool won = top_.compare_exchange_strong(top, top + 1, std::memory_order_seq_cst,
                                                  std::memory_order_relaxed);
    // relaxed: restore bottom to top + 1 (the deque is now empty either way).
    bottom_.store(bottom + 1, std::memory_order_relaxed);
    if (!won) return std::nullopt;
    return value;
  }

  // Any thread (DequeStealer::steal). Takes the oldest value.
  Stolen<T> steal() {
    // acquire: pairs with the top CAS of other thieves and of pop, so a slot they vacated is
    // not read as ours.
    std::int64_t top = top_.load(std::memory_order_acquire);
    // seq_cst: pairs with the fence in pop (store-buffering, see there).
    Atoms::fence(std::memory_order_seq_cst, FenceSite::deque_steal_seq_cst);
    // acquire: pairs with the release fence in push; the slot at top is then visible.
    const std::int64_t bottom = bottom_.load(std::memory_order_acquire);
    if (top >= bottom) return {StealStatus::empty, T{}};
    // acquire: pairs with the release store of ring_ in grow; the copied slots are visible.
    Ring* ring = ring_.load(std::memory_order_acquire);
    T value = ring->get(top);
    // acquire: claim the slot only if it came from the current ring (README: the second bug
    // avoided). Pairs with the release store of ring_ in grow.
    if (ring_.load(std::memory_order_acquire) != ring) return {StealStatus::lost_race, T{}};
    // seq_cst on success: pairs with pop's last-element CAS and other thieves' CAS; one of us
    // wins the index. relaxed on failure: nothing was claimed.
    if (!top_.compare_exchange_strong(top, top + 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed)) {
      return {StealStatus::lost_race, T{}};
    }
    return {StealStatus::success, value};
  }

  // Any thread; a snapshot that may be stale by the time it returns.
  std::size_t size_approx() const noexcept {
    // relaxed: an estimate for heuristics (whether to wake another worker), never for
    // correctness.
    const std::int64_t bottom = bottom_.load(std::memory_order_relaxed);
    const std::int64_t top = top_.load(std::memory_order_relaxed);
    return bottom > top ? static_cast<std::size_t>(bottom - top) : 0;
  }

  // Owner only (DequeOwner::reserve): makes room for `more` pushes without growing.
  void reserve(std::size_t more) {
    // relaxed: only the owner writes bottom.
    const std::int64_t bottom = bottom_.load(std::memory_order_relaxed);
    // acquire: as in push. Thieves only raise top later, which leaves more room.
    const std::int64_t top = top_.load(std::memory_order_acquire);
    // relaxed: only the owner writes ring_.
    const std::int64_t capacity = ring_.load(std::memory_order_relaxed)->capacity();
    const auto needed = static_cast<std::int64_t>(more) + (bottom - top);
    if (needed <= capacity) return;
    std::int64_t bigger = capacity;
    while (bigger < needed) bigger <<= 1;
    grow(top, bottom, bigger);
  }

  // Owner only (DequeOwner::capacity).
  std::size_t capacity() const noexcept {
    // relaxed: only the owner writes ring_.
    return static_cast<std::size_t>(ring_.load(std::memory_order_relaxed)->capacity());
  }

  // Owner only: copy [top, bottom) into a ring of `capacity` slots (a larger power of two;
  // twice the size from push) and retire the old one.
  void grow(std::int64_t top, std::int64_t bottom, std::int64_t capacity) {
    // relaxed: only the owner writes ring_.
    Ring* old_ring = ring_.load(std::memory_order_relaxed);
    // Both allocations happen before the new ring is installed: if either throws, the deque
    // is unchanged and push reports the failure.
    auto bigger = std::make_unique<Ring>(capacity);
    for (std::int64_t i = top; i < bottom; ++i) bigger->put(i, old_ring->get(i));
    rings_.push_back(std::move(bigger));
    // release: pairs with the acquire loads of ring_ in steal; the copies are visible to a
    // thief that sees the new ring. The old ring stays allocated in rings_ (retired).
    ring_.store(rings_.back().get(), std::memory_order_release);
  }

  // Written by thieves (CAS) and the owner (CAS on the last element); read by everyone.
  alignas(kCacheLine) Atomic<std::int64_t> top_;
  // Written only by the owner; read by thieves.
  alignas(kCacheLine) Atomic<std::int64_t> bottom_;
  // Written only by the owner (grow); read by thieves.
  Atomic<Ring*> ring_;
  // Owner only: the live ring is rings_.back(); the others are retired until destruction.
  std::vector<std::unique_ptr<Ring>> rings_;
};

// The "owner only" contract as a check: the first thread that pushes or pops becomes the
// owner; an owner operation from any other thread fails FORAGE_ASSERT. It asks the OS which
// thread is running, which means something only for the policies that run on OS threads.
// A model checker runs its threads as fibers of one OS thread, so every one of them has the
// same std::thread::id and the check could never fail there: it is off for other policies.
// Off without FORAGE_ASSERTS too, where the member holding it is empty and takes no space.
template <class Atoms>
inline constexpr bool kChecksDequeOwner = FORAGE_ASSERTS != 0 &&
                                          (std::is_same_v<Atoms, StdAtomics> ||
                                           std::is_same_v<Atoms, SeqCstAtomics>);

template <bool kEnabled>
class DequeOwnerCheck {
 public:
  void check(const char* /*message*/) const noexcept {}
};

template <>
class DequeOwnerCheck<true> {
 public:
  // Owner operations call this first; `message` is the contract their assertion prints.
  // (maybe_unused: this specialization is compiled in release too, where FORAGE_ASSERT does
  // not evaluate its message.)
  void check([[maybe_unused]] const char* message) const noexcept {
    const std::thread::id me = std::this_thread::get_id();
    // relaxed: the claim below is the only write. On the owner's thread this load sees it
    // (it is sequenced after it); on another thread a stale id{} only sends us to the CAS.
    std::thread::id owner = owner_.load(std::memory_order_relaxed);
    if (owner == me) return;
    // relaxed (both): the id orders nothing else. A CAS reads the latest value, so of two
    // threads that race to claim the deque exactly one wins, and a later claimer fails
    // whatever its load above saw.
    if (owner == std::thread::id{} &&
        owner_.compare_exchange_strong(owner, me, std::memory_order_relaxed,
                                       std::memory_order_relaxed)) {
      return;
    }
    FORAGE_ASSERT(owner == me, message);
  }

 private:
  // Written once, by the first owner operation (the claim); read by every owner operation.
  mutable std::atomic<std::thread::id> owner_{};
};

// The owner's handle, and the deque itself: one per deque, never copied or moved (stealers
// point into it). Construct it where it will live, then use it from one thread only.
template <DequeElement T, class Atoms>
class DequeOwner {
 public:
  explicit DequeOwner(std::size_t initial_capacity = 256) : deque_(initial_capacity) {}

  DequeOwner(const DequeOwner&) = delete;
  DequeOwner& operator=(const DequeOwner&) = delete;

  // Owner only. Grows the ring when it is full; throws std::bad_alloc (the deque unchanged)
  // if that fails.
  void push(T value) {
    owner_check_.check(
        "DequeOwner::push is owner only: called from a thread that is not the deque's owner");
    deque_.push(value);
  }

  // Owner only. Takes the most recently pushed value; nothing if the deque is empty or a
  // thief took its last value.
  std::optional<T> pop() {
    owner_check_.check(
        "DequeOwner::pop is owner only: called from a thread that is not the deque's owner");
    return deque_.pop();
  }

  // Owner only. Grows the ring (once) so that the next `more` pushes cannot grow it, and so
  // cannot throw; throws std::bad_alloc (the deque unchanged) if that fails.
  void reserve(std::size_t more) {
    owner_check_.check(
        "DequeOwner::reserve is owner only: called from a thread that is not the deque's "
        "owner");
    deque_.reserve(more);
  }

  // Owner only: the live ring's size (it only grows).
  std::size_t capacity() const noexcept {
    owner_check_.check(
        "DequeOwner::capacity is owner only: called from a thread that is not the deque's "
        "owner");
    return deque_.capacity();
  }

  // Any thread; a snapshot that may be stale by the time it returns.
  std::size_t size_approx() const noexcept { return deque_.size_approx(); }
  bool empty_approx() const noexcept { return size_approx() == 0; }

  // A thief's handle to this deque, valid while this DequeOwner lives.
  DequeStealer<T, Atoms> stealer() noexcept { return DequeStealer<T, Atoms>(deque_); }

 private:
  WorkDeque<T, Atoms> deque_;
  [[no_unique_address]] DequeOwnerCheck<kChecksDequeOwner<Atoms>> owner_check_;
};

// A thief's handle: steal and the size estimate, from any thread. A pointer to the deque,
// copied freely; it must not outlive the DequeOwner it came from.
template <DequeElement T, class Atoms>
class DequeStealer {
 public:
  // Any thread. Takes the oldest value; lost_race means try again, the deque may hold more.
  Stolen<T> steal() const { return deque_->steal(); }

  // Any thread; a snapshot that may be stale by the time it returns.
  std::size_t size_approx() const noexcept { return deque_->size_approx(); }
  bool empty_approx() const noexcept { return size_approx() == 0; }

 private:
  friend class DequeOwner<T, Atoms>;
  explicit DequeStealer(WorkDeque<T, Atoms>& deque) noexcept : deque_(&deque) {}

  WorkDeque<T, Atoms>* deque_;
};

}  // namespace forage::detail
