// fib(n) by recursive fork-join with no cutoff, on every system that forks and joins: every
// call with n >= 2 forks fib(n - 1) and fib(n - 2) and adds them, every call with n < 2
// returns n. Written once here for the suites that run it: fib (its time per join) and alloc
// (its heap allocations per join); bench/fib/fib_bench.cpp describes each system's variant.
//
// A Fib runner owns what one system needs for one benchmark: start() builds it (false, with
// the benchmark skipped, on failure), fib(n) computes fib(n) from the benchmark thread, and
// stats() gives the pool's counters where has_stats(). kSystem and kVariant name it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <benchmark/benchmark.h>

#include "common/bench_support.hpp"
#include "common/peers.hpp"
#include "forage/join.hpp"

#ifdef FORAGE_HAVE_ONETBB
#include <tbb/parallel_invoke.h>
#endif

namespace forage::bench {

inline constexpr int kSerialFibN = 93;  // the largest n whose F(n) fits in 64 bits

// F(n): F(0) = 0, F(1) = 1.
inline std::uint64_t fibonacci(int n) {
  std::uint64_t a = 0;
  std::uint64_t b = 1;
  for (int i = 0; i < n && i < kSerialFibN; ++i) {
    const std::uint64_t next = a + b;
    a = b;
    b = next;
  }
  return a;
}

// The non-leaf calls of fib(n): calls in all are 2 F(n + 1) - 1, leaves F(n + 1).
inline std::uint64_t joins_of(int n) { return n < 2 ? 0 : fibonacci(n + 1) - 1; }

// --- The recursions ---------------------------------------------------------------------------

inline std::uint64_t fib_join(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  const auto [a, b] =
      forage::join([n] { return fib_join(n - 1); }, [n] { return fib_join(n - 2); });
  return a + b;
}

#ifdef FORAGE_HAVE_ONETBB
inline std::uint64_t fib_task_group(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  std::uint64_t x = 0;
  std::uint64_t y = 0;
  tbb::task_group group;
  group.run([&x, n] { x = fib_task_group(n - 1); });
  group.run([&y, n] { y = fib_task_group(n - 2); });
  group.wait();
  return x + y;
}

inline std::uint64_t fib_parallel_invoke(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  std::uint64_t x = 0;
  std::uint64_t y = 0;
  tbb::parallel_invoke([&x, n] { x = fib_parallel_invoke(n - 1); },
                       [&y, n] { y = fib_parallel_invoke(n - 2); });
  return x + y;
}
#endif

#ifdef FORAGE_HAVE_OPENMP
inline std::uint64_t fib_omp_task(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  std::uint64_t x = 0;
  std::uint64_t y = 0;
#pragma omp task shared(x) firstprivate(n)
  x = fib_omp_task(n - 1);
#pragma omp task shared(y) firstprivate(n)
  y = fib_omp_task(n - 2);
#pragma omp taskwait
  return x + y;
}
#endif

// --- The runners ------------------------------------------------------------------------------

// forage::join(pool, ...) enters the pool once per fib(n); below that, forage::join(a, b).
// Its stats(): tasks other workers stole (Pool) or ran from the queue (SingleQueuePool), and
// how often workers slept.
template <class System>
class ForageFib : public ForagePoolRunner<System> {
 public:
  static constexpr const char* kSystem = System::kName;
  static constexpr const char* kVariant = "join";

  using ForagePoolRunner<System>::ForagePoolRunner;

  std::uint64_t fib(int n) {
    if (n < 2) return static_cast<std::uint64_t>(n);
    const auto [a, b] = forage::join(
        *this->pool_, [n] { return fib_join(n - 1); }, [n] { return fib_join(n - 2); });
    return a + b;
  }
};

#ifdef FORAGE_HAVE_ONETBB
// fib_task_group or fib_parallel_invoke inside task_arena::execute on a TbbArena.
template <bool kInvoke>
class TbbFib : public TbbArenaRunner {
 public:
  static constexpr const char* kSystem = "onetbb";
  static constexpr const char* kVariant = kInvoke ? "parallel_invoke" : "task_group";

  using TbbArenaRunner::TbbArenaRunner;

  std::uint64_t fib(int n) {
    return arena().execute([n] { return kInvoke ? fib_parallel_invoke(n) : fib_task_group(n); });
  }
};
#endif

#ifdef FORAGE_HAVE_OPENMP
// fib_omp_task under `omp parallel num_threads(workers)` + `omp single`.
class OpenMpFib : public OpenMpTeamRunner {
 public:
  static constexpr const char* kSystem = "openmp";
  static constexpr const char* kVariant = "task";

  using OpenMpTeamRunner::OpenMpTeamRunner;

  std::uint64_t fib(int n) const {
    return single([n] { return fib_omp_task(n); });
  }
};
#endif

// Calls fn(std::type_identity<Runner>{}) for each Fib runner, in table order.
template <class Fn>
void for_each_fib_runner(Fn&& fn) {
  for_each_pool_runner<ForageFib>(fn);
#ifdef FORAGE_HAVE_ONETBB
  fn(std::type_identity<TbbFib<false>>{});
  fn(std::type_identity<TbbFib<true>>{});
#endif
#ifdef FORAGE_HAVE_OPENMP
  fn(std::type_identity<OpenMpFib>{});
#endif
}

}  // namespace forage::bench
