/// @file
/// forage::mpi::Codec<T>: how a value travels between ranks, as bytes.
///
/// Built in:
///   - trivially copyable types (not pointers): their object representation, byte for byte.
///     Vectors of results and inputs of such types travel as one block, straight from and into
///     their storage (Codec<T>::bytewise says so);
///   - std::string, std::vector<T>, std::pair<A, B>, std::tuple<T...> of supported types.
/// Any other type: specialise Codec in namespace forage::mpi with
///
/// @code
///   template <> struct forage::mpi::Codec<Particle> {
///     static void encode(const Particle& p, forage::mpi::Writer& out) {
///       forage::mpi::encode(p.name, out);   // the codec of each member
///       forage::mpi::encode(p.mass, out);
///     }
///     static Particle decode(forage::mpi::Reader& in) {
///       auto name = forage::mpi::decode<std::string>(in);
///       return Particle{std::move(name), forage::mpi::decode<double>(in)};
///     }
///   };
/// @endcode
///
/// Every rank runs the same binary, so the bytes need no versioning; decode must read exactly
/// what encode wrote. A type with neither is rejected at compile time by the Encodable concept.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "forage/export.hpp"
#include "forage/mpi/errors.hpp"

namespace forage::mpi {

/// Appends bytes to a buffer. Used by one thread at a time (a codec's encode).
class FORAGE_API Writer {
 public:
  /// Writes to the end of `bytes`, which must outlive the writer.
  explicit Writer(std::vector<std::byte>& bytes) noexcept : bytes_(bytes) {}
  /// Appends `size` bytes from `data`. Throws std::bad_alloc when the buffer cannot grow.
  void write(const void* data, std::size_t size) {
    const auto* first = static_cast<const std::byte*>(data);
    bytes_.insert(bytes_.end(), first, first + size);
  }

 private:
  std::vector<std::byte>& bytes_;
};

/// Reads bytes back in order; reading past the end throws MpiError (a codec whose decode does
/// not mirror its encode). Used by one thread at a time (a codec's decode).
class FORAGE_API Reader {
 public:
  /// Reads the `size` bytes at `data`, which must outlive the reader.
  Reader(const std::byte* data, std::size_t size) noexcept : data_(data), size_(size) {}
  /// Copies the next `size` bytes to `out`. Throws MpiError past the end.
  void read(void* out, std::size_t size) {
    require(size);
    if (size != 0) std::memcpy(out, data_ + offset_, size);
    offset_ += size;
  }
  /// Throws MpiError unless `size` more bytes are there (a length read before its data).
  void require(std::size_t size) const {
    if (size > size_ - offset_) {
      throw MpiError(
          "forage::mpi::Reader: decode read past the end of the bytes encode wrote; make "
          "Codec<T>::decode read exactly what Codec<T>::encode writes");
    }
  }
  /// The bytes not read yet.
  std::size_t remaining() const noexcept { return size_ - offset_; }

