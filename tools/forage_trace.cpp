// forage-trace: runs one workload on a traced forage::Pool (PoolOptions::trace) and writes
// what every worker did as Chrome trace-event JSON, for ui.perfetto.dev or chrome://tracing.
// tools/forage-bench --trace FILE runs it.
#include <CLI/CLI.hpp>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "forage/algorithm.hpp"
#include "forage/join.hpp"
#include "forage/pool.hpp"
#include "forage/progress_bar.hpp"
#include "forage/trace.hpp"

namespace {

enum class Workload { tree, fib, submit, map };

std::uint64_t fib(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  const auto [a, b] = forage::join([n] { return fib(n - 1); }, [n] { return fib(n - 2); });
  return a + b;
}

// A binary tree of spawned tasks: each node spawns its two children onto its worker's deque,
// so idle workers steal from busy ones all along.
void spawn_tree(forage::Pool& pool, int depth, std::atomic<std::size_t>& nodes) {
  // relaxed: a count read after wait_idle(), which orders every task before the read.
  nodes.fetch_add(1, std::memory_order_relaxed);
  if (depth == 0) return;
  for (int child = 0; child < 2; ++child) {
    pool.spawn([&pool, depth, &nodes] { spawn_tree(pool, depth - 1, nodes); });
  }
}

// Work that grows with the index, so the adaptive split and the steals show.
double skewed_work(std::size_t index) {
  double value = 1.5;
  for (std::size_t i = 0; i < 8 + index / 4096; ++i) value = value / 2 + std::sqrt(value);
  return value;
}

// Runs the workload; returns a line saying what ran, or throws if its result is wrong.
// `progress` (map only): the display its on_progress feeds, if any.
std::string run(forage::Pool& pool, Workload workload, std::size_t size,
                const std::optional<forage::ProgressBar>& progress) {
  switch (workload) {
    case Workload::tree: {
      const int depth = static_cast<int>(size);
      std::atomic<std::size_t> nodes{0};
      pool.spawn([&pool, depth, &nodes] { spawn_tree(pool, depth, nodes); });
      pool.wait_idle();
      // relaxed: after wait_idle(), see spawn_tree.
      if (nodes.load(std::memory_order_relaxed) != (std::size_t{2} << depth) - 1) {
        throw std::runtime_error("tree: wrong node count");
      }
      return "a spawned binary tree of depth " + std::to_string(depth) + " (" +
             std::to_string(nodes.load(std::memory_order_relaxed)) + " tasks)";
    }
    case Workload::fib: {
      const int n = static_cast<int>(size);
      const std::uint64_t result = forage::join(
                                       pool, [n] { return fib(n); }, [] { return 0; })
                                       .first;
      return "fib(" + std::to_string(n) + ") = " + std::to_string(result);
    }
    case Workload::submit: {
      std::vector<forage::Future<std::size_t>> futures;
      futures.reserve(size);
      for (std::size_t i = 0; i < size; ++i) futures.push_back(pool.submit([i] { return i; }));
      std::size_t sum = 0;
      for (auto& future : futures) sum += future.get();
      if (sum != size * (size - 1) / 2) throw std::runtime_error("submit: wrong sum");
      return std::to_string(size) + " submits from outside, then get() of each";
    }
    case Workload::map: {
      std::vector<std::size_t> inputs(size);
      std::iota(inputs.begin(), inputs.end(), std::size_t{0});
      forage::MapOptions options;
      if (progress) options.on_progress = *progress;
      const forage::MapResults<double> out =
          forage::parallel_map(pool, inputs, skewed_work, options);
      if (out.size() != size) throw std::runtime_error("map: wrong size");
      return "parallel_map of " + std::to_string(size) + " items, skewed work, adaptive chunks";
    }
  }
  return "";
}

std::size_t default_size(Workload workload) {
  switch (workload) {
    case Workload::tree:
      return 16;  // 131,071 tasks
    case Workload::fib:
      return 24;  // 75,024 joins
    case Workload::submit:
      return 100'000;
    case Workload::map:
      return 4'000'000;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Runs one workload on a forage::Pool built with PoolOptions::trace and writes a Chrome "
      "trace-event JSON: per worker, spans for task runs, steals and parks, and instants for "
      "wakes. Open it in ui.perfetto.dev or chrome://tracing.",
      "forage-trace"};
  const std::map<std::string, Workload> workloads{{"tree", Workload::tree},
                                                  {"fib", Workload::fib},
                                                  {"submit", Workload::submit},
                                                  {"map", Workload::map}};
  std::string workload_name = "tree";
  std::size_t workers = 2;
  std::size_t size = 0;
  std::string out_path;
  std::string progress = "auto";
  app.add_option("-o,--out", out_path, "the JSON file to write")->required();
  app.add_option("--workload", workload_name,
                 "tree: tasks spawning tasks from inside the pool; fib: forage::join "
                 "recursion; submit: submits from outside then get(); map: parallel_map of "
                 "skewed work")
      ->check(CLI::IsMember({"tree", "fib", "submit", "map"}))
      ->capture_default_str();
  app.add_option("--workers", workers, "pool workers")
      ->check(CLI::Range(std::size_t{1}, forage::Pool::kMaxWorkers))
      ->capture_default_str();
  app.add_option("--size", size,
                 "tree: depth (default 16); fib: n (default 24); submit: tasks (default 100000); "
                 "map: items (default "
                 "4000000)")
      ->check(CLI::PositiveNumber);
  app.add_option("--progress", progress,
                 "map: a progress bar on stderr: auto (when stderr is a terminal), always (a line "
                 "every 10% when it is not), never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const Workload workload = workloads.at(workload_name);
  if (size == 0) size = default_size(workload);
  if ((workload == Workload::fib || workload == Workload::tree) && size > 40) {
    std::fprintf(stderr, "forage-trace: --size %zu: above 40 takes too long for a %s; use <= 40\n",
                 size, workload_name.c_str());
    return 2;
  }

  try {
    std::ofstream out(out_path);
    if (!out) throw std::runtime_error("cannot open '" + out_path + "' for writing");
    forage::Pool pool({.workers = workers, .name = "trace", .trace = true});
    std::optional<forage::ProgressBar> bar;
    if (workload == Workload::map && progress != "never") {
      bar.emplace("forage-trace map");
      if (progress == "auto" && bar->mode() != forage::ProgressBarMode::terminal) bar.reset();
    }
    const std::string what = run(pool, workload, size, bar);
    pool.wait_idle();
    const forage::Trace trace = pool.trace();
    forage::write_chrome_trace(trace, out);
    out.close();
    if (!out) throw std::runtime_error("writing '" + out_path + "' failed");
    std::size_t counts[4] = {};
    for (const forage::TraceEvent& event : trace.events) ++counts[static_cast<int>(event.kind)];
    std::printf(
        "forage-trace: %s on %zu workers: %zu runs, %zu steals, %zu parks, %zu wakes "
        "(%llu dropped) -> %s\n",
        what.c_str(), workers, counts[0], counts[1], counts[2], counts[3],
        static_cast<unsigned long long>(trace.dropped), out_path.c_str());
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "forage-trace: %s\n", error.what());
    return 1;
  }
}
