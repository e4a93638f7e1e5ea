// End-to-end: the heap profile of real programs under LD_PRELOAD, read with go tool pprof.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <regex>
#include <string>

#include "tests/e2e/support/e2e_support.h"

namespace {

using e2e::RawProfile;

constexpr int64_t kMiB = 1 << 20;

class HeapE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
    dir_ = e2e::make_temp_dir();
  }
  e2e::RunOptions options(const std::string& rate) {
    e2e::RunOptions o;
    o.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_HEAP_RATE", rate}, {"PROFAGENT_CPU_HZ", "0"},
             {"PROFAGENT_THREADS", "0"}};
    o.timeout_seconds = 60;
    return o;
  }
  // The only heap profile of the run (the exit dump).
  RawProfile only_heap_profile() {
    std::vector<std::string> files = e2e::profiles(dir_, "heap");
    EXPECT_EQ(files.size(), 1u);
    if (files.empty()) return {};
    return e2e::read_raw(files.back());
  }
  std::string dir_;
};

void expect_heap_shape(const RawProfile& p, int64_t rate) {
  EXPECT_EQ(p.period_type, "space bytes");
  EXPECT_EQ(p.period, rate);
  ASSERT_EQ(p.sample_types.size(), 4u);
  EXPECT_EQ(p.sample_types[0].substr(0, 19), "alloc_objects/count");
  EXPECT_EQ(p.sample_types[1].substr(0, 17), "alloc_space/bytes");
  EXPECT_EQ(p.sample_types[2].substr(0, 19), "inuse_objects/count");
  EXPECT_EQ(p.sample_types[3].substr(0, 17), "inuse_space/bytes");
  EXPECT_TRUE(p.has_time);
  EXPECT_FALSE(p.has_duration);
  for (const auto& s : p.samples) {
    EXPECT_EQ(s.labels.count("tid"), 1u);
    EXPECT_EQ(s.labels.count("thread_name"), 1u);
    EXPECT_EQ(s.labels.count("bytes"), 1u);
    for (const std::string& f : p.stack_functions(s)) {
      EXPECT_EQ(f.find("profagent::"), std::string::npos) << f;
      EXPECT_NE(f, "malloc");
      EXPECT_NE(f, "free");
    }
  }
}

TEST_F(HeapE2E, SitesMatchWhatTheProgramKeeps) {
  // 16 KiB: a 12 MiB site of small objects then gets ~770 samples (standard error ~4%), so
  // 15% is a 4-sigma bound. At the default rate the same check needs ~30x the memory.
  constexpr int64_t kRate = 16384;
  e2e::RunResult r = e2e::run({e2e::program("heap_sites")}, options(std::to_string(kRate)));
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  EXPECT_EQ(r.err, "");
  RawProfile p = only_heap_profile();
  expect_heap_shape(p, kRate);
  int alloc_space = p.sample_index("alloc_space");
  int inuse_space = p.sample_index("inuse_space");
  int inuse_objects = p.sample_index("inuse_objects");
  struct Site {
    const char* function;
    int64_t kept;
  } sites[] = {
      {"keep_small_blocks", 12 * kMiB}, {"keep_large_blocks", 12 * kMiB},
      {"keep_calloc_blocks", 12 * kMiB}, {"keep_aligned_blocks", 12 * kMiB},
      {"grow_by_realloc", 16 * kMiB},
  };
  for (const Site& s : sites) {
    double got = static_cast<double>(p.cum_containing(inuse_space, s.function));
    EXPECT_NEAR(got / static_cast<double>(s.kept), 1.0, 0.15) << s.function << " " << got;
  }
  // The churn site: alloc_space near its true total, nothing in use (every sampled object's
  // free was matched, so this is exact whatever the sampling).
  double churned = static_cast<double>(p.cum_containing(alloc_space, "churn_malloc_free"));
  EXPECT_NEAR(churned / 200000000.0, 1.0, 0.10) << churned;
  EXPECT_EQ(p.cum_containing(inuse_space, "churn_malloc_free"), 0);
  EXPECT_EQ(p.cum_containing(inuse_objects, "churn_malloc_free"), 0);
  // The growing realloc: every step counts as an allocation, only the last one is in use.
  double grown = static_cast<double>(p.cum_containing(alloc_space, "grow_by_realloc"));
  EXPECT_GT(grown, 1.5 * 16 * kMiB);
  // Labels: the raw object size of a site.
  bool saw_small_label = false;
  for (const auto& s : p.samples) {
    auto fns = p.stack_functions(s);
    if (!fns.empty() && fns[0] == "keep_small_blocks") {
      ASSERT_EQ(s.labels.count("bytes"), 1u);
      saw_small_label = s.labels.at("bytes")[0].find("256") != std::string::npos;
    }
  }
  EXPECT_TRUE(saw_small_label);
}

