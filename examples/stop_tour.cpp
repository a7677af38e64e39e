// The stop tour from README.md ("Stopping work"): every snippet there is a marked region of this
// file (tests check that they match), and this program runs in CI under every build. It
// presses its own Ctrl-C (a SIGINT to itself) so that it ends without a terminal.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stop_token>
#include <thread>
#include <vector>

#include <forage/forage.hpp>

namespace {

void expect(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "stop_tour: expected %s\n", what);
    std::exit(1);
  }
}

// An item that takes a while: the maps below would run for seconds if nobody stopped them.
double slow_simulate(double x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return x * 0.5;
}

bool is_answer(long x) { return x == 123'457; }

void ctrl_c(const std::vector<double>& inputs) {
  // [ctrl_c]
  // Block SIGINT before the pool starts its threads: they inherit the mask, so a Ctrl-C
  // waits for the one thread that asks for it with sigwait.
  sigset_t sigint;
  sigemptyset(&sigint);
  sigaddset(&sigint, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigint, nullptr);

  forage::Pool pool;
  std::stop_source interrupt;
  std::thread on_ctrl_c([&] {
    int signal = 0;
    sigwait(&sigint, &signal);  // returns when Ctrl-C is pressed (or below, when done)
    interrupt.request_stop();
  });
  std::size_t computed = inputs.size();
  try {
    auto results =
        forage::parallel_map(pool, inputs, slow_simulate, {.stop = interrupt.get_token()});
  } catch (const forage::Cancelled& stopped) {
    computed = *stopped.items_run();  // the blocks running at the request finished
  }
  pthread_kill(on_ctrl_c.native_handle(), SIGINT);  // no Ctrl-C came: let the waiter go
  on_ctrl_c.join();
  // [/ctrl_c]
  expect(computed < inputs.size(), "the Ctrl-C to stop the map");
}

}  // namespace

int main() {
  const std::vector<double> inputs(20'000, 2.0);  // ~10 s of work on 2 cores

  // A Ctrl-C 50 ms from now, from a thread that inherits the blocked mask once ctrl_c() set
  // it: so it is made inside, after the mask (this thread is its parent).
  std::thread presser;
  {
    sigset_t sigint;
    sigemptyset(&sigint);
    sigaddset(&sigint, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigint, nullptr);
    presser = std::thread([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      kill(getpid(), SIGINT);
    });
  }
  ctrl_c(inputs);
  presser.join();

  forage::Pool pool({.workers = 2});
  {
    // [deadline]
    using namespace std::chrono_literals;
    try {
      auto results = forage::parallel_map(pool, inputs, slow_simulate,
                                          {.deadline = std::chrono::steady_clock::now() + 100ms});
    } catch (const forage::Cancelled& late) {
      std::printf("out of time after %zu items\n", *late.items_run());
    }
    // [/deadline]
  }
  {
    // [search]
    // The first task to find the answer cancels the group: running tasks see it through their
    // token and return, tasks not started are skipped, and wait() says it was cancelled.
    std::atomic<long> answer{-1};
    forage::TaskGroup search(pool);
    for (long first = 0; first < 10'000'000; first += 10'000) {
      search.spawn([&, first](std::stop_token stop) {
        for (long x = first; x < first + 10'000 && !stop.stop_requested(); ++x) {
          if (is_answer(x)) {
            answer.store(x);
            search.cancel();
          }
        }
      });
    }
    try {
      search.wait();
    } catch (const forage::Cancelled&) {
      // the search was cut short: answer holds what stopped it
    }
    // [/search]
    expect(answer.load() == 123'457, "the search to find its answer");
  }
  std::puts("stop_tour: ok");
}
