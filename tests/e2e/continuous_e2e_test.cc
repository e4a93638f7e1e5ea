// End-to-end: continuous profiling. Periodic dumps (CPU deltas that add up to the
// program's own CPU time, cumulative heap files), self-accounting in every file, bounded
// agent memory over many short intervals, and push to a loopback Pyroscope-style receiver,
// including servers that hang, reset or fail, which must change nothing for the program.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/ingest_receiver.h"

namespace {

using e2e::IngestReceiver;
using e2e::RawProfile;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// The figure continuous_work printed as "<name> N" (-1 if none).
double figure_of(const std::string& out, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("(^|\n)" + name + " (\\d+)"))) return -1;
  return std::stod(m[2]);
}

// "<exe>.<pid>.<seq>.<kind>.pb.gz" -> seq
int seq_of(const std::string& file) {
  std::smatch m;
  std::string base = file.substr(file.rfind('/') + 1);
  if (!std::regex_match(base, m, std::regex(R"(.*\.(\d+)\.(\d+)\.[a-z]+\.pb\.gz)"))) return -1;
  return std::stoi(m[2]);
}

// Nanoseconds from "2.10ms", "512.0us", "750ns", "1.20s".
double parse_duration(const std::string& text) {
  std::smatch m;
  if (!std::regex_match(text, m, std::regex(R"(([\d.]+)(ns|us|ms|s))"))) return -1;
  double v = std::stod(m[1]);
  std::string unit = m[2];
  return unit == "ns" ? v : unit == "us" ? v * 1e3 : unit == "ms" ? v * 1e6 : v * 1e9;
}

// The "name=<duration>/<events>" entries of the self-accounting comment.
std::map<std::string, std::pair<double, long>> self_costs(const RawProfile& p) {
  std::map<std::string, std::pair<double, long>> costs;
  for (const std::string& c : p.comments) {
    if (c.rfind("profagent self: signal_handler=", 0) != 0) continue;
    std::regex entry(R"((\w+)=([\d.]+(?:ns|us|ms|s))/(\d+))");
    for (std::sregex_iterator it(c.begin(), c.end(), entry), end; it != end; ++it)
      costs[(*it)[1]] = {parse_duration((*it)[2]), std::stol((*it)[3])};
  }
  return costs;
}

long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

struct Part {
  std::string disposition, type, content;
};

std::map<std::string, Part> parse_multipart(const std::string& body, const std::string& boundary) {
  std::map<std::string, Part> parts;
  std::string delim = "--" + boundary;
  size_t pos = body.find(delim);
  while (pos != std::string::npos) {
    pos += delim.size();
    if (body.compare(pos, 2, "--") == 0) break;
    pos += 2;
    size_t head_end = body.find("\r\n\r\n", pos);
    if (head_end == std::string::npos) break;
    std::string head = body.substr(pos, head_end - pos);
    size_t next = body.find("\r\n" + delim, head_end + 4);
    if (next == std::string::npos) break;
    Part part;
    part.content = body.substr(head_end + 4, next - head_end - 4);
    std::smatch m;
    if (std::regex_search(head, m, std::regex("Content-Disposition: ([^\r]*)"))) part.disposition = m[1];
    if (std::regex_search(head, m, std::regex("Content-Type: ([^\r]*)"))) part.type = m[1];
    std::string name;
    if (std::regex_search(part.disposition, m, std::regex("name=\"([^\"]*)\""))) name = m[1];
    parts[name] = part;
    pos = next + 2;
  }
  return parts;
}

// The kind of a profile from its sample types.
std::string kind_of(const RawProfile& p) {
  if (p.sample_index("cpu") >= 0) return "cpu";
  if (p.sample_index("alloc_space") >= 0) return "heap";
  if (p.sample_index("threads") >= 0) return "threads";
  if (p.sample_index("delay") >= 0) return "mutex-or-block";
  return "?";
}

// The profile files a run wrote, for the push checks.
struct PushedFiles {
  size_t all = 0;   // every profile file
  size_t exit = 0;  // those of the exit dump (the highest seq)
};

PushedFiles pushed_files(const std::string& dir) {
  PushedFiles f;
  std::vector<std::string> names;
  for (const char* kind : {"cpu", "heap", "threads", "mutex", "block"})
    for (const std::string& name : e2e::profiles(dir, kind)) names.push_back(name);
  int last = 0;
  for (const std::string& n : names) last = std::max(last, seq_of(n));
  f.all = names.size();
  for (const std::string& n : names) f.exit += seq_of(n) == last ? 1 : 0;
  return f;
}

