// The persistent symbol cache: round trip, file and directory modes, many processes writing
// one file at once, a corrupt file, a full disk (RLIMIT_FSIZE), an unusable directory,
// eviction of the oldest files, and the directory a PROFAGENT_SYMBOL_CACHE setting names.
#include "agent/profile/symbolize/symbol_cache.h"

#include "agent/core/config.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace profagent::symbolize {
namespace {

namespace fs = std::filesystem;

const std::string kId = "93ac61ec5a8eb1396f9fbd350e3169a558528a40";

std::string fresh_dir(const std::string& name) {
  std::string dir = testing::TempDir() + "symbol_cache_" + name;
  fs::remove_all(dir);
  return dir;
}

CachedSymbol entry(const std::string& name, int64_t line) {
  CachedSymbol e;
  e.symbolized = true;
  e.has_file_line = line > 0;
  SourceFrame inlined;
  inlined.function = name + "_inlined";
  inlined.system_name = "_Z" + name;
  inlined.file = "/src/" + name + ".cc";
  inlined.line = line;
  SourceFrame physical;
  physical.function = name;
  physical.file = "/src/outer.cc";
  physical.line = line + 1;
  physical.start_line = 3;
  e.frames = {inlined, physical};
  return e;
}

int files_in(const std::string& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

TEST(SymbolCache, RoundTripWithPrivateModes) {
  std::string dir = fresh_dir("roundtrip") + "/nested/profagent";
  {
    SymbolCache cache(dir);
    EXPECT_EQ(cache.find(kId, 0x1234), nullptr);
    cache.add(kId, 0x1234, entry("f", 42));
    cache.add(kId, 0x99, entry("g", 0));
    cache.save();
    EXPECT_EQ(cache.stats().files_written, 1u);
  }
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((dir + "/" + kId + ".sym").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  SymbolCache cache(dir);
  const CachedSymbol* hit = cache.find(kId, 0x1234);
  ASSERT_NE(hit, nullptr);
  EXPECT_TRUE(hit->symbolized);
  EXPECT_TRUE(hit->has_file_line);
  ASSERT_EQ(hit->frames.size(), 2u);
  EXPECT_EQ(hit->frames[0].function, "f_inlined");
  EXPECT_EQ(hit->frames[0].system_name, "_Zf");
  EXPECT_EQ(hit->frames[0].file, "/src/f.cc");
  EXPECT_EQ(hit->frames[0].line, 42);
  EXPECT_EQ(hit->frames[1].function, "f");
  EXPECT_EQ(hit->frames[1].start_line, 3);
  ASSERT_NE(cache.find(kId, 0x99), nullptr);
  EXPECT_FALSE(cache.find(kId, 0x99)->has_file_line);
  EXPECT_EQ(cache.find(kId, 0x98), nullptr);
  // Another build id never answers for this one.
  EXPECT_EQ(cache.find("aa" + kId.substr(2), 0x1234), nullptr);
  EXPECT_EQ(cache.stats().hits, 3u);
}

// A function known by its symbol alone is cached for its whole range: any offset inside it is
// answered, by this process and the next (through the file, the large-file path included),
// and nothing outside it.
TEST(SymbolCache, RangeEntryAnswersEveryOffsetOfItsFunction) {
  std::string dir = fresh_dir("ranges");
  CachedSymbol f = entry("symbol_only", 0);
  f.frames.erase(f.frames.begin());  // the physical frame alone
  f.span = 0x40;
  {
    SymbolCache cache(dir);
    cache.add(kId, 0x1000, f);
    cache.add(kId, 0x1010, entry("exact", 7));  // an exact entry inside keeps its own answer
    ASSERT_NE(cache.find(kId, 0x1033), nullptr);  // this process, before any save
    EXPECT_EQ(cache.find(kId, 0x1033)->frames[0].function, "symbol_only");
    cache.save();
  }
  SymbolCache cache(dir);
  for (uint64_t off : {0x1000, 0x1001, 0x1020, 0x103f}) {
    const CachedSymbol* hit = cache.find(kId, off);
    ASSERT_NE(hit, nullptr) << off;
    EXPECT_EQ(hit->frames[0].function, "symbol_only") << off;
    EXPECT_EQ(hit->span, 0x40u);
  }
  ASSERT_NE(cache.find(kId, 0x1010), nullptr);
  EXPECT_EQ(cache.find(kId, 0x1010)->frames[1].function, "exact");
  EXPECT_EQ(cache.find(kId, 0x0fff), nullptr);
  EXPECT_EQ(cache.find(kId, 0x1040), nullptr);
  // The range survives the file format's parse (the merge at save) too.
  std::ifstream in(dir + "/" + kId + ".sym", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::unordered_map<uint64_t, CachedSymbol> parsed;
  ASSERT_TRUE(SymbolCache::parse(bytes, kId, &parsed));
  EXPECT_EQ(parsed.at(0x1000).span, 0x40u);
  EXPECT_EQ(parsed.at(0x1010).span, 0u);
}

int open_descriptors() {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

// A lookup in a large file (421 KiB here) reads the index and the record it needs; a damaged
// record costs only itself; no descriptor is kept.
TEST(SymbolCache, DamagedRecordMissesAloneAndNoDescriptorIsKept) {
  std::string dir = fresh_dir("records");
  {
    SymbolCache cache(dir);
    for (uint64_t i = 0; i < 3000; ++i) cache.add(kId, i * 16, entry("f" + std::to_string(i), 7));
    cache.save();
  }
  std::string path = dir + "/" + kId + ".sym";
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  bytes[bytes.size() - 20] ^= 0x55;  // inside the last record (the highest offset)
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes; }
  int before = open_descriptors();
  SymbolCache cache(dir);
  EXPECT_EQ(cache.find(kId, 2999 * 16), nullptr);
  const CachedSymbol* hit = cache.find(kId, 500 * 16);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->frames[1].function, "f500");
  cache.save();
  EXPECT_EQ(open_descriptors(), before);
  EXPECT_NE(cache.find(kId, 3 * 16), nullptr);  // a later dump reopens the file
  cache.save();
  EXPECT_EQ(open_descriptors(), before);
}

TEST(SymbolCache, ManyProcessesWritingAtOnceLeaveAWholeFile) {
  std::string dir = fresh_dir("concurrent");
  constexpr int kWriters = 8, kRounds = 20, kPerRound = 50;
  std::vector<pid_t> pids;
  for (int w = 0; w < kWriters; ++w) {
    pid_t pid = fork();
    if (pid == 0) {
      SymbolCache cache(dir);
      for (int r = 0; r < kRounds; ++r) {
        for (int i = 0; i < kPerRound; ++i) {
          uint64_t offset = static_cast<uint64_t>(w) << 32 | static_cast<uint64_t>(r * kPerRound + i);
          cache.add(kId, offset, entry("w" + std::to_string(w), r * kPerRound + i + 1));
        }
        cache.save();
      }
      _exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(files_in(dir), 1) << "temporary files left behind";
  std::ifstream in(dir + "/" + kId + ".sym", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::unordered_map<uint64_t, CachedSymbol> entries;
  ASSERT_TRUE(SymbolCache::parse(bytes, kId, &entries));
  // The last writer's rename leaves at least its own whole set (merges keep more).
  EXPECT_GE(entries.size(), static_cast<size_t>(kRounds * kPerRound));
  for (const auto& [offset, e] : entries) {
    int w = static_cast<int>(offset >> 32);
    ASSERT_EQ(e.frames.size(), 2u);
    EXPECT_EQ(e.frames[1].function, "w" + std::to_string(w));
    EXPECT_EQ(e.frames[0].line, static_cast<int64_t>(offset & 0xffffffff) + 1);
  }
}

TEST(SymbolCache, CorruptOrTruncatedFileIsIgnoredAndRewritten) {
  std::string dir = fresh_dir("corrupt");
  {
    SymbolCache cache(dir);
    cache.add(kId, 1, entry("f", 1));
    cache.save();
  }
  std::string path = dir + "/" + kId + ".sym";
  std::string good;
  {
    std::ifstream in(path, std::ios::binary);
    good.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  for (const std::string& bad :
       {good.substr(0, good.size() / 2), std::string("garbage"), std::string(),
        good.substr(0, 30) + "X" + good.substr(31)}) {
    { std::ofstream(path, std::ios::binary | std::ios::trunc) << bad; }
    SymbolCache cache(dir);
    EXPECT_EQ(cache.find(kId, 1), nullptr);
    cache.add(kId, 2, entry("g", 2));
    cache.save();
    SymbolCache reread(dir);
    EXPECT_NE(reread.find(kId, 2), nullptr) << "rebuilt after corruption";
  }
}

TEST(SymbolCache, FullDiskLeavesNoFileAndNoTemporary) {
  std::string dir = fresh_dir("full");
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);  // the agent blocks it during dumps
    rlimit small{200, 200};
    setrlimit(RLIMIT_FSIZE, &small);
    SymbolCache cache(dir);
    for (int i = 0; i < 100; ++i) cache.add(kId, static_cast<uint64_t>(i), entry("f", i + 1));
    cache.save();
    _exit(cache.stats().files_written == 0 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(files_in(dir), 0);
}

TEST(SymbolCache, UnusableDirectoryIsSkippedSilently) {
  SymbolCache under_proc("/proc/self/profagent-cache");
  under_proc.add(kId, 1, entry("f", 1));
  under_proc.save();
  EXPECT_EQ(under_proc.stats().files_written, 0u);
  // A directory others can write to is not trusted (names could be planted).
  std::string dir = fresh_dir("shared");
  fs::create_directories(dir);
  chmod(dir.c_str(), 0777);
  SymbolCache shared(dir);
  shared.add(kId, 1, entry("f", 1));
  shared.save();
  EXPECT_EQ(shared.stats().files_written, 0u);
  EXPECT_EQ(files_in(dir), 0);
}

TEST(SymbolCache, OldestFilesAreEvictedBeyondTheBound) {
  std::string dir = fresh_dir("evict");
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    std::string id = std::string(1, static_cast<char>('a' + i)) + kId.substr(1);
    ids.push_back(id);
    SymbolCache cache(dir, 3000);
    for (int j = 0; j < 10; ++j) cache.add(id, static_cast<uint64_t>(j), entry("f", j + 1));
    cache.save();
    // Distinct modification times, oldest first.
    timespec times[2] = {{0, UTIME_OMIT}, {1000000 + i * 10, 0}};
    utimensat(AT_FDCWD, (dir + "/" + id + ".sym").c_str(), times, 0);
  }
  uintmax_t total = 0;
  for (const auto& e : fs::directory_iterator(dir)) total += e.file_size();
  EXPECT_LE(total, 3000u);
  EXPECT_TRUE(fs::exists(dir + "/" + ids.back() + ".sym"));
  EXPECT_FALSE(fs::exists(dir + "/" + ids.front() + ".sym"));
}

// The bound is looked at (every file of the directory stat'ed) only when it may have been
// crossed: a file made, or one grown past a multiple of kEvictionStepBytes. A process that
// adds a few addresses to an existing file (most exits) does not scan the directory, so an
// old file over the bound stays until then.
TEST(SymbolCache, TheBoundIsLookedAtWhenAFileIsMadeOrGrowsByAStep) {
  std::string dir = fresh_dir("evict-step");
  constexpr uint64_t kBound = 400000;  // a file of this size alone is over it
  {
    SymbolCache cache(dir, kBound);
    cache.add(kId, 1, entry("f", 1));
    cache.save();  // made: the directory is within the bound
  }
  std::string old_file = dir + "/" + std::string(40, 'c') + ".unwind";
  std::ofstream(old_file) << std::string(kBound, 'x');  // now over it
  timespec long_ago[2] = {{0, UTIME_OMIT}, {1000000, 0}};
  utimensat(AT_FDCWD, old_file.c_str(), long_ago, 0);
  {
    SymbolCache cache(dir, kBound);
    cache.add(kId, 2, entry("g", 2));  // kId's file rewritten, a few bytes larger
    cache.save();
    EXPECT_EQ(cache.stats().files_written, 1u);
  }
  EXPECT_TRUE(fs::exists(old_file));
  {
    SymbolCache cache(dir, kBound);
    std::string other = std::string(1, 'e') + kId.substr(1);
    cache.add(other, 1, entry("h", 1));  // a new file: the bound is looked at
    cache.save();
  }
  EXPECT_FALSE(fs::exists(old_file));
  // A file that grows past a step is looked at too.
  std::ofstream(old_file) << std::string(kBound, 'x');
  utimensat(AT_FDCWD, old_file.c_str(), long_ago, 0);
  {
    SymbolCache cache(dir, kBound);
    for (int i = 0; i < 1500; ++i)  // over 64 KiB more
      cache.add(kId, static_cast<uint64_t>(100 + i), entry("a_rather_long_function_name", i));
    cache.save();
  }
  EXPECT_GT(fs::file_size(dir + "/" + kId + ".sym"), SymbolCache::kEvictionStepBytes);
  EXPECT_FALSE(fs::exists(old_file));
}

// The backend's decompressed DWARF copies (<build id>.dwarf) count in the same bound and are
// evicted oldest first like the rest; a dead writer's temporary copy goes too.
// The backend's DWARF copies are evicted within half the bound, apart from the small files:
// an old copy over it goes (with a stale temporary of one), and a copy never pushes small
// files out, nor small files a copy.
TEST(SymbolCache, DwarfCopiesHaveABoundOfTheirOwn) {
  std::string dir = fresh_dir("evict-dwarf");
  fs::create_directory(dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
  std::string copy = dir + "/" + std::string(40, 'd') + ".dwarf";
  std::string temp = copy + ".tmp.1.0";
  for (const std::string& path : {copy, temp}) {
    std::ofstream(path) << std::string(2000, 'x');  // within the bound, over half of it
    timespec times[2] = {{0, UTIME_OMIT}, {1000000, 0}};  // long ago
    utimensat(AT_FDCWD, path.c_str(), times, 0);
  }
  // Its "checked whole" mark goes with it; a mark whose copy is gone goes too; one whose
  // copy stays, stays.
  std::string orphan_mark = dir + "/" + std::string(40, 'e') + ".dwarf.ok";
  std::string kept_copy = dir + "/" + std::string(40, 'f') + ".dwarf";
  for (const std::string& path : {copy + ".ok", orphan_mark, kept_copy, kept_copy + ".ok"})
    std::ofstream(path) << std::string(path == kept_copy ? 100 : 72, 'x');
  ASSERT_TRUE(fs::exists(copy) && fs::exists(temp));
  SymbolCache cache(dir, 3000);  // copies: 1500
  cache.add(kId, 1, entry("f", 1));
  cache.save();
  EXPECT_FALSE(fs::exists(copy));
  EXPECT_FALSE(fs::exists(copy + ".ok"));
  EXPECT_FALSE(fs::exists(orphan_mark));
  EXPECT_TRUE(fs::exists(kept_copy));
  EXPECT_TRUE(fs::exists(kept_copy + ".ok"));
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_TRUE(fs::exists(dir + "/" + kId + ".sym"));
}

TEST(SymbolCache, ACopyNeverPushesOutSmallFilesNorTheyACopy) {
  std::string dir = fresh_dir("evict-pools");
  fs::create_directory(dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
  std::vector<std::string> small;
  for (char c : {'a', 'b', 'c'}) {  // old small files: 9,000 bytes of a 10,000 bound
    small.push_back(dir + "/" + std::string(40, c) + ".unwind");
    std::ofstream(small.back()) << std::string(3000, 'x');
    timespec times[2] = {{0, UTIME_OMIT}, {1000000, 0}};
    utimensat(AT_FDCWD, small.back().c_str(), times, 0);
  }
  std::string copy = dir + "/" + std::string(40, 'd') + ".dwarf";  // new, within 5,000
  std::ofstream(copy) << std::string(4500, 'x');
  SymbolCache cache(dir, 10000);
  cache.save(/*other_files_written=*/true);  // together 13,500: over a shared bound
  for (const std::string& f : small) EXPECT_TRUE(fs::exists(f)) << f;
  EXPECT_TRUE(fs::exists(copy));
}

TEST(SymbolCache, DirectoryFromTheSetting) {
  EXPECT_EQ(symbol_cache_directory("off", "/x", "/home/u"), "");
  EXPECT_EQ(symbol_cache_directory("/var/cache/p", "/x", "/home/u"), "/var/cache/p");
  EXPECT_EQ(symbol_cache_directory("", "/xdg", "/home/u"), "/xdg/profagent");
  EXPECT_EQ(symbol_cache_directory("", "relative", "/home/u"), "/home/u/.cache/profagent");
  EXPECT_EQ(symbol_cache_directory("", nullptr, "/home/u"), "/home/u/.cache/profagent");
  EXPECT_EQ(symbol_cache_directory("", nullptr, nullptr), "");  // a daemon without a home
  EXPECT_EQ(symbol_cache_directory("", nullptr, "/"), "");
}

}  // namespace
}  // namespace profagent::symbolize
