// The futures tour from README.md: every snippet there is a marked region of this file
// (tests check that they match), and this program runs in CI under every build.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <latch>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <forage/forage.hpp>

namespace {

void expect(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "futures_tour: expected %s\n", what);
    std::exit(1);
  }
}

int fetch_price(int item) { return 10 * item; }

}  // namespace

int main() {
  using namespace std::chrono_literals;
  forage::Pool pool({.workers = 2});

  // [submit]
  forage::Future<int> price = pool.submit(fetch_price, 4);  // fn(args...) on the pool
  int value = price.get();  // 40; rethrows the task's exception; takes the result
  // [/submit]
  expect(value == 40, "submit/get to return 40");
  expect(!price.valid(), "get() to take the result");

  // [then]
  forage::Future<std::string> label =
      pool.submit(fetch_price, 2)
          .then([](int p) { return p + 1; })  // runs on the pool
          .then([](int p) { return "price: " + std::to_string(p); });
  // label.get() == "price: 21"; an exception anywhere skips the rest of the chain
  // [/then]
  expect(label.get() == "price: 21", "the then() chain to give 'price: 21'");

  // [then_future]
  forage::Future<int> nested = pool.submit(fetch_price, 1).then([&pool](int p) {
    return pool.submit([p] { return p * 2; });  // a Future<int> returned from then() ...
  });
  int twenty = nested.get();  // ... is unwrapped: 20
  // [/then_future]
  expect(twenty == 20, "the unwrapped continuation to give 20");

  // [when_all]
  std::vector<forage::Future<int>> prices;
  for (int item = 0; item < 8; ++item) prices.push_back(pool.submit(fetch_price, item));
  forage::Future<std::vector<int>> all = forage::when_all(std::move(prices));
  std::vector<int> in_order = all.get();  // {0, 10, ..., 70}; no thread blocked meanwhile

  auto [count, name] = forage::when_all(pool.submit([] { return 3; }), pool.submit([] {
                         return std::string("x");
                       })).get();  // Future<std::tuple<int, std::string>>
  // [/when_all]
  expect(in_order.size() == 8 && in_order[7] == 70, "when_all to keep input order");
  expect(count == 3 && name == "x", "the variadic when_all to give {3, \"x\"}");

  // [when_any]
  std::vector<forage::Future<std::string>> mirrors;
  mirrors.push_back(pool.submit([] { return std::string("eu"); }));
  mirrors.push_back(pool.submit([] { return std::string("us"); }));
  auto [index, reply] = forage::when_any(std::move(mirrors)).get();  // the first one done
  // [/when_any]
  expect(index < 2 && (reply == "eu" || reply == "us"), "when_any to give one of the replies");

  std::latch release(1);
  pool.spawn([&release] { release.wait(); });  // keep both workers busy, so the next
  pool.spawn([&release] { release.wait(); });  // task is certainly still queued
  // [cancel]
  forage::Future<int> slow = pool.submit(fetch_price, 9);
  if (slow.cancel()) {  // only before it starts, like Python's Future.cancel()
    // slow.cancelled() is true; slow.get() throws forage::Cancelled
  }
  bool done = slow.wait_for(10ms);  // true once done (value, exception or cancelled)
  // [/cancel]
  release.count_down();
  expect(done && slow.cancelled(), "the queued task to be cancelled");

  // [on_done]
  forage::Future<int> job = pool.submit(fetch_price, 5);
  std::latch reported(1);
  job.on_done([&reported](forage::Future<int>& finished) {  // like add_done_callback
    std::printf("job finished: %d\n", finished.get());      // runs where the job completes
    reported.count_down();
  });
  reported.wait();
  // [/on_done]

  // [share]
  forage::SharedFuture<int> shared = pool.submit(fetch_price, 6).share();
  forage::Future<int> plus_one = shared.then([](const int& p) { return p + 1; });
  int first = shared.get(), again = shared.get();  // any number of readers: 60, 60
  // [/share]
  expect(first == 60 && again == 60 && plus_one.get() == 61, "the shared future to give 60");

  // [promise]
  forage::Promise<std::string> promise;
  forage::Future<std::string> reply_future = promise.get_future();
  std::thread network([&promise] { promise.set_value("pong"); });  // any thread
  std::string pong = reply_future.get();
  network.join();
  // [/promise]
  expect(pong == "pong", "the promise to deliver 'pong'");

  // [errors]
  try {
    pool.submit([] { return std::stoi("not a number"); }).get();
  } catch (const std::invalid_argument&) {
    // the task's own exception, rethrown by get()
  }
  // [/errors]

  // [help_while_wait]
  // A task that waits for a task it submitted: the waiting worker runs queued tasks (its
  // own first) instead of blocking, so even a 1-worker pool finishes the chain.
  forage::Pool one({.workers = 1});
  std::function<int(int)> depth = [&one, &depth](int n) {
    return n == 0 ? 0 : 1 + one.submit(depth, n - 1).get();
  };
  int levels = one.submit(depth, 1000).get();  // 1000
  // [/help_while_wait]
  expect(levels == 1000, "the chain of waiting tasks to finish");

  // [bulk]
  std::vector<int> items = {1, 2, 3, 4, 5, 6, 7, 8};
  // [executor.submit(fetch_price, x) for x in items]: one admission, one enqueue, one wake-up
  std::vector<forage::Future<int>> quotes = pool.submit_all(items, fetch_price);
  int total = 0;
  for (forage::Future<int>& quote : quotes) total += quote.get();  // in input order: 360
  std::atomic<int> logged{0};
  pool.spawn_all(items, [&logged](int item) { logged += item; });  // fire and forget
  pool.wait_idle();  // waits for the whole batch: logged == 36
  // [/bulk]
  expect(total == 360 && logged == 36, "the batch to give 360 and 36");

  // [shutdown]
  forage::Pool batch({.workers = 2});
  std::vector<forage::Future<int>> pending;
  for (int item = 0; item < 1000; ++item) pending.push_back(batch.submit(fetch_price, item));
  batch.shutdown(forage::Shutdown::cancel_pending);  // not started: cancelled, waiters woken
  for (forage::Future<int>& f : pending) f.wait();   // every one is done: ran or cancelled
  // [/shutdown]
  for (forage::Future<int>& f : pending) expect(f.ready(), "every future to be done");

  std::printf("futures_tour: ok\n");
  return 0;
}
