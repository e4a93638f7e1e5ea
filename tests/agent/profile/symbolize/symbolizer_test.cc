// Symbolizer tests: starts the fixture programs (C and C++, with and without -g, stripped),
// symbolizes their recorded addresses from outside, and checks names, file:line, inline
// chains, the fallbacks and the mappings; then this process itself, dlopen, a deleted
// library and a memfd library.
#include "agent/profile/symbolize/symbolizer.h"
#include "agent/profile/symbolize/backend_api.h"
#include "agent/profile/symbolize/backend_loader.h"
#include "agent/runtime/unwind/unwind_cache.h"
#include "tests/common/run_in_child.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#ifndef SYMBOLIZER_FIXTURE_DIR
#error "SYMBOLIZER_FIXTURE_DIR must name the build directory of the fixtures"
#endif
#ifndef SYMBOLIZER_SOURCE_DIR
#error "SYMBOLIZER_SOURCE_DIR must name the fixtures' source directory"
#endif

namespace symbolizer_test {

__attribute__((noinline)) int probe(int x) {
  __asm__ volatile("" ::: "memory");
  return x * 2 + 1;
}

}  // namespace symbolizer_test

namespace profagent {
namespace {

namespace fs = std::filesystem;

const std::string kFixtureDir = SYMBOLIZER_FIXTURE_DIR;
const std::string kSourceDir = SYMBOLIZER_SOURCE_DIR;
const std::string kLibBuildId = "4123456789abcdef0123456789abcdef01234567";

// Line number of the first line of `file` containing "@marker@".
int64_t line_of(const std::string& file, const std::string& marker) {
  std::ifstream in(kSourceDir + "/" + file);
  std::string text;
  for (int64_t n = 1; std::getline(in, text); ++n) {
    if (text.find("@" + marker + "@") != std::string::npos) return n;
  }
  ADD_FAILURE() << "marker " << marker << " not in " << file;
  return -1;
}

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
  return buf;
}

struct MapsLine {
  uint64_t start = 0, limit = 0, offset = 0;
  std::string perms, name;
};

// The /proc/<pid>/maps line containing `address`, parsed independently of the symbolizer.
MapsLine maps_line_at(pid_t pid, uint64_t address) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::string text;
  while (std::getline(in, text)) {
    std::istringstream ls(text);
    std::string range, perms, offset, dev, inode, name;
    ls >> range >> perms >> offset >> dev >> inode;
    std::getline(ls >> std::ws, name);
    MapsLine m;
    m.start = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
    m.limit = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
    m.offset = std::stoull(offset, nullptr, 16);
    m.perms = perms;
    m.name = name;
    if (m.start <= address && address < m.limit) return m;
  }
  ADD_FAILURE() << "no maps line for " << hex(address);
  return {};
}

// A running fixture: its pid and the "<key> 0x<address>" values it printed.
class Fixture {
 public:
  // `name` in the fixture directory, or an absolute path (a copy made by the test).
  explicit Fixture(const std::string& name)
      : path_(name.starts_with('/') ? name : kFixtureDir + "/" + name) {
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) std::abort();
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], 0);
      dup2(from_child[1], 1);
      execl(path_.c_str(), path_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    stdin_ = to_child[1];
    FILE* out = fdopen(from_child[0], "r");
    char line[256];
    while (out != nullptr && std::fgets(line, sizeof(line), out) != nullptr) {
      std::string s(line);
      if (s.starts_with("ready")) {
        ready_ = true;
        break;
      }
      size_t space = s.find(' ');
      if (space != std::string::npos)
        values_[s.substr(0, space)] = std::stoull(s.substr(space + 1), nullptr, 16);
    }
    if (out != nullptr) std::fclose(out);
  }
  ~Fixture() {
    close(stdin_);
    int status = 0;
    waitpid(pid_, &status, 0);
  }

  bool ready() const { return ready_; }
  pid_t pid() const { return pid_; }
  const std::string& path() const { return path_; }
  uint64_t value(const std::string& key) const {
    auto it = values_.find(key);
    if (it == values_.end()) {
      ADD_FAILURE() << "fixture printed no " << key;
      return 0;
    }
    return it->second;
  }
  // A call-site PC: the recorded return address - 1, as the agent adjusts it.
  uint64_t pc(const std::string& key) const { return value("pc:" + key) - 1; }
  // "An address inside" a function: its entry + 1.
  uint64_t fn(const std::string& key) const { return value("fn:" + key) + 1; }

 private:
  std::string path_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  bool ready_ = false;
  std::map<std::string, uint64_t> values_;
};

