// Builds against an installed (or vendored) forage; exits 0 when the library's version is the
// headers', a pool ran every task and the futures layer (templates in the installed headers,
// waiting in the installed library) works.
#include <atomic>
#include <cstdio>
#include <utility>
#include <vector>

#include <forage/forage.hpp>

int main() {
  std::atomic<int> ran{0};
  long sum = 0;
  {
    forage::Pool pool({.workers = 2, .name = "consumer"});
    for (int i = 0; i < 1000; ++i) {
      // relaxed: read after wait_idle(), which synchronizes with every finished task.
      pool.spawn([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
    }
    pool.wait_idle();
    std::vector<forage::Future<long>> squares;
    for (long i = 0; i < 100; ++i) {
      squares.push_back(pool.submit([](long x) { return x * x; }, i));
    }
    for (long square : forage::when_all(std::move(squares))
                           .then([](std::vector<long> all) { return all; })
                           .get()) {
      sum += square;
    }
  }
  std::printf("consumer of forage %s: %d tasks ran, sum of squares %ld\n", forage::version_string(),
              ran.load(std::memory_order_relaxed), sum);
  if (forage::version() != forage::kHeaderVersion) return 2;
  return ran.load(std::memory_order_relaxed) == 1000 && sum == 328350 ? 0 : 1;
}
