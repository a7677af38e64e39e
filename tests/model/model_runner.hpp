// Running a Relacy model (relacy_atomics.hpp gives the policies) from a GoogleTest test:
// run_model<Test>(random_scheduler(n)) or run_model<Test>(context_bound_scheduler(k)) keeps
// Relacy's report in a string; expect_passes and expect_mutant_caught turn a run into the test's
// verdict, printing the report only when the outcome is not the expected one.
//
// Include this only in a model-check executable (see relacy_atomics.hpp).
#pragma once

#include <cstddef>
#include <iostream>
#include <ostream>
#include <sstream>
#include <streambuf>
#include <string>

#include <gtest/gtest.h>

#include "model/relacy_atomics.hpp"

namespace forage::model {

// Relacy writes its report while its allocator is active: anything the stream allocates then
// is taken for the test's own memory (and freeing the stream's old buffer for a bad free).
// So the log is a fixed buffer, allocated before the run, that drops what does not fit.
class BoundedLog : public std::streambuf {
 public:
  explicit BoundedLog(std::size_t capacity) : buffer_(capacity, '\0') {
    setp(buffer_.data(), buffer_.data() + buffer_.size());
  }
  std::string text() const {
    std::string out(pbase(), pptr());
    if (truncated_) out += "\n[... log truncated ...]\n";
    return out;
  }

 protected:
  int_type overflow(int_type ch) override {
    truncated_ = true;
    return traits_type::not_eof(ch);
  }

 private:
  std::string buffer_;
  bool truncated_ = false;
};

// What one rl::simulate call found. `log` holds Relacy's report (and, for a failure, the
// execution history of the failing iteration); print it only when the outcome is unexpected.
struct ModelRun {
  bool passed;                 // no iteration failed
  rl::test_result_e result;    // the failure found, or test_result_success
  rl::iteration_t iterations;  // iterations run (for a failure: the failing iteration)
  std::string log;

  std::string summary() const {
    std::ostringstream out;
    out << (passed ? "passed" : rl::test_result_str(result)) << " after " << iterations
        << " iterations";
    return out.str();
  }
};

// Runs Test (an rl::test_suite expecting success) with the given scheduler settings, keeping
// Relacy's output out of the test log.
template <class Test>
ModelRun run_model(rl::test_params params) {
  BoundedLog buffer(std::size_t{1} << 20);
  std::ostream log(&buffer);
  params.output_stream = &log;
  params.progress_stream = &log;
  const bool passed = rl::simulate<Test>(params);
  return {passed, params.test_result, params.stop_iteration, buffer.text()};
}

inline rl::test_params random_scheduler(rl::iteration_t iterations) {
  rl::test_params params;
  params.search_type = rl::sched_random;
  params.iteration_count = iterations;
  return params;
}

// The context-bound scheduler explores every interleaving with at most `bound` preemptions
// (switches away from a thread that could go on; blocking does not count), until the search
// tree is exhausted: Relacy ignores iteration_count for it.
inline rl::test_params context_bound_scheduler(unsigned bound) {
  rl::test_params params;
  params.search_type = rl::sched_bound;
  params.context_bound = bound;
  return params;
}

// The shipped protocol: no explored execution may fail.
template <class Test>
void expect_passes(const rl::test_params& params) {
  const ModelRun run = run_model<Test>(params);
  std::cout << "[ model    ] " << run.summary() << '\n';
  EXPECT_TRUE(run.passed) << run.summary() << '\n' << run.log;
}

// A mutant: some explored execution must fail, and with `failure` (not, say, by crashing the
// checker or leaking), which shows the check is able to fail and that the removed fence is
// needed.
template <class Test>
void expect_mutant_caught(const rl::test_params& params, rl::test_result_e failure) {
  const ModelRun run = run_model<Test>(params);
  std::cout << "[ mutant   ] caught: " << run.summary() << '\n';
  EXPECT_FALSE(run.passed) << "the mutant was not caught: " << run.summary();
  EXPECT_EQ(run.result, failure) << run.log;
}

}  // namespace forage::model