std::string basename_of(const std::string& path) { return fs::path(path).filename().string(); }

void expect_frame(const SourceFrame& f, const std::string& function, const std::string& system_name,
                  const std::string& file, int64_t line, int64_t start_line) {
  EXPECT_EQ(f.function, function);
  EXPECT_EQ(f.system_name, system_name);
  if (file.empty()) {
    EXPECT_EQ(f.file, "");
  } else {
    EXPECT_EQ(basename_of(f.file), file) << f.file;
  }
  EXPECT_EQ(f.line, line) << function;
  EXPECT_EQ(f.start_line, start_line) << function;
}

// The main executable comes first, with the exact maps values and the build id it was linked
// with.
void expect_main_mapping(const Symbolizer& s, const Fixture& fx, uint64_t code_address,
                         const std::string& build_id) {
  ASSERT_FALSE(s.mappings().empty());
  const MappingInfo& m = s.mappings()[0];
  EXPECT_EQ(m.filename, fs::canonical(fx.path()).string());
  EXPECT_EQ(m.build_id, build_id);
  MapsLine line = maps_line_at(fx.pid(), code_address);
  EXPECT_NE(line.perms.find('x'), std::string::npos);
  EXPECT_EQ(m.start, line.start);
  EXPECT_EQ(m.limit, line.limit);
  EXPECT_EQ(m.offset, line.offset);
  EXPECT_LT(code_address, m.limit);
  EXPECT_GE(code_address, m.start);
}

const ResolvedAddress& resolve_ok(Symbolizer& s, uint64_t address) {
  const ResolvedAddress& r = s.resolve(address);
  EXPECT_FALSE(r.frames.empty());
  return r;
}

TEST(SymbolizerTest, CWithDebugInfo) {
  Fixture fx("symbolizer_fixture_c_g");
  ASSERT_TRUE(fx.ready());
  Symbolizer s(fx.pid());
  const std::string src = "fixture_c.c";
  expect_main_mapping(s, fx, fx.pc("static_helper"), "0123456789abcdef0123456789abcdef01234567");

  const ResolvedAddress& helper = resolve_ok(s, fx.pc("static_helper"));
  EXPECT_TRUE(helper.symbolized);
  EXPECT_TRUE(helper.has_file_line);
  EXPECT_EQ(helper.mapping_index, 0);
  ASSERT_EQ(helper.frames.size(), 1u);
  expect_frame(helper.frames[0], "static_helper", "static_helper", src,
               line_of(src, "static_helper_call"), line_of(src, "static_helper_decl"));

  const ResolvedAddress& in = resolve_ok(s, fx.pc("inline"));
  EXPECT_TRUE(in.symbolized);
  EXPECT_TRUE(in.has_file_line);
  ASSERT_EQ(in.frames.size(), 3u);
  expect_frame(in.frames[0], "inner_leaf", "inner_leaf", src, line_of(src, "inner_leaf_call"),
               line_of(src, "inner_leaf_decl"));
  expect_frame(in.frames[1], "middle", "middle", src, line_of(src, "middle_call"),
               line_of(src, "middle_decl"));
  expect_frame(in.frames[2], "outer_exported", "outer_exported", src, line_of(src, "outer_call"),
               line_of(src, "outer_decl"));

  const ResolvedAddress& outer = resolve_ok(s, fx.pc("outer"));
  ASSERT_EQ(outer.frames.size(), 1u);
  expect_frame(outer.frames[0], "outer_exported", "outer_exported", src,
               line_of(src, "outer_record"), line_of(src, "outer_decl"));

  const ResolvedAddress& entry = resolve_ok(s, fx.fn("static_helper"));
  ASSERT_EQ(entry.frames.size(), 1u);
  EXPECT_EQ(entry.frames[0].function, "static_helper");
  EXPECT_EQ(entry.frames[0].start_line, line_of(src, "static_helper_decl"));
  EXPECT_TRUE(entry.has_file_line);
  EXPECT_EQ(resolve_ok(s, fx.fn("main")).frames.back().function, "main");
}