TEST_F(HeapE2E, RateOneIsExact) {
  e2e::RunResult r = e2e::run({e2e::program("heap_sites")}, options("1"));
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  RawProfile p = only_heap_profile();
  expect_heap_shape(p, 1);
  int alloc_objects = p.sample_index("alloc_objects");
  int inuse_space = p.sample_index("inuse_space");
  EXPECT_EQ(p.cum_containing(inuse_space, "keep_small_blocks"), 12 * kMiB);
  EXPECT_EQ(p.cum_containing(inuse_space, "keep_large_blocks"), 12 * kMiB);
  EXPECT_EQ(p.cum_containing(inuse_space, "keep_calloc_blocks"), 12 * kMiB);
  EXPECT_EQ(p.cum_containing(inuse_space, "keep_aligned_blocks"), 12 * kMiB);
  EXPECT_EQ(p.cum_containing(inuse_space, "grow_by_realloc"), 16 * kMiB);
  EXPECT_EQ(p.cum_containing(alloc_objects, "churn_malloc_free"), 200000);
  EXPECT_EQ(p.cum_containing(inuse_space, "churn_malloc_free"), 0);
}

// The agent under another file name (a copy installed as agent.so) still tells its own
// code: what it allocates outside its own scope is never a sample of the program's (with
// the check off, this run's profile charges ~280 MB to the agent's frames; libstdc++'s
// exception pool, ~72 KiB, was one such allocation until the agent's runtime dropped it).
// (Before, only a file named libprofagent* counted as the agent's code.)
TEST_F(HeapE2E, TheAgentRenamedKeepsItsOwnAllocationsOutOfTheProfile) {
  const std::string renamed = dir_ + "/agent-renamed.so";
  std::filesystem::copy_file(e2e::agent_so(), renamed);
  e2e::RunOptions o = options("1");
  o.env["LD_PRELOAD"] = renamed;
  e2e::RunResult r = e2e::run({e2e::program("heap_sites")}, o);
  std::filesystem::remove(renamed);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  RawProfile p = only_heap_profile();
  int alloc_space = p.sample_index("alloc_space");
  EXPECT_GT(p.cum_containing(alloc_space, "keep_small_blocks"), 0);
  // (libstdc++'s pool was made by eh_alloc.cc's static initializer, in pool::pool.)
  for (const char* agent_frame : {"eh_alloc", "pool::pool", "profagent", "agent-renamed"})
    EXPECT_EQ(p.cum_containing(alloc_space, agent_frame), 0) << agent_frame;
}

// Thread names are cached per thread: a rename (pthread_setname_np on itself or on another
// thread, prctl(PR_SET_NAME)) shows in the samples allocated after it.
TEST_F(HeapE2E, SamplesCarryTheNameTheThreadHadWhenItAllocated) {
  e2e::RunResult r = e2e::run({e2e::program("heap_rename")}, options("1"));
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  RawProfile p = only_heap_profile();
  std::map<std::string, std::string> want = {
      {"keep_as_first", "named-first"},
      {"keep_after_setname", "named-setname"},
      {"keep_after_prctl", "named-prctl"},
      {"keep_after_renamed_by_other", "other-after"}};
  std::map<std::string, int> seen;
  for (const auto& s : p.samples) {
    for (const std::string& f : p.stack_functions(s)) {
      auto it = want.find(f);
      if (it == want.end()) continue;
      auto name = s.labels.find("thread_name");
      ASSERT_NE(name, s.labels.end());
      ASSERT_FALSE(name->second.empty());
      EXPECT_EQ(name->second[0], it->second) << f;
      ++seen[f];
    }
  }
  for (const auto& [f, name] : want) EXPECT_GT(seen[f], 0) << f;
}

TEST_F(HeapE2E, DefaultRateLargeBlocks) {
  // At the default 512 KiB a 1 MiB object is sampled with probability 0.865: the 12 kept
  // blocks are estimated within a few objects.
  e2e::RunResult r = e2e::run({e2e::program("heap_sites")}, options("524288"));
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  RawProfile p = only_heap_profile();
  expect_heap_shape(p, 524288);
  int inuse_space = p.sample_index("inuse_space");
  double large = static_cast<double>(p.cum_containing(inuse_space, "keep_large_blocks"));
  EXPECT_NEAR(large / (12.0 * kMiB), 1.0, 0.5) << large;
  EXPECT_EQ(p.cum_containing(inuse_space, "churn_malloc_free"), 0);
}