// Every file of the periodic dumps was pushed and the queue dropped nothing. The exit
// dump's files may be missing: the agent gives its push at most 1 s at exit by design, and
// a loaded machine can exceed it.
void expect_all_pushed(size_t requests, const PushedFiles& files, const RawProfile& last) {
  EXPECT_LE(requests, files.all);
  EXPECT_GE(requests, files.all - files.exit)
      << "a periodic dump was not pushed: " << requests << " requests, " << files.all
      << " files of which " << files.exit << " of the exit dump";
  bool push_line = false;
  for (const std::string& c : last.comments) {
    if (c.rfind("profagent push:", 0) != 0) continue;
    push_line = true;
    EXPECT_NE(c.find(" dropped=0 "), std::string::npos) << c;
    EXPECT_NE(c.find(" failed=0 "), std::string::npos) << c;
  }
  EXPECT_TRUE(push_line) << "no push comment in the last file";
}

class ContinuousE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
    dir_ = e2e::make_temp_dir();
  }
  std::string dir_;
};

TEST_F(ContinuousE2E, TenSecondsOfOneSecondDeltasAddUpToTheProgramsCpuTime) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_INTERVAL", "1"}};
  // 10.5 s: the tenth interval dump comes 0.5 s before the exit, not racing it.
  e2e::RunResult r = e2e::run({e2e::program("continuous_work"), "10.5", "2"}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.err, "");
  double rusage_ns = figure_of(r.out, "cpu_ns");
  ASSERT_GT(rusage_ns, 1e9);
  // What the profile can see: the program's own threads (rusage also counts the agent's
  // dump and push threads, which no CPU timer samples).
  double program_ns = figure_of(r.out, "program_threads_cpu_ns");
  ASSERT_GT(program_ns, 1e9) << r.out;
  EXPECT_LE(program_ns, rusage_ns * 1.01);

  std::vector<std::string> cpu = e2e::profiles(dir_, "cpu");
  // Ten interval dumps plus the exit dump; one fewer if a dump (say the first, cold one on a
  // slow machine) overran its interval, which the agent then skips. No dump may be missing
  // from the sequence (checked below) and the agent's own dump count must match.
  ASSERT_GE(cpu.size(), 10u);
  ASSERT_LE(cpu.size(), 12u);
  double sum = 0;
  long samples = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_EQ(seq_of(cpu[i]), static_cast<int>(i + 1)) << "a dump is missing";
    RawProfile p = e2e::read_raw(cpu[i]);
    EXPECT_TRUE(p.has_time);
    EXPECT_TRUE(p.has_duration);
    sum += static_cast<double>(p.total(p.sample_index("cpu")));
    samples += p.total(p.sample_index("samples"));
    // Every interval holds about a second of two busy threads: deltas, not totals.
    if (i + 1 < cpu.size() - 1) {
      double window = static_cast<double>(p.total(p.sample_index("cpu")));
      EXPECT_LT(window, 0.5 * rusage_ns) << cpu[i] << " looks cumulative";
    }
  }
  EXPECT_NEAR(sum / program_ns, 1.0, 0.10)
      << "sum of deltas " << sum << " program threads " << program_ns << " rusage " << rusage_ns;

  // Self-accounting: the last file's handler count covers every sample taken (a handler
  // call is one sample), and the agent's share is stated and small.
  RawProfile last = e2e::read_raw(cpu.back());
  auto costs = self_costs(last);
  ASSERT_EQ(costs.count("signal_handler"), 1u) << "no self-accounting comment";
  long handled = costs["signal_handler"].second;
  EXPECT_GE(handled, samples * 9 / 10) << "handler calls " << handled << " samples " << samples;
  EXPECT_LE(handled, samples * 11 / 10 + 5);
  double per_sample = costs["signal_handler"].first / static_cast<double>(handled);
  EXPECT_GT(per_sample, 0);
  EXPECT_LT(per_sample, 1e6) << "a handler call cannot take a millisecond";
  EXPECT_EQ(costs["dump"].second, static_cast<long>(cpu.size() - 1)) << "dumps before the last";
  bool stated = false, lost_line = false;
  for (const std::string& c : last.comments) {
    stated = stated || c.find("of process_cpu=") != std::string::npos;
    lost_line = lost_line || c.rfind("profagent lost since start:", 0) == 0;
  }
  EXPECT_TRUE(stated);
  EXPECT_TRUE(lost_line);

  // Heap files stay cumulative, as Go's: alloc_space never goes down from one dump to the
  // next, and each dump has its heap file.
  std::vector<std::string> heap = e2e::profiles(dir_, "heap");
  ASSERT_EQ(heap.size(), cpu.size()) << "the heap profile must be written at every dump";
  int64_t previous = -1;
  for (const std::string& f : heap) {
    RawProfile p = e2e::read_raw(f);
    int64_t alloc = p.total(p.sample_index("alloc_space"));
    EXPECT_GE(alloc, previous) << f;
    previous = alloc;
    EXPECT_FALSE(p.comments.empty()) << f << " has no self-accounting";
  }
  EXPECT_GT(previous, 0);
}