TEST(SymbolizerTest, CWithoutDebugInfo) {
  Fixture fx("symbolizer_fixture_c_nog");
  ASSERT_TRUE(fx.ready());
  Symbolizer s(fx.pid());
  expect_main_mapping(s, fx, fx.pc("static_helper"), "1123456789abcdef0123456789abcdef01234567");

  const ResolvedAddress& helper = resolve_ok(s, fx.pc("static_helper"));
  EXPECT_TRUE(helper.symbolized);
  EXPECT_FALSE(helper.has_file_line);
  ASSERT_EQ(helper.frames.size(), 1u);
  expect_frame(helper.frames[0], "static_helper", "static_helper", "", 0, 0);

  // Without DWARF the inlined functions are invisible: only the physical function remains.
  const ResolvedAddress& in = resolve_ok(s, fx.pc("inline"));
  EXPECT_TRUE(in.symbolized);
  EXPECT_FALSE(in.has_file_line);
  ASSERT_EQ(in.frames.size(), 1u);
  expect_frame(in.frames[0], "outer_exported", "outer_exported", "", 0, 0);
  EXPECT_EQ(resolve_ok(s, fx.fn("main")).frames[0].function, "main");
}

TEST(SymbolizerTest, CStrippedNamesDynamicSymbolsOnly) {
  Fixture fx("symbolizer_fixture_c_stripped");
  ASSERT_TRUE(fx.ready());
  Symbolizer s(fx.pid());
  // strip keeps the build-id note of the -g build it was made from.
  expect_main_mapping(s, fx, fx.pc("static_helper"), "0123456789abcdef0123456789abcdef01234567");

  const ResolvedAddress& exported = resolve_ok(s, fx.pc("outer"));
  EXPECT_TRUE(exported.symbolized);
  EXPECT_FALSE(exported.has_file_line);
  ASSERT_EQ(exported.frames.size(), 1u);
  expect_frame(exported.frames[0], "outer_exported", "outer_exported", "", 0, 0);

  // A static function is in no symbol table any more: "module+0xfileoffset".
  uint64_t pc = fx.pc("static_helper");
  const ResolvedAddress& helper = resolve_ok(s, pc);
  EXPECT_FALSE(helper.symbolized);
  EXPECT_FALSE(helper.has_file_line);
  EXPECT_EQ(helper.mapping_index, 0);
  ASSERT_EQ(helper.frames.size(), 1u);
  MapsLine line = maps_line_at(fx.pid(), pc);
  expect_frame(helper.frames[0],
               "symbolizer_fixture_c_stripped+" + hex(pc - line.start + line.offset), "", "", 0, 0);
}

// MiniDebugInfo: a stripped binary whose .gnu_debugdata (xz) holds a .symtab names its static
// functions, as Fedora builds do.
TEST(SymbolizerTest, CStrippedWithMiniDebugInfoNamesStaticFunctions) {
  const std::string dir = ::testing::TempDir() + "symbolizer_minidebuginfo";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string source = kFixtureDir + "/symbolizer_fixture_c_g";
  const std::string binary = dir + "/symbolizer_fixture_c_mini";
  std::string script = "cd " + dir + " && objcopy --strip-debug --remove-section=.comment " +
                       source + " mini && xz -q mini && strip --strip-all -o " + binary + " " +
                       source + " && objcopy --add-section .gnu_debugdata=mini.xz " + binary;
  ASSERT_EQ(std::system(script.c_str()), 0) << script;
  Fixture fx(binary);
  ASSERT_TRUE(fx.ready());
  Symbolizer s(fx.pid());
  const ResolvedAddress& helper = resolve_ok(s, fx.pc("static_helper"));
  EXPECT_TRUE(helper.symbolized);
  EXPECT_FALSE(helper.has_file_line);
  EXPECT_EQ(helper.frames.back().function, "static_helper");
  EXPECT_EQ(resolve_ok(s, fx.pc("outer")).frames.back().function, "outer_exported");
}