TEST_F(HeapE2E, CppNewDeleteAndContainersByDemangledName) {
  e2e::RunResult r = e2e::run({e2e::program("heap_cpp")}, options("1"));
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  RawProfile p = only_heap_profile();
  expect_heap_shape(p, 1);
  int alloc_objects = p.sample_index("alloc_objects");
  int inuse_space = p.sample_index("inuse_space");
  int inuse_objects = p.sample_index("inuse_objects");
  // new Node (72 bytes) x 20000 through libstdc++'s operator new -> our malloc.
  EXPECT_EQ(p.cum_containing(inuse_space, "heapdemo::make_nodes"), 20000 * 72);
  EXPECT_EQ(p.cum_containing(inuse_objects, "heapdemo::make_nodes"), 20000);
  // Aligned new[] goes through aligned_alloc.
  EXPECT_EQ(p.cum_containing(inuse_space, "heapdemo::make_aligned"), 1000 * 256);
  // std::map nodes and std::string buffers (5000 nodes + 5000 strings + the map itself).
  EXPECT_GE(p.cum_containing(inuse_objects, "heapdemo::build_map"), 10000);
  EXPECT_GE(p.cum_containing(inuse_space, "heapdemo::fill_vector"), 100000 * 8);
  // delete reaches our free: nothing of the churn is in use.
  EXPECT_EQ(p.cum_containing(alloc_objects, "heapdemo::churn_new_delete"), 40000);
  EXPECT_EQ(p.cum_containing(inuse_space, "heapdemo::churn_new_delete"), 0);
  bool demangled = false;
  for (const auto& s : p.samples)
    for (const std::string& f : p.stack_functions(s)) {
      EXPECT_EQ(f.rfind("_ZN", 0), std::string::npos) << f;
      if (f.find("heapdemo::make_nodes(int)") != std::string::npos) demangled = true;
    }
  EXPECT_TRUE(demangled);
}