// The bound of the dump and push paths (CPU windows, symbolizer, files, push queue and
// baselines) and of the heap profile (buckets keyed on size classes, sampled-object
// region), with the default heap rate and a program that allocates many distinct sizes.
// Libraries loaded and unloaded between (and during) periodic dumps: what the dump thread
// resolved before stays valid only for the mappings that did not change, so every location of
// every file must still lie inside the mapping it names, and the plugin's and the program's
// functions must be named in their own files.
TEST_F(ContinuousE2E, DlopenBetweenDumpsKeepsEveryLocationInItsMapping) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_INTERVAL", "0.2"},
                 {"PROFAGENT_CPU_HZ", "1000"}};
  e2e::RunResult r = e2e::run(
      {e2e::program("dlopen_storm"), e2e::program("libstorm_plugin.so"), "2", "150000"}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  std::vector<std::string> cpu = e2e::profiles(dir_, "cpu");
  ASSERT_GE(cpu.size(), 3u) << "expected several periodic dumps";
  size_t files_with_plugin = 0;
  for (const std::string& file : cpu) {
    RawProfile p = e2e::read_raw(file);
    bool plugin_seen = false;
    for (const auto& [id, loc] : p.locations) {
      if (loc.mapping_id == 0) continue;
      ASSERT_LE(loc.mapping_id, p.mappings.size()) << file;
      const e2e::RawMapping& m = p.mappings[loc.mapping_id - 1];
      ASSERT_EQ(m.id, loc.mapping_id) << file;
      EXPECT_TRUE(m.start <= loc.address && loc.address < m.limit)
          << file << ": location " << id << " at 0x" << std::hex << loc.address
          << " outside its mapping " << m.file;
      if (loc.lines.empty()) continue;
      const std::string& fn = loc.lines.back().function;
      if (fn == "plugin_work") {
        plugin_seen = true;
        EXPECT_NE(m.file.find("libstorm_plugin.so"), std::string::npos) << file << ": " << m.file;
      }
      if (fn == "storm") {
        EXPECT_NE(m.file.find("dlopen_storm"), std::string::npos) << file << ": " << m.file;
      }
    }
    if (plugin_seen) ++files_with_plugin;
  }
  EXPECT_GE(files_with_plugin, 2u) << "the plugin's code should be sampled in several dumps";
}

