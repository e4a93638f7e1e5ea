// End-to-end: the CPU profile of real programs under LD_PRELOAD, read with go tool pprof.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <unistd.h>

#include "tests/e2e/support/e2e_support.h"

namespace {

using e2e::RawProfile;

class CpuE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
    dir_ = e2e::make_temp_dir();
  }
  std::string dir_;
};

TEST_F(CpuE2E, ThreeToOneRatioAndTotalMatchesRusage) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_CPU_HZ", "1000"}};
  // Ten rounds of both functions per thread: a neighbour's load that changes over the run
  // falls on both alike.
  e2e::RunResult r = e2e::run({e2e::program("burn_ratio"), "4", "10", "16000000"}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("cpu_ns (\\d+)")));
  double rusage_ns = std::stod(m[1]);
  // The CPU time each function took, measured by the program around every call: 3:1 work is
  // 3:1 CPU time only on a quiet machine, so the profile is held to the measured ratio.
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(burn_three_ns (\d+) burn_one_ns (\d+))")));
  double measured_ratio = std::stod(m[1]) / std::stod(m[2]);

  std::vector<std::string> files = e2e::profiles(dir_, "cpu");
  ASSERT_EQ(files.size(), 1u);
  RawProfile p = e2e::read_raw(files[0]);
  EXPECT_EQ(p.period_type, "cpu nanoseconds");
  EXPECT_EQ(p.period, 1000000);
  ASSERT_EQ(p.sample_types.size(), 2u);
  EXPECT_EQ(p.sample_types[0], "samples/count");
  EXPECT_EQ(p.sample_types[1], "cpu/nanoseconds");
  EXPECT_TRUE(p.has_time);
  EXPECT_TRUE(p.has_duration);

  int cpu = p.sample_index("cpu");
  double three = static_cast<double>(p.cum_containing(cpu, "burn_three"));
  double one = static_cast<double>(p.cum_containing(cpu, "burn_one"));
  ASSERT_GT(one, 0);
  EXPECT_NEAR(three / one, measured_ratio, measured_ratio * 0.05)
      << "burn_three " << three << " burn_one " << one << " in the profile; " << r.out;
  EXPECT_NEAR(measured_ratio, 3.0, 3.0 * 0.25) << "not the program this test is for: " << r.out;
  double total = static_cast<double>(p.total(cpu));
  EXPECT_NEAR(total / rusage_ns, 1.0, 0.10) << "sampled " << total << " rusage " << rusage_ns;

  // Every sample carries the thread labels, except the agent's synthetic self-accounting
  // ones ("[profagent: lost]", "[profagent]"), which must stay rare.
  int64_t synthetic = 0;
  for (const auto& s : p.samples) {
    std::vector<std::string> stack = p.stack_functions(s);
    if (stack.size() == 1 && stack[0].rfind("[profagent", 0) == 0) {
      synthetic += s.values[cpu];
      continue;
    }
    EXPECT_EQ(s.labels.count("tid"), 1u);
    EXPECT_EQ(s.labels.count("thread_name"), 1u);
  }
  EXPECT_LT(synthetic, total / 50) << "lost or in-agent samples";
  // Symbolized by the agent (pprof did not symbolize: -symbolize=none) and flagged so.
  ASSERT_FALSE(p.mappings.empty());
  EXPECT_NE(p.mappings[0].file.find("burn_ratio"), std::string::npos);
  EXPECT_NE(p.mappings[0].flags.find("[FN]"), std::string::npos);
  EXPECT_FALSE(p.mappings[0].build_id.empty());
  // The agent's own frames never show.
  for (const auto& s : p.samples)
    for (const std::string& f : p.stack_functions(s))
      EXPECT_EQ(f.find("profagent::"), std::string::npos) << f;

  std::string top = e2e::pprof({"-top", "-symbolize=none", files[0]});
  EXPECT_NE(top.find("burn_three"), std::string::npos) << top;
}

// Whether a location lies in the dynamic loader (ld-linux-x86-64.so.2).
bool in_dynamic_loader(const e2e::RawProfile& p, uint64_t location_id) {
  auto location = p.locations.find(location_id);
  if (location == p.locations.end()) return false;
  for (const e2e::RawMapping& m : p.mappings)
    if (m.id == location->second.mapping_id)
      return m.file.find("/ld-linux") != std::string::npos;
  return false;
}