TEST_F(HeapE2E, GlibcInternalAllocationsAndForkedChild) {
  // Rate 1: every object glibc allocates for itself lives in the agent's region, so getline,
  // open_memstream, strdup, asprintf, scandir and stdio must free and realloc them through us.
  std::string scratch = dir_ + "/scratch.txt";
  e2e::RunResult plain = e2e::run({e2e::program("heap_glibc"), scratch}, [] {
    e2e::RunOptions o;
    o.preload = false;
    return o;
  }());
  ASSERT_EQ(plain.exit_code(), 0);
  e2e::RunResult r = e2e::run({e2e::program("heap_glibc"), scratch}, options("1"));
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, plain.out);
  EXPECT_NE(r.out.find("child 0"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
  // The parent's and the forked child's profiles; the child's shows child_work.
  std::vector<std::string> files = e2e::profiles(dir_, "heap");
  ASSERT_EQ(files.size(), 2u);
  int64_t child_kept = 0;
  for (const std::string& f : files) {
    RawProfile p = e2e::read_raw(f);
    child_kept += p.cum_containing(p.sample_index("inuse_space"), "child_work");
  }
  EXPECT_EQ(child_kept, 64 * 4096);
}

// The program's own resident set, without the agent, in both halves (rounds 2->4, 4->6): the
// smaller growth. glibc keeps what a round whose live set peaked higher freed, and on a
// loaded machine that happens in both halves without any agent (+1.4 and +2.7 MiB seen).
// heap_stress's "rss_round_kib ROUND KIB" lines: round -> KiB.
std::map<int, double> rss_by_round(const std::string& out) {
  std::map<int, double> rss;
  const std::regex round_re("rss_round_kib (\\d+) (\\d+)");
  for (std::sregex_iterator it(out.begin(), out.end(), round_re), end; it != end; ++it)
    rss[std::stoi((*it)[1])] = std::stod((*it)[2]);
  return rss;
}

double plain_growth_in_both_halves() {
  e2e::RunOptions without_agent;
  without_agent.preload = false;
  e2e::RunResult r = e2e::run({e2e::program("heap_stress"), "6"}, without_agent);
  std::map<int, double> rss = rss_by_round(r.out);
  if (rss.size() != 6u) return 0;
  return std::max(0.0, std::min(rss[4] - rss[2], rss[6] - rss[4]));
}

TEST_F(HeapE2E, StressCrossThreadFreesAtRateOneAndDefault) {
  const double plain_growth = plain_growth_in_both_halves();
  for (const char* rate : {"1", "524288"}) {
    SCOPED_TRACE(rate);
    dir_ = e2e::make_temp_dir();
    e2e::RunResult r = e2e::run({e2e::program("heap_stress"), "6"}, options(rate));
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex("corrupted (\\d+)"))) << r.out;
    EXPECT_EQ(m[1], "0");
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex("rss_round2_kib (\\d+)")));
    double rss2 = std::stod(m[1]);
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex("rss_last_kib (\\d+)")));
    double rss_last = std::stod(m[1]);
    std::map<int, double> rss = rss_by_round(r.out);
    ASSERT_EQ(rss.size(), 6u) << r.out;
    EXPECT_EQ(rss[2], rss2);
    // Rounds 3..6 reuse what rounds 1..2 needed: no growth of our region or buckets. A leak
    // grows the resident set in both halves (rounds 2->4 and 4->6). A round whose live set
    // peaks higher than before (threads descheduled while their mailbox fills; glibc keeps
    // what was freed) is a one-off step in one half only, of at most the mailboxes' live set
    // (8 x 256 objects, ~56 MB on average), so the total growth bound allows one such step.
    // What the program itself grew in both halves, measured without the agent in the same
    // run, is allowed on top.
    double growth_2_4 = rss[4] - rss[2], growth_4_6 = rss[6] - rss[4];
    EXPECT_LT(std::min(growth_2_4, growth_4_6), 2048 + plain_growth)
        << "RSS grew in both halves: rounds 2/4/6 " << rss[2] << "/" << rss[4] << "/" << rss[6]
        << " (without the agent: " << plain_growth << " KiB in both)";
    EXPECT_LT(rss_last - rss2, 64 * 1024) << "round 2 " << rss2 << " KiB, last " << rss_last;
    RawProfile p = only_heap_profile();
    int inuse_space = p.sample_index("inuse_space");
    int inuse_objects = p.sample_index("inuse_objects");
    // Every object the workers allocated was freed (on another thread): exactly 0 in use.
    EXPECT_EQ(p.cum_containing(inuse_objects, "stress_alloc"), 0);
    EXPECT_EQ(p.cum_containing(inuse_space, "stress_alloc"), 0);
    if (std::string(rate) == "1") {
      EXPECT_EQ(p.cum_containing(inuse_space, "keep_final"), 1000 * 4096);
      EXPECT_GT(p.cum_containing(p.sample_index("alloc_objects"), "stress_alloc"), 6 * 8 * 4000 - 1);
    }
  }
}

TEST_F(HeapE2E, Sqlite3OutputUnchangedAndSqliteFunctionsNamed) {
  if (access("/usr/bin/sqlite3", X_OK) != 0) GTEST_FAIL() << "sqlite3 (Debian package) is required";
  std::string script =
      "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL);\n"
      "BEGIN;\n"
      "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 60000)\n"
      "  INSERT INTO t SELECT x, printf('row-%08d-%s', x, substr('abcdefghij', x % 10)), x * 0.5 FROM n;\n"
      "COMMIT;\n"
      "CREATE INDEX tb ON t(b);\n"
      "SELECT count(*), sum(length(b)), sum(c) FROM t;\n"
      "SELECT b FROM t WHERE a % 9973 = 0 ORDER BY b;\n";
  std::string db = dir_ + "/plain.db";
  e2e::RunOptions plain_options;
  plain_options.preload = false;
  plain_options.stdin_data = script;
  e2e::RunResult plain = e2e::run({"sqlite3", db}, plain_options);
  ASSERT_EQ(plain.exit_code(), 0) << plain.err;
  e2e::RunOptions o = options("65536");
  o.stdin_data = script;
  e2e::RunResult r = e2e::run({"sqlite3", dir_ + "/agent.db"}, o);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, plain.out);
  EXPECT_EQ(r.err, plain.err);
  RawProfile p = only_heap_profile();
  expect_heap_shape(p, 65536);
  int alloc_space = p.sample_index("alloc_space");
  int64_t total = p.total(alloc_space);
  ASSERT_GT(total, 0);
  // sqlite allocates under sqlite3_step/sqlite3VdbeExec (names from libsqlite3.so's .dynsym;
  // its static functions have no symbol there and show as library+offset).
  int64_t in_sqlite =
      p.cum(alloc_space, [](const std::string& f) { return f.find("sqlite3") != std::string::npos; });
  EXPECT_GT(static_cast<double>(in_sqlite), 0.5 * static_cast<double>(total));
  // sqlite's own allocation wrappers (exported, so named from .dynsym) carry the bytes.
  EXPECT_GT(p.cum_containing(alloc_space, "sqlite3Malloc") +
                p.cum_containing(alloc_space, "sqlite3Realloc"),
            total / 4);
}

