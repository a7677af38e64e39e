/// @file
/// What parallel_map and map_async return: forage::MapResults<R>, a std::vector<R> whose
/// allocator is forage::ResultAllocator<R>.
///
/// Why not std::vector<R>: it cannot take storage whose elements someone else constructed, and
/// its sized constructor value-initialises every element on the calling thread (for 10M
/// doubles, zeroing and first-touching 80 MB serially: most of a cheap parallel map).
/// parallel_map instead allocates the storage with ResultAllocator, lets each worker construct
/// the results it computes in place (so pages are first touched, and on a NUMA machine placed,
/// by the worker that writes them), then adopts them: a vector constructed from AdoptIterators
/// receives that storage from allocate() and "constructs" each element by doing nothing.
///
/// ResultAllocator<T> is stateless and always equal; otherwise it is std::allocator, except
///   - blocks of kLargeResultBytes or more are 2 MiB aligned and the kernel is asked to back
///     them with transparent huge pages (madvise(MADV_HUGEPAGE), lib/result_allocator.cpp):
///     one page fault per 2 MiB instead of per 4 KiB when the workers first touch them;
///   - while an AdoptionScope is alive on a thread, its next allocate() there returns the
///     scope's storage, and construct(p, AdoptConstructed) does nothing. Only forage names
///     these: every vector operation a user calls behaves as with std::allocator.
/// To hand the results to code that takes const std::vector<R>&, move them into one (README,
/// "parallel_map").
#pragma once

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "forage/detail/alloc_fault.hpp"
#include "forage/detail/assert.hpp"
#include "forage/export.hpp"

namespace forage {

namespace detail {

namespace FORAGE_API rt {

// Defined in lib/result_allocator.cpp.
//
// At least `bytes` (kLargeResultBytes or more), aligned to kHugePageBytes and advised as huge
// pages. Throws std::bad_alloc like operator new.
void* allocate_large_result(std::size_t bytes);
void deallocate_large_result(void* storage, std::size_t bytes) noexcept;

}  // namespace rt

// A transparent huge page on x86-64 (and the usual aarch64 configuration).
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;
// The size from which results go to huge-page-advised storage: 4 huge pages, so that the
// alignment wastes little and small results keep malloc's reuse of freed blocks.
inline constexpr std::size_t kLargeResultBytes = 4 * kHugePageBytes;

// "The element at this place is already constructed": what an AdoptIterator yields.
struct AdoptConstructed {};

// Storage the calling thread's next ResultAllocator::allocate hands out (see AdoptionScope).
struct AdoptedStorage {
  void* storage = nullptr;
  std::size_t bytes = 0;
};
FORAGE_API inline thread_local AdoptedStorage tls_adopted_storage;

// `count` AdoptConstructed values: the range a MapResults is constructed from to adopt
// storage whose elements are built. Random access, so the vector learns the count at once.
class AdoptIterator {
 public:
  using iterator_category = std::random_access_iterator_tag;
  using value_type = AdoptConstructed;
  using difference_type = std::ptrdiff_t;
  using pointer = const AdoptConstructed*;
  using reference = const AdoptConstructed&;

  AdoptIterator() noexcept = default;
  explicit AdoptIterator(std::size_t position) noexcept : position_(position) {}

  reference operator*() const noexcept { return kValue; }
  reference operator[](difference_type) const noexcept { return kValue; }
  AdoptIterator& operator++() noexcept {
    ++position_;
    return *this;
  }
  AdoptIterator operator++(int) noexcept { return AdoptIterator(position_++); }
  AdoptIterator& operator--() noexcept {
    --position_;
    return *this;
  }
  AdoptIterator operator--(int) noexcept { return AdoptIterator(position_--); }
  AdoptIterator& operator+=(difference_type n) noexcept {
    position_ += static_cast<std::size_t>(n);
    return *this;
  }
  AdoptIterator& operator-=(difference_type n) noexcept {
    position_ -= static_cast<std::size_t>(n);
    return *this;
  }
  friend AdoptIterator operator+(AdoptIterator it, difference_type n) noexcept { return it += n; }
  friend AdoptIterator operator+(difference_type n, AdoptIterator it) noexcept { return it += n; }
  friend AdoptIterator operator-(AdoptIterator it, difference_type n) noexcept { return it -= n; }
  friend difference_type operator-(AdoptIterator a, AdoptIterator b) noexcept {
    return static_cast<difference_type>(a.position_ - b.position_);
  }
  friend bool operator==(AdoptIterator a, AdoptIterator b) noexcept {
    return a.position_ == b.position_;
  }
  friend auto operator<=>(AdoptIterator a, AdoptIterator b) noexcept {
    return a.position_ <=> b.position_;
  }