TEST(SymbolizerTest, CppWithDebugInfo) {
  Fixture fx("symbolizer_fixture_cpp_g");
  ASSERT_TRUE(fx.ready());
  Symbolizer s(fx.pid());
  const std::string src = "fixture_cpp.cc";
  expect_main_mapping(s, fx, fx.pc("compute"), "2123456789abcdef0123456789abcdef01234567");

  const ResolvedAddress& compute = resolve_ok(s, fx.pc("compute"));
  EXPECT_TRUE(compute.symbolized);
  EXPECT_TRUE(compute.has_file_line);
  ASSERT_EQ(compute.frames.size(), 1u);
  expect_frame(compute.frames[0], "demo::Box<int>::compute(int) const",
               "_ZNK4demo3BoxIiE7computeEi", src, line_of(src, "compute_call"),
               line_of(src, "compute_decl"));

  const ResolvedAddress& st = resolve_ok(s, fx.pc("static"));
  ASSERT_EQ(st.frames.size(), 1u);
  expect_frame(st.frames[0], "cpp_static(int)", "_ZL10cpp_statici", src,
               line_of(src, "cpp_static_call"), line_of(src, "cpp_static_decl"));

  const ResolvedAddress& in = resolve_ok(s, fx.pc("inline"));
  EXPECT_TRUE(in.has_file_line);
  ASSERT_EQ(in.frames.size(), 2u);
  expect_frame(in.frames[0], "demo::leaf_inl(int)", "_ZN4demo8leaf_inlEi", src,
               line_of(src, "leaf_inl_call"), line_of(src, "leaf_inl_decl"));
  expect_frame(in.frames[1], "demo::run(int)", "_ZN4demo3runEi", src, line_of(src, "run_call"),
               line_of(src, "run_decl"));

  const ResolvedAddress& entry = resolve_ok(s, fx.fn("compute"));
  ASSERT_EQ(entry.frames.size(), 1u);
  EXPECT_EQ(entry.frames[0].function, "demo::Box<int>::compute(int) const");
  EXPECT_EQ(entry.frames[0].system_name, "_ZNK4demo3BoxIiE7computeEi");
  EXPECT_EQ(resolve_ok(s, fx.fn("run")).frames.back().function, "demo::run(int)");
}

TEST(SymbolizerTest, CppWithoutDebugInfo) {
  Fixture fx("symbolizer_fixture_cpp_nog");
  ASSERT_TRUE(fx.ready());
  Symbolizer s(fx.pid());
  expect_main_mapping(s, fx, fx.pc("compute"), "3123456789abcdef0123456789abcdef01234567");

  const ResolvedAddress& compute = resolve_ok(s, fx.pc("compute"));
  EXPECT_TRUE(compute.symbolized);
  EXPECT_FALSE(compute.has_file_line);
  ASSERT_EQ(compute.frames.size(), 1u);
  expect_frame(compute.frames[0], "demo::Box<int>::compute(int) const",
               "_ZNK4demo3BoxIiE7computeEi", "", 0, 0);

  const ResolvedAddress& st = resolve_ok(s, fx.pc("static"));
  ASSERT_EQ(st.frames.size(), 1u);
  expect_frame(st.frames[0], "cpp_static(int)", "_ZL10cpp_statici", "", 0, 0);

  const ResolvedAddress& in = resolve_ok(s, fx.pc("inline"));
  ASSERT_EQ(in.frames.size(), 1u);
  expect_frame(in.frames[0], "demo::run(int)", "_ZN4demo3runEi", "", 0, 0);
}

TEST(SymbolizerTest, OwnProcessAndOutsideAnyMapping) {
  Symbolizer s;
  ASSERT_FALSE(s.mappings().empty());
  EXPECT_EQ(s.mappings()[0].filename, fs::canonical("/proc/self/exe").string());
  bool vdso = false;
  for (const MappingInfo& m : s.mappings()) {
    EXPECT_LT(m.start, m.limit);
    EXPECT_EQ(m.filename.find(" (deleted)"), std::string::npos);
    if (m.filename == "[vdso]") vdso = true;
    if (m.filename.find("/libc.so") != std::string::npos) {
      EXPECT_EQ(m.build_id.size(), 40u) << m.filename;
      EXPECT_EQ(m.build_id.find_first_not_of("0123456789abcdef"), std::string::npos);
    }
  }
  EXPECT_TRUE(vdso);

  uint64_t probe = reinterpret_cast<uintptr_t>(&symbolizer_test::probe) + 1;
  const ResolvedAddress& r = s.resolve(probe);
  EXPECT_TRUE(r.symbolized);
  EXPECT_EQ(r.mapping_index, 0);
  EXPECT_EQ(r.frames.back().function, "symbolizer_test::probe(int)");
  EXPECT_EQ(r.frames.back().system_name, "_ZN15symbolizer_test5probeEi");
  EXPECT_EQ(&s.resolve(probe), &r);  // cached

  const ResolvedAddress& nowhere = s.resolve(8);
  EXPECT_EQ(nowhere.mapping_index, -1);
  EXPECT_FALSE(nowhere.symbolized);
  ASSERT_EQ(nowhere.frames.size(), 1u);
  EXPECT_EQ(nowhere.frames[0].function, "0x8");

  // Heap growth or new anonymous memory does not invalidate the cache.
  void* big = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(big, MAP_FAILED);
  s.refresh();
  EXPECT_EQ(&s.resolve(probe), &r);
  munmap(big, 1 << 20);
  EXPECT_EQ(symbolizer_test::probe(1), 3);
}

