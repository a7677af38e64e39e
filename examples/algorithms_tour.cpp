// The fork-join, algorithms and tracing tour from README.md: every snippet there is a marked region
// of this file (tests check that they match), and this program runs in CI under every build.
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <forage/forage.hpp>

namespace {

void expect(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "algorithms_tour: expected %s\n", what);
    std::exit(1);
  }
}

// [join]
long fib(int n) {
  if (n < 2) return n;
  // fib(n - 2) is offered to idle workers; if nobody took it when fib(n - 1) is done, this
  // worker runs it too. No allocation: the task lives on this frame.
  auto [a, b] = forage::join([n] { return fib(n - 1); }, [n] { return fib(n - 2); });
  return a + b;
}
// [/join]

double simulate(double x) { return std::sqrt(x) * 0.5; }

// An input range read one item at a time, of unknown length (a generator).
struct Lines {
  struct iterator {
    using value_type = std::string;
    using difference_type = std::ptrdiff_t;
    int line = 0;
    std::string operator*() const { return "line " + std::to_string(line); }
    iterator& operator++() {
      ++line;
      return *this;
    }
    void operator++(int) { ++line; }
    bool operator==(std::default_sentinel_t) const { return line == 1000; }
  };
  iterator begin() const { return {}; }
  std::default_sentinel_t end() const { return {}; }
};

}  // namespace