 private:
  static constexpr AdoptConstructed kValue{};
  std::size_t position_ = 0;
};

// While alive, the next ResultAllocator::allocate on this thread returns `storage` (which
// must have come from ResultAllocator<T>::allocate(count)).
class AdoptionScope {
 public:
  AdoptionScope(void* storage, std::size_t bytes) noexcept {
    FORAGE_ASSERT(tls_adopted_storage.storage == nullptr, "adoptions do not nest");
    tls_adopted_storage = {storage, bytes};
  }
  ~AdoptionScope() { tls_adopted_storage = {}; }
  AdoptionScope(const AdoptionScope&) = delete;
  AdoptionScope& operator=(const AdoptionScope&) = delete;
};

}  // namespace detail

/// The allocator of MapResults (see forage/result_allocator.hpp): std::allocator, plus huge-page
/// storage for large blocks and the adoption of results the workers constructed.
///
/// Thread-safety: stateless; any number of threads may allocate and free at once (as with
/// std::allocator). Errors: allocate() throws std::bad_alloc as operator new does; nothing else
/// throws but what an element's constructor throws.
template <class T>
class ResultAllocator {
 public:
  using value_type = T;                    ///< What it allocates.
  using size_type = std::size_t;           ///< As std::allocator's.
  using difference_type = std::ptrdiff_t;  ///< As std::allocator's.
  using is_always_equal = std::true_type;  ///< Stateless: any two compare equal.
  /// A moved-to vector takes the moved-from one's storage, as with std::allocator.
  using propagate_on_container_move_assignment = std::true_type;

  /// Stateless: nothing to set.
  constexpr ResultAllocator() noexcept = default;
  template <class U>
  constexpr ResultAllocator(const ResultAllocator<U>&) noexcept {}  ///< a rebind

  /// Storage for `n` elements: huge-page-advised from kLargeResultBytes on, the scope's storage
  /// inside an adoption, else std::allocator's. Throws std::bad_alloc.
  [[nodiscard]] T* allocate(std::size_t n) {
    detail::AdoptedStorage& adopted = detail::tls_adopted_storage;
    if (adopted.storage != nullptr) [[unlikely]] {
      FORAGE_ASSERT(adopted.bytes == n * sizeof(T), "an adoption takes the storage it was given");
      return static_cast<T*>(std::exchange(adopted.storage, nullptr));
    }
    detail::allocation_fault_point();  // a test's injected failure (detail/alloc_fault.hpp)
    if (is_large(n)) return static_cast<T*>(detail::rt::allocate_large_result(n * sizeof(T)));
    return std::allocator<T>().allocate(n);
  }

  /// Frees what allocate(n) returned. Never throws.
  void deallocate(T* storage, std::size_t n) noexcept {
    if (is_large(n)) {
      detail::rt::deallocate_large_result(storage, n * sizeof(T));
    } else {
      std::allocator<T>().deallocate(storage, n);
    }
  }

  /// Adoption: the element at `place` was constructed by the worker that computed it.
  template <class U>
  void construct(U*, const detail::AdoptConstructed&) noexcept {}

  /// Constructs an element from `args`, as std::allocator does; throws what that constructor
  /// throws.
  template <class U, class... Args>
  void construct(U* place, Args&&... args) {
    std::construct_at(place, std::forward<Args>(args)...);
  }

 private:
  static constexpr bool is_large(std::size_t n) noexcept {
    // Beyond max_size, n * sizeof(T) could overflow: std::allocator throws for those.
    return n >= (detail::kLargeResultBytes + sizeof(T) - 1) / sizeof(T) &&
           n <= std::allocator_traits<std::allocator<T>>::max_size(std::allocator<T>()) &&
           alignof(T) <= detail::kHugePageBytes;
  }
};

/// Always true: every ResultAllocator can free what any other allocated.
template <class T, class U>
constexpr bool operator==(const ResultAllocator<T>&, const ResultAllocator<U>&) noexcept {
  return true;
}

/// The results of parallel_map and map_async, in input order. A std::vector, with its
/// thread-safety: a const one may be read from any number of threads.
template <class R>
using MapResults = std::vector<R, ResultAllocator<R>>;

/// `results == expected` against a std::vector<R> (found by argument-dependent lookup through
/// the allocator): element by element, as std::vector's own operator==. Throws what R's
/// operator== throws.
template <class R>
bool operator==(const MapResults<R>& results, const std::vector<R>& expected) {
  return std::equal(results.begin(), results.end(), expected.begin(), expected.end());
}

namespace detail {

// Storage for `count` results of type R whose elements workers construct in place. Freed by
// the destructor unless adopt() handed it to a MapResults; the elements are not destroyed
// here (whoever constructed them destroys them on failure).
template <class R>
class ResultStorage {
 public:
  explicit ResultStorage(std::size_t count)
      : count_(count), data_(count == 0 ? nullptr : ResultAllocator<R>().allocate(count)) {}
  ~ResultStorage() {
    if (data_ != nullptr) ResultAllocator<R>().deallocate(data_, count_);
  }
  ResultStorage(const ResultStorage&) = delete;
  ResultStorage& operator=(const ResultStorage&) = delete;

  R* data() const noexcept { return data_; }

  // Every element is constructed: the storage becomes a vector of them, without a copy.
  MapResults<R> adopt() && noexcept {
    if (data_ == nullptr) return {};
    AdoptionScope scope(std::exchange(data_, nullptr), count_ * sizeof(R));
    return MapResults<R>(AdoptIterator(0), AdoptIterator(count_));
  }

 private:
  std::size_t count_;
  R* data_;
};

}  // namespace detail

}  // namespace forage