// libdw does not survive running out of memory (it exits, or crashes where it does not check
// an allocation): with under 64 MiB of address space left the backend is not asked, the
// frame keeps its module+offset, and that answer is kept only until the next refresh (the
// next dump); with room again the same address is named.
TEST(SymbolizerTest, NoRoomForLibdwNamesModuleAndOffsetUntilThereIsRoom) {
  profagent::testing::ChildResult child = profagent::testing::run_in_child([]() -> std::string {
    Symbolizer s;  // (no symbol cache: every name comes from the backend)
    uint64_t probe = reinterpret_cast<uintptr_t>(&symbolizer_test::probe) + 1;
    size_t pages = 0;
    if (FILE* statm = fopen("/proc/self/statm", "r")) {
      if (fscanf(statm, "%zu", &pages) != 1) pages = 0;
      fclose(statm);
    }
    rlimit tight{pages * 4096 + (size_t{16} << 20), RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &tight) != 0) return "setrlimit";
    std::string squeezed = s.resolve(probe).frames.back().function;
    rlimit loose{RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &loose) != 0) return "setrlimit back";
    if (squeezed.find("symbolizer_test") != std::string::npos) return "named squeezed: " + squeezed;
    s.refresh();  // (where a dump starts: answers given without room are dropped)
    std::string named = s.resolve(probe).frames.back().function;
    if (named != "symbolizer_test::probe(int)") return "not named with room: " + named;
    return "";
  });
  EXPECT_TRUE(child.passed()) << child.message << " (status " << child.status << ")";
}

// The backend points libdw's one call of error() (its out-of-memory exit) at its own
// function, which leaves libdw instead of ending the process (libdw_oom.h).
TEST(SymbolizerTest, TheBackendRedirectsLibdwsOutOfMemoryExit) {
  Symbolizer s;
  s.resolve(reinterpret_cast<uintptr_t>(&symbolizer_test::probe) + 1);  // loads the backend
  ASSERT_TRUE(profagent::symbolize::symbolize_backend_loaded());
  profagent::symbolize::BackendStats stats;
  profagent::symbolize::symbolize_backend()->stats(&stats);
  EXPECT_TRUE(stats.libdw_errors_redirected);
  EXPECT_FALSE(stats.libdw_out_of_memory);
}

TEST(SymbolizerTest, VanishedProcessFallsBackToAddresses) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  Symbolizer s(child);
  EXPECT_TRUE(s.mappings().empty());
  const ResolvedAddress& r = s.resolve(0x401000);
  EXPECT_EQ(r.mapping_index, -1);
  EXPECT_FALSE(r.symbolized);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0].function, "0x401000");
  s.refresh();
  EXPECT_TRUE(s.mappings().empty());
}

const MappingInfo* mapping_named(const Symbolizer& s, const std::string& filename) {
  for (const MappingInfo& m : s.mappings()) {
    if (m.filename == filename) return &m;
  }
  return nullptr;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(SymbolizerTest, RefreshSeesDlopen) {
  const std::string lib = kFixtureDir + "/libsymbolizer_fixture_lib.so";
  Symbolizer s;
  ASSERT_EQ(mapping_named(s, lib), nullptr);
  void* handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  auto address = reinterpret_cast<uintptr_t>(dlsym(handle, "fixture_lib_function")) + 1;
  s.refresh();
  const MappingInfo* m = mapping_named(s, lib);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->build_id, kLibBuildId);
  const ResolvedAddress& r = s.resolve(address);
  EXPECT_TRUE(r.symbolized);
  EXPECT_TRUE(r.has_file_line);
  EXPECT_EQ(r.frames.back().function, "fixture_lib_function");
  EXPECT_EQ(basename_of(r.frames.back().file), "fixture_lib.c");
  dlclose(handle);
}