 private:
  const std::byte* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

/// How a T travels between ranks: `static void encode(const T&, Writer&)` and
/// `static T decode(Reader&)` (see forage/mpi/codec.hpp). Not specialised: T has no codec
/// (Encodable<T> is false). The built-in codecs are stateless and thread-safe; decode throws
/// MpiError on bytes that end too soon, and either may throw std::bad_alloc.
template <class T>
struct Codec {
  static constexpr bool unspecialised = true;  ///< marks the primary template: no codec
};

/// Satisfied when Codec<T> has encode and decode: the types that may travel between ranks.
template <class T>
concept Encodable = requires(const T& value, Writer& out, Reader& in) {
  Codec<T>::encode(value, out);
  { Codec<T>::decode(in) } -> std::same_as<T>;
};

namespace detail {

template <class T>
struct IsPairOrTuple : std::false_type {};
template <class A, class B>
struct IsPairOrTuple<std::pair<A, B>> : std::true_type {};
template <class... T>
struct IsPairOrTuple<std::tuple<T...>> : std::true_type {};

template <class T>
concept RawBytes = std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> &&
                   !std::is_member_pointer_v<T> && !IsPairOrTuple<T>::value;

// Whether values of T travel as their own bytes (Codec<T>::bytewise), a block at a time.
template <class T>
inline constexpr bool kBytewise = [] {
  if constexpr (requires { Codec<T>::bytewise; }) {
    return Codec<T>::bytewise;
  } else {
    return false;
  }
}();

template <class T>
constexpr void require_codec(const char* where) {
  static_assert(Encodable<T>,
                "forage::mpi: this type has no forage::mpi::Codec<T>: built in are trivially "
                "copyable types, std::string, std::vector, std::pair and std::tuple of them; "
                "specialise forage::mpi::Codec<T> with encode(const T&, Writer&) and "
                "decode(Reader&) (include/forage/mpi/codec.hpp shows how)");
  (void)where;
}

}  // namespace detail

/// Codec<T>::encode(value, out), for writing a member inside a codec; a type without a codec
/// does not compile. Throws what the codec throws.
template <class T>
void encode(const T& value, Writer& out) {
  detail::require_codec<T>("forage::mpi::encode");
  Codec<T>::encode(value, out);
}

/// Codec<T>::decode(in), for reading a member inside a codec. Throws what the codec throws
/// (MpiError past the end of the bytes).
template <class T>
T decode(Reader& in) {
  detail::require_codec<T>("forage::mpi::decode");
  return Codec<T>::decode(in);
}

/// Trivially copyable types (not pointers, pairs or tuples): their object representation.
template <detail::RawBytes T>
struct Codec<T> {
  static constexpr bool bytewise = true;  ///< vectors of T travel as one block
  /// Writes the value's bytes.
  static void encode(const T& value, Writer& out) { out.write(&value, sizeof(T)); }
  /// Reads the value's bytes back.
  static T decode(Reader& in) {
    T value;
    in.read(&value, sizeof(T));
    return value;
  }
};

/// std::string: its length, then its characters.
template <>
struct Codec<std::string> {
  /// Writes the length and the characters.
  static void encode(const std::string& value, Writer& out) {
    const std::size_t size = value.size();
    out.write(&size, sizeof size);
    out.write(value.data(), size);
  }
  /// Reads a string encode() wrote.
  static std::string decode(Reader& in) {
    std::size_t size = 0;
    in.read(&size, sizeof size);
    in.require(size);
    std::string value(size, '\0');
    in.read(value.data(), size);
    return value;
  }
};

/// std::vector of an Encodable type: its size, then its items (one block when T is bytewise).
template <Encodable T, class A>
struct Codec<std::vector<T, A>> {
  /// Writes the size and the items.
  static void encode(const std::vector<T, A>& value, Writer& out) {
    const std::size_t size = value.size();
    out.write(&size, sizeof size);
    if constexpr (detail::kBytewise<T>) {
      out.write(value.data(), size * sizeof(T));
    } else {
      for (const T& item : value) Codec<T>::encode(item, out);
    }
  }
  /// Reads a vector encode() wrote.
  static std::vector<T, A> decode(Reader& in) {
    std::size_t size = 0;
    in.read(&size, sizeof size);
    std::vector<T, A> value;
    if constexpr (detail::kBytewise<T>) {
      if (size > in.remaining() / sizeof(T)) in.require(in.remaining() + 1);  // throws
      value.resize(size);
      in.read(value.data(), size * sizeof(T));
    } else {
      value.reserve(std::min(size, in.remaining()));
      for (std::size_t i = 0; i < size; ++i) value.push_back(Codec<T>::decode(in));
    }
    return value;
  }
};

/// std::pair of Encodable types: first, then second.
template <Encodable A, Encodable B>
struct Codec<std::pair<A, B>> {
  /// Writes first, then second.
  static void encode(const std::pair<A, B>& value, Writer& out) {
    Codec<A>::encode(value.first, out);
    Codec<B>::encode(value.second, out);
  }
  /// Reads first, then second.
  static std::pair<A, B> decode(Reader& in) {
    A first = Codec<A>::decode(in);  // named: the order of evaluation is the order written
    return std::pair<A, B>(std::move(first), Codec<B>::decode(in));
  }
};

/// std::tuple of Encodable types: its elements in order.
template <Encodable... T>
struct Codec<std::tuple<T...>> {
  /// Writes the elements in order.
  static void encode(const std::tuple<T...>& value, Writer& out) {
    std::apply([&out](const T&... items) { (Codec<T>::encode(items, out), ...); }, value);
  }
  /// Reads the elements in order.
  static std::tuple<T...> decode(Reader& in) {
    // Braced initialisation evaluates left to right, as encode wrote.
    return std::tuple<T...>{Codec<T>::decode(in)...};
  }
};

}  // namespace forage::mpi