// A process whose unwind tables come from the cache (a second run) walks its first samples
// through libc like the later ones: while the dump thread checks the cached tables, walks
// use them (samples of the first milliseconds once lost every frame past the first libc one).
TEST_F(HeapE2E, EarlySamplesWithCachedTablesReachTheProgramsEntry) {
  e2e::RunOptions o = options("1");
  o.env["PROFAGENT_SYMBOL_CACHE"] = e2e::make_temp_dir() + "/cache";
  ASSERT_EQ(e2e::run({e2e::program("heap_sites")}, o).exit_code(), 0);  // builds the tables
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  e2e::RunResult r = e2e::run({e2e::program("heap_sites")}, o);  // maps them
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  RawProfile p = only_heap_profile();
  int with_main = 0, cut = 0;
  for (const e2e::RawSample& s : p.samples) {
    std::vector<std::string> names = p.stack_functions(s);
    auto has = [&](const std::string& prefix) { return e2e::has_function_starting(names, prefix); };
    if (!has("main")) continue;
    ++with_main;
    if (!has("__libc_start_main")) ++cut;
  }
  EXPECT_GT(with_main, 5);
  EXPECT_EQ(cut, 0) << "samples whose walk stopped between main and __libc_start_main";
}

// Without cached tables the dump thread builds them a few ms after start; the allocations
// sampled before that are walked with the rules read from each object's .eh_frame, at once
// (no wait for the dump thread): their stacks go down to the program's entry like the rest,
// and the profile's comment counts those walks.
// (Up to 8 runs: a loaded machine can hold the program back until the dump thread has built
// the tables, ~1 run in 6 there, and such a run has no early walk to look at.)
TEST_F(HeapE2E, SamplesBeforeTheFirstUnwindTablesReachTheProgramsEntry) {
  RawProfile p;
  const std::string base = dir_;
  for (int run = 0; run < 8 && p.walks_before_first_tables() <= 0; ++run) {
    dir_ = base + "/run" + std::to_string(run);
    e2e::RunOptions o = options("1");
    o.env["PROFAGENT_SYMBOL_CACHE"] = "off";
    e2e::RunResult r = e2e::run({e2e::program("heap_sites")}, o);
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    p = only_heap_profile();
  }
  EXPECT_GT(p.walks_before_first_tables(), 0) << "no sample was taken before the first tables";
  // Every sample of one of the program's allocation sites goes down through main to libc's
  // start (a walk that stopped at the site, or at main, is counted).
  int of_sites = 0, cut = 0;
  for (const e2e::RawSample& s : p.samples) {
    std::vector<std::string> names = p.stack_functions(s);
    auto has = [&](const std::string& prefix) { return e2e::has_function_starting(names, prefix); };
    if (!has("keep_") && !has("churn_") && !has("grow_by_realloc") && !has("main")) continue;
    ++of_sites;
    if (!has("main") || !has("__libc_start_main")) {
      ++cut;
      ADD_FAILURE() << "a stack cut short, from " << names.front() << " to " << names.back();
    }
  }
  EXPECT_GT(of_sites, 5);
  EXPECT_EQ(cut, 0);
}

// The agent's own C++ runtime (linked into libprofagent.so) allocates from its static
// initialisers, after the agent's constructor armed the hooks (libstdc++'s 71 KiB exception
// pool): never the program's allocation, never in its profile, even when every allocation
// is sampled. heap_sites has no constructor of its own, so nothing comes from _dl_init.
TEST_F(HeapE2E, NothingOfTheAgentsOwnRuntimeIsSampled) {
  e2e::RunResult r = e2e::run({e2e::program("heap_sites")}, options("1"));
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  RawProfile p = only_heap_profile();
  ASSERT_FALSE(p.samples.empty());
  for (const e2e::RawSample& s : p.samples) {
    for (const std::string& name : p.stack_functions(s)) {
      EXPECT_EQ(name.find("_dl_init"), std::string::npos) << "a constructor's allocation";
      EXPECT_EQ(name.find("profagent::"), std::string::npos) << name;
    }
  }
}

}  // namespace