// The unwind tables are built by the dump thread 2 ms after start, or when a sample wakes it;
// without a symbol cache python3's take several ms more (tens on a loaded machine). At
// 1000 Hz its interpreter's start is sampled before them in most runs: such a sample is
// walked with rules read from python3's own .eh_frame (fde_lookup.h) and keeps its whole
// stack. The profile's comment counts those walks. Up to 5 runs, until one has such a walk.
TEST_F(CpuE2E, SamplesBeforeTheFirstUnwindTablesKeepTheirWholeStack) {
  int runs_with_early_walks = 0;
  for (int run = 0; run < 5 && runs_with_early_walks == 0; ++run) {
    std::string dir = dir_ + "/run" + std::to_string(run);
    e2e::RunOptions options;
    // LD_BIND_NOW: no lazy binding, whose resolver (_dl_runtime_resolve_xsavec) defines its
    // CFA from rbx, a rule no walk of ours follows (the table walk stops there too).
    options.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_CPU_HZ", "1000"},
                   {"PROFAGENT_SYMBOL_CACHE", "off"}, {"PROFAGENT_HEAP_RATE", "0"},
                   {"PROFAGENT_THREADS", "0"}, {"LD_BIND_NOW", "1"}};
    e2e::RunResult r = e2e::run(
        {"/usr/bin/python3", "-c", "def f(n): return n if n < 2 else f(n-1) + f(n-2)\nf(30)"},
        options);
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    std::vector<std::string> files = e2e::profiles(dir, "cpu");
    ASSERT_EQ(files.size(), 1u);
    e2e::RawProfile p = e2e::read_raw(files[0]);
    long early_walks = p.walks_before_first_tables();
    ASSERT_GE(early_walks, 0) << "no unwinding comment";
    int cpu = p.sample_index("cpu");
    int64_t total = p.total(cpu), short_stacks = 0;
    for (const auto& s : p.samples) {
      std::vector<std::string> stack = p.stack_functions(s);
      ASSERT_FALSE(stack.empty());
      EXPECT_NE(stack[0], "[profagent: lost]") << "a sample before the tables was lost";
      if (stack[0].rfind("[profagent", 0) == 0) continue;
      EXPECT_EQ(s.labels.count("tid"), 1u) << stack[0];
      // Every stack (python3 runs one thread) goes down to the program's entry, _start, but
      // for those cut at the 64 frames a sample keeps (the parser's recursion), and those
      // of the initializers: _dl_init, called from the dynamic loader's own entry
      // (_dl_start_user, an unnamed label in ld.so) before the program's.
      bool initializer = stack.size() >= 2 && stack[stack.size() - 2] == "_dl_init" &&
                         in_dynamic_loader(p, s.location_ids.back());
      if (stack.back() != "_start" && !initializer && s.location_ids.size() < 64) {
        short_stacks += s.values[cpu];
        ADD_FAILURE() << "a stack that misses its callers, from " << stack[0] << " to "
                      << stack.back();
      }
    }
    EXPECT_GT(total, 0);
    EXPECT_EQ(short_stacks, 0) << "samples that miss their callers, of " << total << " ns";
    runs_with_early_walks += early_walks > 0;
  }
  EXPECT_EQ(runs_with_early_walks, 1) << "no run sampled python3 before its unwind tables";
}

TEST_F(CpuE2E, CppNamesAreDemangledWithFileAndLine) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_CPU_HZ", "500"}};
  e2e::RunResult r = e2e::run({e2e::program("cpp_demo"), "40000"}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  std::vector<std::string> files = e2e::profiles(dir_, "cpu");
  ASSERT_EQ(files.size(), 1u);
  RawProfile p = e2e::read_raw(files[0]);
  int cpu = p.sample_index("cpu");
  int64_t total = p.total(cpu);
  ASSERT_GT(total, 0);
  int64_t churn = p.cum_containing(cpu, "demo::Accumulator<double>::churn(");
  EXPECT_GT(churn, total * 8 / 10);
  bool found_line = false;
  for (const auto& [id, loc] : p.locations)
    for (const auto& line : loc.lines)
      if (line.function.find("demo::Accumulator<double>::churn") != std::string::npos &&
          line.file.find("cpp_demo.cc") != std::string::npos && line.line > 0) {
        found_line = true;
        EXPECT_EQ(line.system_name.rfind("_ZN4demo11AccumulatorIdE5churn", 0), 0u)
            << line.system_name;
      }
  EXPECT_TRUE(found_line);
  EXPECT_GT(p.cum_containing(cpu, "demo::run_doubles(int)"), total * 8 / 10);
  EXPECT_GT(p.cum_containing(cpu, "main"), total * 8 / 10);
}

TEST_F(CpuE2E, PythonInterpreterLoopDominatesByName) {
  const char* python = "/usr/bin/python3";
  if (access(python, X_OK) != 0) GTEST_FAIL() << "Debian's python3 is required";
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_CPU_HZ", "500"}};
  e2e::RunResult r = e2e::run(
      {python, "-c",
       "def fib(n):\n  return n if n < 2 else fib(n-1) + fib(n-2)\nprint(fib(27))\n"},
      options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, "196418\n");
  std::vector<std::string> files = e2e::profiles(dir_, "cpu");
  ASSERT_EQ(files.size(), 1u);
  RawProfile p = e2e::read_raw(files[0]);
  int cpu = p.sample_index("cpu");
  int64_t total = p.total(cpu);
  ASSERT_GT(total, 0);
  EXPECT_GT(p.cum_containing(cpu, "_PyEval_EvalFrameDefault"), total / 2);
  std::string top = e2e::pprof({"-top", "-symbolize=none", files[0]});
  EXPECT_NE(top.find("_PyEval_EvalFrameDefault"), std::string::npos) << top;
}

TEST_F(CpuE2E, CpuOffWritesNoCpuFile) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_CPU_HZ", "0"}};
  e2e::RunResult r = e2e::run({e2e::program("burn_ratio"), "1", "1"}, options);
  ASSERT_EQ(r.exit_code(), 0);
  EXPECT_TRUE(e2e::profiles(dir_, "cpu").empty());
}

}  // namespace