// The backend's lookup count (process-wide), from the self-accounting line.
uint64_t backend_lookups(const Symbolizer& s) {
  std::string line = s.stats_line();
  size_t at = line.find(" lookups=");
  return at == std::string::npos ? 0 : std::strtoull(line.c_str() + at + 9, nullptr, 10);
}

// A dlopen or dlclose elsewhere keeps what the unchanged mappings' addresses resolved to (no
// lookup again, the same entry, its mapping index pointing at the same file even when the
// new library shifts the list); the addresses of a library that went away are resolved
// anew (to "0x...", nothing maps them now).
// The per-address answers are bounded: past kMaxResolved they are dropped at the next
// refresh (between profiles), and below it they stay.
TEST(SymbolizerTest, KeptAnswersAreDroppedAtARefreshPastTheirBound) {
  Symbolizer s;
  for (uint64_t i = 0; i < 10; ++i) s.resolve(0x1000 + i * 16);  // in no mapping
  s.refresh();
  EXPECT_EQ(s.resolved_count(), 10u);
  for (uint64_t i = 0; i <= Symbolizer::kMaxResolved; ++i) s.resolve(0x1000 + i * 16);
  EXPECT_EQ(s.resolved_count(), Symbolizer::kMaxResolved + 1);
  s.refresh();
  EXPECT_EQ(s.resolved_count(), 0u);
}

TEST(SymbolizerTest, ResolvedAddressesSurviveAnotherModuleChanging) {
  const std::string lib = kFixtureDir + "/libsymbolizer_fixture_lib.so";
  Symbolizer s;
  uint64_t probe = reinterpret_cast<uintptr_t>(&symbolizer_test::probe) + 1;
  uint64_t in_libc = reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "getpid")) + 1;
  const ResolvedAddress& own = s.resolve(probe);
  const ResolvedAddress& libc = s.resolve(in_libc);
  ASSERT_GE(libc.mapping_index, 0);
  const std::string libc_file = s.mappings()[static_cast<size_t>(libc.mapping_index)].filename;
  const std::string libc_name = libc.frames.back().function;

  void* handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  auto in_lib = reinterpret_cast<uintptr_t>(dlsym(handle, "fixture_lib_function")) + 1;
  s.refresh();
  ASSERT_NE(mapping_named(s, lib), nullptr);
  uint64_t lookups = backend_lookups(s);
  EXPECT_EQ(&s.resolve(probe), &own);
  EXPECT_EQ(&s.resolve(in_libc), &libc);
  EXPECT_EQ(backend_lookups(s), lookups) << "a kept address was looked up again";
  EXPECT_EQ(own.mapping_index, 0);
  ASSERT_GE(libc.mapping_index, 0);
  const MappingInfo& m = s.mappings()[static_cast<size_t>(libc.mapping_index)];
  EXPECT_EQ(m.filename, libc_file);
  EXPECT_TRUE(m.start <= in_libc && in_libc < m.limit);
  EXPECT_EQ(libc.frames.back().function, libc_name);
  const ResolvedAddress& r = s.resolve(in_lib);
  EXPECT_EQ(r.frames.back().function, "fixture_lib_function");
  EXPECT_EQ(s.mappings()[static_cast<size_t>(r.mapping_index)].filename, lib);

  dlclose(handle);
  s.refresh();
  ASSERT_EQ(mapping_named(s, lib), nullptr);
  const ResolvedAddress& gone = s.resolve(in_lib);
  EXPECT_FALSE(gone.symbolized);
  EXPECT_NE(gone.frames.back().function, "fixture_lib_function");
  EXPECT_EQ(&s.resolve(probe), &own);
  EXPECT_EQ(own.frames.back().function, "symbolizer_test::probe(int)");
}

// While a dump holds the mappings, refresh() reads nothing; hold_mappings() itself refreshes
// (a library loaded before it is listed), and after release_mappings() refresh() works again.
TEST(SymbolizerTest, HeldMappingsAreReadOncePerHold) {
  const std::string lib = kFixtureDir + "/libsymbolizer_fixture_lib.so";
  Symbolizer s;
  s.hold_mappings();
  void* handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  s.refresh();
  EXPECT_EQ(mapping_named(s, lib), nullptr) << "refresh() re-read the maps while held";
  s.release_mappings();
  s.hold_mappings(/*refresh_first=*/false);
  EXPECT_EQ(mapping_named(s, lib), nullptr);
  s.release_mappings();
  s.hold_mappings();
  EXPECT_NE(mapping_named(s, lib), nullptr);
  s.release_mappings();
  dlclose(handle);
  s.refresh();
  EXPECT_EQ(mapping_named(s, lib), nullptr);
}