int main() {
  forage::Pool pool({.workers = 2});

  {
    // [join_pool]
    auto [left, right] = forage::join(
        pool, [] { return fib(25); }, [] { return fib(24); });
    // from outside a pool, join(pool, a, b) runs the join on one of its workers
    // [/join_pool]
    expect(left == 75025 && right == 46368, "join(pool, ...) to compute fib(25) and fib(24)");
  }

  {
    std::vector<std::string> parts(16, "part");
    // [task_group]
    std::atomic<std::size_t> bytes{0};
    forage::TaskGroup group(pool);
    for (const std::string& part : parts) {
      group.spawn([&bytes, &part] { bytes += part.size(); });
    }
    group.wait();  // helps run them; rethrows the first exception; the destructor waits too
    // [/task_group]
    expect(bytes == 64, "the task group to see every part");
  }

  {
    // [parallel_map]
    std::vector<double> inputs(1'000'000, 2.0);
    forage::MapResults<double> outputs = forage::parallel_map(pool, inputs, simulate);  // in order
    // [/parallel_map]
    expect(outputs.size() == inputs.size() && outputs.back() == simulate(2.0),
           "parallel_map to keep the order");

    // [to_std_vector]
    // For an API that takes const std::vector<double>&: one serial move of every element
    // (for doubles, a copy of the 8 MB, on this thread).
    std::vector<double> plain(std::make_move_iterator(outputs.begin()),
                              std::make_move_iterator(outputs.end()));
    // [/to_std_vector]
    expect(plain == outputs, "the std::vector to hold the same results");

    // [chunking]
    // Chunking::adaptive() is the default: split while idle workers are hungry.
    auto fixed =
        forage::parallel_map(pool, inputs, simulate, {.chunking = forage::Chunking::fixed(4096)});
    std::size_t last_done = 0;
    auto python = forage::parallel_map(
        pool, inputs, simulate,
        {.chunking = forage::Chunking::python(),  // Pool.map's chunksize rule
         .on_progress = [&last_done](std::size_t done, std::size_t total) {
           last_done = done;  // about every 1%, never concurrently, ends at (total, total)
           (void)total;
         }});
    // [/chunking]
    expect(fixed == outputs && python == outputs, "every chunking to give the same result");
    expect(last_done == inputs.size(), "the last progress call to report every item");

    // [progress_bar]
    // On a terminal: one line redrawn at most 10 times a second, with a bar, the percentage,
    // items/s and the time left. Piped or in a file: a line at 10%, 20%, ... 100%.
    forage::ProgressBar bar("simulate");  // to stderr; ProgressBarOptions for another stream
    auto shown = forage::parallel_map(pool, inputs, simulate, {.on_progress = bar});
    // [/progress_bar]
    expect(shown == outputs && bar.finished(), "the progress bar to end with the run");
  }

  {
    // [map_into]
    // Time steps that reuse two buffers: each step writes next[i] = step(state[i]).
    std::vector<double> state(100'000, 1.0);
    std::vector<double> next(state.size());
    for (int step = 0; step < 20; ++step) {
      forage::parallel_map_into(pool, state, next, [](double x) { return x * 0.5 + 1.0; });
      std::swap(state, next);
    }
    // Or into part of a larger buffer, through a std::span of as many elements as inputs.
    std::vector<double> all(2 * state.size());
    forage::parallel_map_into(pool, state, std::span(all).last(state.size()), simulate);
    // [/map_into]
    expect(std::abs(state.front() - 2.0) < 1e-5 && all.back() == simulate(state.back()),
           "parallel_map_into to write each step's results");
  }

  {
    std::vector<int> counts(1000, 0);
    // [for_reduce]
    forage::parallel_for(pool, 0, 1000, [&counts](int i) { counts[i] = i % 7; });
    long total = forage::parallel_reduce(
        pool, 0, 1000, 0L,                             // range and identity
        [&counts](int i) { return long{counts[i]}; },  // map each index
        [](long a, long b) { return a + b; });         // combine, in index order
    // [/for_reduce]
    long expected = 0;
    for (int i = 0; i < 1000; ++i) expected += i % 7;
    expect(total == expected, "parallel_reduce to sum what parallel_for wrote");
  }

  {
    // [map_async]
    forage::Future<forage::MapResults<int>> lengths =
        forage::map_async(pool, std::vector<std::string>{"a", "bb", "ccc"},
                          [](const std::string& s) { return static_cast<int>(s.size()); });
    forage::MapResults<int> got = lengths.get();  // {1, 2, 3}; the input was moved in
    // [/map_async]
    expect(got == std::vector<int>({1, 2, 3}), "map_async to give {1, 2, 3}");
  }

  {
    std::size_t seen = 0;
    // [imap]
    // Results in order while the work runs; the input is read lazily and at most
    // max_in_flight results wait for this loop, however long the input is.
    for (std::size_t& length :
         forage::imap(pool, Lines{}, [](const std::string& line) { return line.size(); },
                      {.max_in_flight = 64})) {
      seen += length > 0 ? 1 : 0;
    }
    // [/imap]
    expect(seen == 1000, "imap to yield every line");

    std::vector<bool> arrived(1000, false);
    // [imap_unordered]
    for (auto& [index, length] : forage::imap_unordered(
             pool, Lines{}, [](const std::string& line) { return line.size(); })) {
      arrived[index] = length > 0;  // {index, result} as items finish
    }
    // [/imap_unordered]
    for (bool item : arrived) expect(item, "imap_unordered to yield every index");
  }

  {
    std::vector<int> inputs(100'000, 1);
    inputs[777] = -1;
    // [errors]
    try {
      forage::parallel_map(pool, inputs, [](int x) {
        if (x < 0) throw std::domain_error("negative input");
        return x * 2;
      });
    } catch (const forage::ItemError& error) {
      // error.index() == 777; items not yet started were skipped
      try {
        error.rethrow_original();
      } catch (const std::domain_error&) {
        // the exception the function threw
      }
    }
    // [/errors]
    bool caught = false;
    try {
      forage::parallel_map(pool, inputs, [](int x) {
        if (x < 0) throw std::domain_error("negative input");
        return x;
      });
    } catch (const forage::ItemError& error) {
      caught = error.index() == 777;
    }
    expect(caught, "ItemError to carry the failing index");
  }

  {
    // [nested]
    // Inside a task, an algorithm helps run the pool's work while it waits: nesting never
    // deadlocks, even on one worker.
    forage::Pool one({.workers = 1});
    auto rows = forage::parallel_map(one, std::vector<int>{1, 2, 3}, [&one](int row) {
      auto cells = forage::parallel_map(one, std::vector<int>{1, 2, 3},
                                        [row](int column) { return row * column; });
      return cells[0] + cells[1] + cells[2];
    });
    // rows == {6, 12, 18}
    // [/nested]
    expect(rows == std::vector<int>({6, 12, 18}), "nested parallel_map to give {6, 12, 18}");
  }

  {
    // [single_queue]
    // The same algorithms on the single-queue baseline: chunks go to its one queue, as in
    // Python's Pool.map.
    forage::SingleQueuePool baseline(2, forage::QueueKind::locked);
    auto doubled =
        forage::parallel_map(baseline, std::vector<int>{1, 2, 3}, [](int x) { return 2 * x; });
    // [/single_queue]
    expect(doubled == std::vector<int>({2, 4, 6}), "the single queue to give {2, 4, 6}");
  }

  {
    std::ostringstream out;  // README writes to a file: std::ofstream out("trace.json");
    // [trace]
    forage::Pool traced({.workers = 2, .trace = true});
    forage::parallel_for(traced, 0, 100'000, [](int) {});
    forage::write_chrome_trace(traced.trace(), out);  // open it in ui.perfetto.dev
    // [/trace]
    expect(out.str().find("\"traceEvents\"") != std::string::npos, "a Chrome trace");
  }

  std::puts("algorithms_tour: ok");
  return 0;
}