TEST_F(ContinuousE2E, AgentMemoryStaysFlatOverManyShortIntervalsWithPush) {
  IngestReceiver receiver(IngestReceiver::Mode::kOk);
  e2e::RunOptions options;
  // No symbol cache: with one, libdw and libc's DWARF (~17 MiB, once) load at the first
  // address the cache cannot answer, which may come at any second of the run; without it
  // they load at the first dump, before warm-up, and the window measures steady growth only.
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_INTERVAL", "0.2"},
                 {"PROFAGENT_PUSH_URL", receiver.url()}, {"PROFAGENT_SYMBOL_CACHE", "off"}};
  int out_fd = -1;
  int pid = e2e::start({e2e::program("continuous_work"), "14", "1"}, options, &out_fd);
  ASSERT_GT(pid, 0);
  std::map<int, long> rss;  // second -> KiB
  int first_dump_seen = 0;  // the first second at which the first dump's file was there
  auto t0 = std::chrono::steady_clock::now();
  for (int s = 1; s <= 13; ++s) {
    std::this_thread::sleep_until(t0 + std::chrono::seconds(s));
    rss[s] = rss_kib(pid);
    if (first_dump_seen == 0 && !e2e::profiles(dir_, "cpu").empty()) first_dump_seen = s;
  }
  e2e::RunResult r = e2e::wait_for(pid, 60, out_fd);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  std::vector<std::string> cpu = e2e::profiles(dir_, "cpu");
  ASSERT_FALSE(cpu.empty());
  // Many dumps: the agent's own count (dumps before the last file) matches the files, and
  // most of the 70 intervals had one (each overrun dump skips an interval: the first pays
  // the symbolizer's cold load, and a loaded machine overruns more).
  RawProfile last = e2e::read_raw(cpu.back());
  EXPECT_EQ(self_costs(last)["dump"].second, static_cast<long>(cpu.size() - 1));
  EXPECT_GE(cpu.size(), 42u) << "0.2 s intervals over 14 s";
  // After warm-up the resident set stays flat. A growth that goes on (a leak per dump or per
  // push) shows in both halves of the measured window; a one-off step (glibc growing an
  // arena, libdw reading one more compile unit of libc's debug info for a new address, both
  // bounded) shows in one half only. So the smaller of the two halves' growths must be small.
  // Warm-up ends at 4 s, or a second after the first dump (with its one-off libdw and DWARF
  // load) was written if that came later on a slow machine.
  ASSERT_GT(first_dump_seen, 0) << "no dump written in 13 s";
  int warm_s = std::max(4, first_dump_seen + 1);
  ASSERT_LE(warm_s, 9) << "the first dump came too late to measure anything after it";
  long warm = rss[warm_s], middle = rss[(warm_s + 13) / 2], end = rss[13];
  ASSERT_GT(warm, 0);
  ASSERT_GT(end, 0);
  std::string trace;
  for (auto& [s, kib] : rss) trace += std::to_string(s) + "s:" + std::to_string(kib) + " ";
  long first_half = middle - warm, second_half = end - middle;
  EXPECT_LT(std::min(first_half, second_half), 1024)
      << "RSS kept growing after warm-up: " << trace;
  EXPECT_LT(end - warm, 16 * 1024) << "RSS grew too much after warm-up: " << trace;
  // The push kept up: every file written was pushed (nothing dropped from the queue).
  PushedFiles written = pushed_files(dir_);
  expect_all_pushed(receiver.requests().size(), written, last);
}

