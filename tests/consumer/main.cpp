// Builds against an installed forage; exits 0 when a pool ran every task.
#include <atomic>
#include <cstdio>

#include <forage/forage.hpp>

int main() {
  std::atomic<int> ran{0};
  {
    forage::Pool pool({.workers = 2, .name = "consumer"});
    for (int i = 0; i < 1000; ++i) {
      pool.spawn([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
    }
    pool.wait_idle();
  }
  std::printf("consumer: %d tasks ran\n", ran.load(std::memory_order_relaxed));
  return ran.load(std::memory_order_relaxed) == 1000 ? 0 : 1;
}