// A library whose file is gone keeps its mapping (name without " (deleted)", build id read
// from memory) and never breaks resolution.
void check_vanished_library(const std::string& dlopen_path, const std::string& mapping_name) {
  void* handle = dlopen(dlopen_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  auto address = reinterpret_cast<uintptr_t>(dlsym(handle, "fixture_lib_function")) + 1;
  Symbolizer s;
  const MappingInfo* m = mapping_named(s, mapping_name);
  ASSERT_NE(m, nullptr) << mapping_name;
  EXPECT_EQ(m->build_id, kLibBuildId);
  const ResolvedAddress& r = s.resolve(address);
  ASSERT_FALSE(r.frames.empty());
  EXPECT_EQ(r.frames.back().function, "fixture_lib_function");
  EXPECT_TRUE(r.symbolized);
  EXPECT_EQ(&s.mappings()[static_cast<size_t>(r.mapping_index)], m);
  dlclose(handle);
}

TEST(SymbolizerTest, DeletedLibrary) {
  const std::string copy = ::testing::TempDir() + "symbolizer_deleted_lib.so";
  fs::copy_file(kFixtureDir + "/libsymbolizer_fixture_lib.so", copy,
                fs::copy_options::overwrite_existing);
  void* keep = dlopen(copy.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(keep, nullptr) << dlerror();
  fs::remove(copy);
  check_vanished_library(copy, copy);
  dlclose(keep);
}

TEST(SymbolizerTest, MemfdLibrary) {
  int fd = memfd_create("symbolizer_memfd_lib", 0);
  ASSERT_GE(fd, 0);
  std::string bytes = read_file(kFixtureDir + "/libsymbolizer_fixture_lib.so");
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  check_vanished_library("/proc/self/fd/" + std::to_string(fd), "/memfd:symbolizer_memfd_lib");
  close(fd);
}

// The persistent cache answers a second symbolizer without the backend, keyed by build id:
// a different binary copied to the same path is not answered from the first one's entries.
// Without DWARF a function's every address has the same answer: the cache keeps its range,
// so the next process resolves another address of it from the cache (no backend lookup);
// likewise the gap between two symbols where a stripped binary's static function lies (no
// name, "module+offset" of each address); with DWARF (lines differ by address) only the
// address itself is kept.
TEST(SymbolizerTest, SymbolOnlyFunctionIsCachedForItsWholeRange) {
  for (const char* name : {"symbolizer_fixture_c_nog", "symbolizer_fixture_c_g",
                           "symbolizer_fixture_c_stripped"}) {
    SCOPED_TRACE(name);
    // One cache each: the stripped binary keeps the -g build's build id.
    const std::string cache_dir = ::testing::TempDir() + "symbolizer_cache_ranges_" + name;
    fs::remove_all(cache_dir);
    Fixture fx(name);
    ASSERT_TRUE(fx.ready());
    uint64_t inside = fx.pc("static_helper"), entry = fx.fn("static_helper");
    ASSERT_NE(inside, entry);
    bool stripped = std::string(name).ends_with("_stripped");
    {
      Symbolizer s(fx.pid(), cache_dir);
      const ResolvedAddress& r = s.resolve(inside);
      EXPECT_EQ(r.symbolized, !stripped);
      if (!stripped) EXPECT_EQ(r.frames.back().function, "static_helper");
      s.save_cache();
    }
    Symbolizer again(fx.pid(), cache_dir);
    const ResolvedAddress& r = again.resolve(entry);
    if (stripped) {
      MapsLine line = maps_line_at(fx.pid(), entry);
      EXPECT_EQ(r.frames.back().function,
                "symbolizer_fixture_c_stripped+" + hex(entry - line.start + line.offset));
    } else {
      EXPECT_EQ(r.frames.back().function, "static_helper");
    }
    bool with_dwarf = std::string(name).ends_with("_g");
    EXPECT_NE(again.stats_line().find(with_dwarf ? "cache_hits=0 " : "cache_hits=1 "),
              std::string::npos)
        << again.stats_line();
  }
}

// The unwinder's tables share the cache directory and its bound: a save after tables were
// stored looks at the bound (here: a dead writer's stale temporary file goes), where a save
// that only added an address to an existing file does not.
TEST(SymbolizerTest, ASaveAfterUnwindTablesWereStoredLooksAtTheDirectorysBound) {
  const std::string cache_dir = ::testing::TempDir() + "symbolizer_cache_unwind_stored";
  fs::remove_all(cache_dir);
  Fixture fx("symbolizer_fixture_c_g");
  ASSERT_TRUE(fx.ready());
  // One symbolizer, as a process has: each save compares with the tables stored (by this
  // process) at its previous one.
  Symbolizer s(fx.pid(), cache_dir);
  s.resolve(fx.fn("main"));
  s.save_cache();  // makes the fixture's file
  const std::string stale = cache_dir + "/" + std::string(40, 'a') + ".unwind.tmp.1.0";
  std::ofstream(stale) << "x";
  timespec long_ago[2] = {{0, UTIME_OMIT}, {1000000, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, stale.c_str(), long_ago, 0), 0);
  s.resolve(fx.fn("outer_exported"));
  s.save_cache();  // the file grows by one address: no look
  EXPECT_TRUE(fs::exists(stale));
  set_unwind_cache_dir(cache_dir);
  const FrameDesc row{0, 8, 0, kCfaRsp, 0};
  const uint32_t index[3] = {0, 0, 0};
  store_unwind_table(std::string(40, 'b'), 8192, &row, 1, index, 3);
  set_unwind_cache_dir("");
  ASSERT_TRUE(fs::exists(cache_dir + "/" + std::string(40, 'b') + ".unwind"));
  s.resolve(fx.fn("static_helper"));
  s.save_cache();
  EXPECT_FALSE(fs::exists(stale));
}

TEST(SymbolizerTest, SymbolCacheIsKeyedByBuildIdNotPath) {
  const std::string cache_dir = ::testing::TempDir() + "symbolizer_cache_by_build_id";
  const std::string binary = ::testing::TempDir() + "symbolizer_changed_binary";
  fs::remove_all(cache_dir);
  fs::copy_file(kFixtureDir + "/symbolizer_fixture_c_g", binary,
                fs::copy_options::overwrite_existing);
  uint64_t helper_pc = 0;
  {
    Fixture fx(binary);
    ASSERT_TRUE(fx.ready());
    helper_pc = fx.pc("static_helper");
    Symbolizer s(fx.pid(), cache_dir);
    const ResolvedAddress& r = s.resolve(helper_pc);
    EXPECT_EQ(r.frames.back().function, "static_helper");
    EXPECT_TRUE(r.has_file_line);
    s.save_cache();
    EXPECT_NE(s.stats_line().find("cache_misses=1 "), std::string::npos) << s.stats_line();
    // Same binary again: answered from the cache file.
    Symbolizer again(fx.pid(), cache_dir);
    const ResolvedAddress& cached = again.resolve(helper_pc);
    EXPECT_EQ(cached.frames.back().function, "static_helper");
    EXPECT_TRUE(cached.has_file_line);
    EXPECT_NE(again.stats_line().find("cache_hits=1 "), std::string::npos) << again.stats_line();
  }
  EXPECT_TRUE(fs::exists(cache_dir + "/0123456789abcdef0123456789abcdef01234567.sym"));
  // Another build (no DWARF, another build id) at the same path.
  fs::remove(binary);
  fs::copy_file(kFixtureDir + "/symbolizer_fixture_c_nog", binary);
  Fixture fx(binary);
  ASSERT_TRUE(fx.ready());
  Symbolizer s(fx.pid(), cache_dir);
  EXPECT_EQ(s.mappings()[0].build_id, "1123456789abcdef0123456789abcdef01234567");
  const ResolvedAddress& r = s.resolve(fx.pc("static_helper"));
  EXPECT_EQ(r.frames.back().function, "static_helper");
  EXPECT_FALSE(r.has_file_line);  // the first binary's file:line would be a stale answer
  EXPECT_NE(s.stats_line().find("cache_hits=0 "), std::string::npos) << s.stats_line();
  fs::remove(binary);
}

}  // namespace
}  // namespace profagent