TEST_F(ContinuousE2E, PushSendsEveryDumpWithLabelsAndTheRightWindows) {
  IngestReceiver receiver(IngestReceiver::Mode::kOk);
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_INTERVAL", "0.5"},
                 {"PROFAGENT_PUSH_URL", receiver.url() + "/"},
                 {"PROFAGENT_APP_NAME", "checkout"},
                 {"PROFAGENT_TAGS", "env=test,bad tag,region=eu-1"}};
  int64_t start_s = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
  e2e::RunResult r = e2e::run({e2e::program("continuous_work"), "3", "1"}, options);
  int64_t end_s = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count() + 1;
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  // One warning, for the bad tag, and nothing else.
  EXPECT_EQ(r.err,
            "profagent: warning: PROFAGENT_TAGS='env=test,bad tag,region=eu-1' has bad tags "
            "'bad tag' (want key=value: key of letters, digits, _ and ., not starting with __; "
            "value of letters, digits and . _ - / : @ +); dropping them\n");

  std::vector<std::string> cpu_files = e2e::profiles(dir_, "cpu");
  std::vector<std::string> heap_files = e2e::profiles(dir_, "heap");
  ASSERT_GE(cpu_files.size(), 5u);
  std::vector<e2e::SeenRequest> requests = receiver.requests();
  // One request per file written (the exit dump's may be missing: see expect_all_pushed).
  expect_all_pushed(requests.size(), pushed_files(dir_), e2e::read_raw(cpu_files.back()));

  std::vector<std::string> cpu_file_bytes;
  std::vector<double> cpu_in_files;  // CPU in files 1..n
  for (const std::string& f : cpu_files) {
    cpu_file_bytes.push_back(read_file(f));
    RawProfile p = e2e::read_raw(f);
    cpu_in_files.push_back(static_cast<double>(p.total(p.sample_index("cpu"))));
  }
  double cpu_pushed = 0;
  int64_t heap_alloc_pushed = 0;
  std::map<std::string, int> kinds;
  int index = 0;
  for (const e2e::SeenRequest& q : requests) {
    SCOPED_TRACE("request " + std::to_string(index++));
    EXPECT_EQ(q.method, "POST");
    EXPECT_EQ(q.path, "/ingest");
    EXPECT_EQ(q.query.at("name"), "checkout{env=test,region=eu-1}");
    EXPECT_EQ(q.query.at("format"), "pprof");
    EXPECT_EQ(q.query.at("spyName"), "profagent");
    int64_t from = std::stoll(q.query.at("from")), until = std::stoll(q.query.at("until"));
    EXPECT_LE(from, until);
    EXPECT_GE(from, start_s - 1);
    EXPECT_LE(until, end_s + 1);
    std::string ct = q.headers.count("content-type") ? q.headers.at("content-type") : "";
    ASSERT_EQ(ct.rfind("multipart/form-data; boundary=", 0), 0u) << ct;
    auto parts = parse_multipart(q.body, ct.substr(ct.find('=') + 1));
    ASSERT_EQ(parts.count("profile"), 1u);
    ASSERT_EQ(parts.count("sample_type_config"), 1u);
    EXPECT_NE(parts["profile"].disposition.find("filename=\"profile.pprof\""), std::string::npos);
    const std::string& profile = parts["profile"].content;
    ASSERT_GE(profile.size(), 2u);
    EXPECT_EQ(static_cast<unsigned char>(profile[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(profile[1]), 0x8b);
    std::string path = dir_ + "/pushed." + std::to_string(index) + ".pb.gz.check";
    write_file(path, profile);
    RawProfile p = e2e::read_raw(path);
    std::string kind = kind_of(p);
    ++kinds[kind];
    const std::string& config = parts["sample_type_config"].content;
    if (kind == "cpu") {
      // Pushed in order: the n-th CPU push is the n-th CPU file's bytes.
      ASSERT_LT(static_cast<size_t>(kinds["cpu"] - 1), cpu_file_bytes.size());
      EXPECT_EQ(profile, cpu_file_bytes[kinds["cpu"] - 1]) << "a CPU push is the file's bytes";
      cpu_pushed += static_cast<double>(p.total(p.sample_index("cpu")));
      EXPECT_NE(config.find("\"display-name\":\"cpu\""), std::string::npos) << config;
    } else if (kind == "heap") {
      heap_alloc_pushed += p.total(p.sample_index("alloc_space"));
      EXPECT_TRUE(p.has_duration) << "a pushed heap delta states its window";
      EXPECT_NE(config.find("\"inuse_space\":{\"units\":\"bytes\",\"aggregation\":\"average\"}"),
                std::string::npos) << config;
    }
  }
  // Every dump's CPU and heap file, the exit dump's possibly missing (as a whole or in part).
  EXPECT_GE(kinds["cpu"] + 1, static_cast<int>(cpu_files.size()));
  EXPECT_LE(kinds["cpu"], static_cast<int>(cpu_files.size()));
  EXPECT_GE(kinds["heap"] + 1, static_cast<int>(heap_files.size()));
  EXPECT_LE(kinds["heap"], static_cast<int>(heap_files.size()));
  double cpu_in_pushed_files = 0;
  for (int i = 0; i < kinds["cpu"] && i < static_cast<int>(cpu_in_files.size()); ++i)
    cpu_in_pushed_files += cpu_in_files[i];
  EXPECT_EQ(cpu_pushed, cpu_in_pushed_files);
  // Heap pushes are per-window deltas of alloc_*: together they are the cumulative file of
  // the last dump pushed.
  ASSERT_GT(kinds["heap"], 0);
  RawProfile last_heap = e2e::read_raw(heap_files[kinds["heap"] - 1]);
  EXPECT_EQ(heap_alloc_pushed, last_heap.total(last_heap.sample_index("alloc_space")));
  EXPECT_GT(heap_alloc_pushed, 0);
}

struct BadServerCase {
  const char* name;
  int mode;  // -1: nothing listens (connection refused), else IngestReceiver::Mode
};

class BadServerE2E : public ContinuousE2E,
                     public ::testing::WithParamInterface<BadServerCase> {};

TEST_P(BadServerE2E, NeverChangesTheProgramAndNoFileIsLost) {
  // 2 s: longer runs fill the push queue while the server fails, and the agent then adds a
  // second warning (dropping queued profiles), which the one-warning check below would count.
  const double kSeconds = 2;
  auto run_once = [&](const std::string& dir, const std::string& url, double* wall) {
    e2e::RunOptions options;
    options.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_INTERVAL", "0.2"}};
    if (!url.empty()) options.env["PROFAGENT_PUSH_URL"] = url;
    auto t0 = std::chrono::steady_clock::now();
    e2e::RunResult r =
        e2e::run({e2e::program("continuous_work"), std::to_string(kSeconds), "1"}, options);
    *wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  };

  std::unique_ptr<IngestReceiver> receiver;
  std::string url;
  if (GetParam().mode < 0) {
    // A port nobody listens on: bind an ephemeral one, then close it.
    IngestReceiver gone(IngestReceiver::Mode::kOk);
    url = gone.url();
  } else {
    receiver = std::make_unique<IngestReceiver>(static_cast<IngestReceiver::Mode>(GetParam().mode));
    url = receiver->url();
  }
  // Runs without and with the server interleaved, best against best: a load burst on the
  // machine slows one run, rarely both of a kind. A server that holds the exit costs >= 1 s.
  double base_wall = 1e9, wall = 1e9;
  size_t base_dumps = 0, dumps = 0;
  e2e::RunResult r;
  for (int round = 0; round < 2; ++round) {
    std::string base_dir = e2e::make_temp_dir();
    double one_wall = 0;
    e2e::RunResult base = run_once(base_dir, "", &one_wall);
    ASSERT_EQ(base.exit_code(), 0) << base.err;
    base_wall = std::min(base_wall, one_wall);
    base_dumps = std::max(base_dumps, e2e::profiles(base_dir, "cpu").size());
    // The last round's run with the server is checked in detail below (in dir_).
    std::string dir = round == 1 ? dir_ : e2e::make_temp_dir();
    r = run_once(dir, url, &one_wall);
    EXPECT_EQ(r.exit_code(), base.exit_code());
    wall = std::min(wall, one_wall);
    dumps = std::max(dumps, e2e::profiles(dir, "cpu").size());
  }
  EXPECT_EQ(r.term_signal(), 0);
  EXPECT_EQ(r.out.substr(0, 7), "cpu_ns ");
  EXPECT_LT(wall / base_wall, 1.25) << "with the bad server " << wall << " s, without "
                                    << base_wall << " s (best of two each)";
  // As many dumps as without the push (a dump that overran its 0.2 s interval on a loaded
  // machine skips one, with or without a server): a hung push must not hold them up.
  EXPECT_GE(dumps * 10, base_dumps * 7) << dumps << " vs " << base_dumps;
  // Every dump is on disk: seq 1..n without a gap.
  std::vector<std::string> cpu = e2e::profiles(dir_, "cpu");
  ASSERT_FALSE(cpu.empty());
  EXPECT_GE(cpu.size(), 6u) << "0.2 s intervals over 2 s";
  for (size_t i = 0; i < cpu.size(); ++i) EXPECT_EQ(seq_of(cpu[i]), static_cast<int>(i + 1));
  // Heap profiles as many, or one more: the exit dump's CPU window (since the last periodic
  // dump) may hold no sample, and the exit dump leaves an empty profile out.
  size_t heap_files = e2e::profiles(dir_, "heap").size();
  EXPECT_GE(heap_files, cpu.size());
  EXPECT_LE(heap_files, cpu.size() + 1);
  int64_t sampled = 0;
  for (const std::string& f : cpu) {
    RawProfile p = e2e::read_raw(f);
    sampled += p.total(p.sample_index("cpu"));
  }
  EXPECT_GT(sampled, 0);
  RawProfile last = e2e::read_raw(cpu.back());
  // At most one warning about the push (the first failure), whatever the number of dumps.
  size_t warnings = 0;
  for (size_t pos = 0; (pos = r.err.find("profagent: warning:", pos)) != std::string::npos; ++pos)
    ++warnings;
  EXPECT_LE(warnings, 1u) << r.err;
  if (receiver) {
    EXPECT_GE(receiver->connections(), 1) << "the agent did try this server";
  }
  // The failures are stated in the profile too.
  bool push_line = false;
  for (const std::string& c : last.comments)
    push_line = push_line || c.rfind("profagent push: sent=0 ", 0) == 0;
  EXPECT_TRUE(push_line) << "no 'profagent push: sent=0' comment";
}

INSTANTIATE_TEST_SUITE_P(
    Servers, BadServerE2E,
    ::testing::Values(BadServerCase{"refused", -1},
                      BadServerCase{"hangs", static_cast<int>(IngestReceiver::Mode::kHang)},
                      BadServerCase{"resets", static_cast<int>(IngestReceiver::Mode::kReset)},
                      BadServerCase{"answers500", static_cast<int>(IngestReceiver::Mode::kError500)}),
    [](const ::testing::TestParamInfo<BadServerCase>& info) { return info.param.name; });

}  // namespace
