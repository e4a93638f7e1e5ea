// End-to-end: the block and mutex profiles of programs that measure their own waits, read
// with go tool pprof. Delays are compared with what the program measured in the same run
// (ratios, never absolute times).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <sstream>

#include "tests/e2e/support/e2e_support.h"

namespace {

using e2e::RawProfile;

class LocksE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
    dir_ = e2e::make_temp_dir();
  }
  // Runs a program with both profiles recording every event; returns the figures it printed
  // ("<name> <N>" lines: measured_wait_ns first, then e.g. measured_until_unlock_ns).
  std::map<std::string, int64_t> run(const std::string& program, const std::string& mode) {
    e2e::RunOptions o;
    o.env = {{"PROFAGENT_DIR", dir_},           {"PROFAGENT_MUTEX_FRACTION", "1"},
             {"PROFAGENT_BLOCK_RATE", "1"},     {"PROFAGENT_CPU_HZ", "0"},
             {"PROFAGENT_HEAP_RATE", "0"},      {"PROFAGENT_THREADS", "0"}};
    o.timeout_seconds = 60;
    e2e::RunResult r = e2e::run({e2e::program(program), mode}, o);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.err, "");
    std::istringstream in(r.out);
    std::string key;
    int64_t value = 0;
    std::map<std::string, int64_t> figures;
    while (in >> key >> value) figures[key] = value;
    EXPECT_EQ(r.out.rfind("measured_wait_ns ", 0), 0u) << r.out;
    EXPECT_GT(figures["measured_wait_ns"], 0) << r.out;
    return figures;
  }
  RawProfile only(const std::string& kind) {
    std::vector<std::string> files = e2e::profiles(dir_, kind);
    EXPECT_EQ(files.size(), 1u) << kind;
    if (files.empty()) return {};
    return e2e::read_raw(files.back());
  }
  std::string dir_;
};

void expect_contention_shape(const RawProfile& p) {
  EXPECT_EQ(p.period_type, "contentions count");
  EXPECT_EQ(p.period, 1);
  ASSERT_EQ(p.sample_types.size(), 2u);
  EXPECT_EQ(p.sample_types[0].substr(0, 18), "contentions/count");
  EXPECT_EQ(p.sample_types[1].substr(0, 17), "delay/nanoseconds");
  EXPECT_TRUE(p.has_time);
  EXPECT_FALSE(p.has_duration);
  EXPECT_FALSE(p.samples.empty());
  for (const auto& s : p.samples) {
    // Buckets are per thread name; the tid is kept only where one thread recorded there
    // (the workers here share one name and one stack, so theirs has none).
    EXPECT_LE(s.labels.count("tid"), 1u);
    EXPECT_EQ(s.labels.count("thread_name"), 1u);
    EXPECT_GE(s.values[0], 1);
    for (const std::string& f : p.stack_functions(s)) {
      EXPECT_EQ(f.find("profagent"), std::string::npos) << f;
      EXPECT_EQ(f.find("acquire_slow"), std::string::npos) << f;
    }
  }
}

// |actual/expected - 1| <= tolerance, with the numbers in the failure message.
void expect_ratio(int64_t actual, int64_t expected, double tolerance, const char* what) {
  double ratio = static_cast<double>(actual) / static_cast<double>(expected);
  EXPECT_LE(std::fabs(ratio - 1.0), tolerance)
      << what << ": profile " << actual << " ns vs measured " << expected << " ns (ratio "
      << ratio << ")";
}

// The mutex profile charges an unlocker with its waiters' wait up to that unlock; the wake-up
// latency after it is nobody's (as in Go). The programs measure that same quantity
// (measured_until_unlock_ns), so the comparison does not depend on how long a woken waiter
// waits for a CPU on a loaded machine.
TEST_F(LocksE2E, ContendedMutexBlockAndMutexDelaysMatchTheProgramsOwnMeasure) {
  std::map<std::string, int64_t> figures = run("lock_contention", "mutex");
  int64_t measured = figures["measured_wait_ns"];
  ASSERT_GT(figures["measured_until_unlock_ns"], 0);
  RawProfile block = only("block");
  RawProfile mutex = only("mutex");
  expect_contention_shape(block);
  expect_contention_shape(mutex);
  int delay = block.sample_index("delay");
  ASSERT_EQ(delay, 1);
  // The waiting thread's stack, at the function that locked.
  expect_ratio(block.cum_containing(1, "contend_lock"), measured, 0.20, "block delay");
  EXPECT_GT(block.cum_containing(0, "contend_lock"), 10);
  // The unlocking thread's stack, charged with the wait of every waiter it kept waiting.
  expect_ratio(mutex.cum_containing(1, "release_lock"), figures["measured_until_unlock_ns"],
               0.15, "mutex delay");
  EXPECT_EQ(mutex.cum_containing(1, "contend_lock"), 0);
  EXPECT_GT(mutex.cum_containing(0, "release_lock"), 10);
}

TEST_F(LocksE2E, ConditionVariableWaitsCountWhole) {
  std::map<std::string, int64_t> figures = run("lock_contention", "cond");
  RawProfile block = only("block");
  expect_contention_shape(block);
  expect_ratio(block.cum_containing(1, "wait_for_signal"), figures["measured_wait_ns"], 0.20,
               "cond block delay");
  // Every pthread_cond_wait call the program made is one event: at most 4 waiters x 30 ticks,
  // fewer when a waiter is descheduled across two ticks (it then waits once for both).
  ASSERT_GT(figures["cond_waits"], 30);
  EXPECT_EQ(block.cum_containing(0, "wait_for_signal"), figures["cond_waits"]);
}

TEST_F(LocksE2E, StdMutexGivesTheSamePicture) {
  std::map<std::string, int64_t> figures = run("lock_contention_cpp", "mutex");
  RawProfile block = only("block");
  RawProfile mutex = only("mutex");
  expect_contention_shape(block);
  expect_contention_shape(mutex);
  expect_ratio(block.cum_containing(1, "contend_lock"), figures["measured_wait_ns"], 0.20,
               "block delay");
  expect_ratio(mutex.cum_containing(1, "release_lock"), figures["measured_until_unlock_ns"],
               0.15, "mutex delay");
}

TEST_F(LocksE2E, StdSharedMutexGivesTheSamePicture) {
  std::map<std::string, int64_t> figures = run("lock_contention_cpp", "shared");
  RawProfile block = only("block");
  RawProfile mutex = only("mutex");
  expect_contention_shape(block);
  expect_contention_shape(mutex);
  // contend_lock and contend_lock_shared; release_lock and release_lock_shared.
  expect_ratio(block.cum_containing(1, "contend_lock"), figures["measured_wait_ns"], 0.20,
               "block delay");
  EXPECT_GT(block.cum_containing(1, "contend_lock_shared"), 0);
  expect_ratio(mutex.cum_containing(1, "release_lock"), figures["measured_until_unlock_ns"],
               0.15, "mutex delay");
}

TEST_F(LocksE2E, ReturnCodesAndErrnoPassThroughUnchanged) {
  e2e::RunOptions plain;
  plain.preload = false;
  e2e::RunResult without = e2e::run({e2e::program("lock_semantics")}, plain);
  ASSERT_EQ(without.exit_code(), 0);
  e2e::RunOptions o;
  o.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_MUTEX_FRACTION", "1"},
           {"PROFAGENT_BLOCK_RATE", "1"}};
  e2e::RunResult with = e2e::run({e2e::program("lock_semantics")}, o);
  EXPECT_EQ(with.exit_code(), 0);
  EXPECT_EQ(with.err, "");
  EXPECT_EQ(with.out, without.out);
  // The cases exercised what they claim (a few spot checks of glibc's own answers).
  EXPECT_NE(without.out.find("mutex_timedlock_busy 110 "), std::string::npos) << without.out;
  EXPECT_NE(without.out.find("errorcheck_relock 35 "), std::string::npos);
  EXPECT_NE(without.out.find("robust_owner_died 130 "), std::string::npos);
  EXPECT_NE(without.out.find("sem_timedwait_timeout -1 110"), std::string::npos);
  // The contended waits were recorded.
  e2e::RawProfile block = only("block");
  EXPECT_GT(block.cum_containing(1, "main"), 0);
}

TEST_F(LocksE2E, OffByDefaultWritesNoFiles) {
  e2e::RunOptions o;
  o.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_THREADS", "0"}};
  e2e::RunResult r = e2e::run({e2e::program("lock_contention"), "mutex"}, o);
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_TRUE(e2e::profiles(dir_, "block").empty());
  EXPECT_TRUE(e2e::profiles(dir_, "mutex").empty());
}

}  // namespace
