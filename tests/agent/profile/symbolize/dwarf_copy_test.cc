// The backend's decompressed DWARF copy (backend/dwarf_copy.h): answers read through the copy
// are those read from the compressed file itself (every address of a fixture with inline
// chains, a spread of libc's), the first open writes it and the next reads it instead of
// inflating, and a corrupt, truncated or foreign copy, an unwritable directory or a file
// without compressed DWARF are handled as the symbol cache's files are. Talks to
// libprofagent-symbolize.so through its entry points, as the agent does.
#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "agent/profile/symbolize/backend_api.h"
#include "agent/profile/symbolize/backend_loader.h"
#include "agent/profile/symbolize/build_id.h"

#ifndef SYMBOLIZER_FIXTURE_DIR
#error "SYMBOLIZER_FIXTURE_DIR must name the build directory of the fixtures"
#endif

namespace profagent::symbolize {
namespace {

namespace fs = std::filesystem;

const std::string kFixtureDir = SYMBOLIZER_FIXTURE_DIR;
const std::string kCppGz = kFixtureDir + "/symbolizer_fixture_cpp_gz";
const std::string kCppGzId = "5123456789abcdef0123456789abcdef01234567";
const std::string kCGz = kFixtureDir + "/symbolizer_fixture_c_gz";
const std::string kCGzId = "6123456789abcdef0123456789abcdef01234567";
const std::string kCppPlain = kFixtureDir + "/symbolizer_fixture_cpp_g";
const std::string kLibc = "/lib/x86_64-linux-gnu/libc.so.6";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// [start, end) of the file's .text, as ELF virtual addresses (read independently of libelf).
std::pair<uint64_t, uint64_t> text_range(const std::string& path) {
  std::string bytes = read_file(path);
  if (bytes.size() < sizeof(Elf64_Ehdr)) return {0, 0};
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof eh);
  auto shdr = [&](size_t i) {
    Elf64_Shdr sh;
    std::memcpy(&sh, bytes.data() + eh.e_shoff + i * sizeof sh, sizeof sh);
    return sh;
  };
  Elf64_Shdr names = shdr(eh.e_shstrndx);
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh = shdr(i);
    if (std::strcmp(bytes.data() + names.sh_offset + sh.sh_name, ".text") == 0)
      return {sh.sh_addr, sh.sh_addr + sh.sh_size};
  }
  return {0, 0};
}

std::string fresh_dir(const std::string& tag) {
  std::string dir = fs::temp_directory_path() / ("dwarf-copy-test." + tag + "." +
                                                 std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  chmod(dir.c_str(), 0700);
  return dir;
}

const BackendApi& api() {
  const BackendApi* a = symbolize_backend();
  if (a == nullptr) std::abort();
  return *a;
}

BackendStats stats() {
  BackendStats s;
  api().stats(&s);
  return s;
}

// Every answer of the backend for `addresses` of the object at `path`, as text, with DWARF
// copies in `dir` ("" = none).
struct Answers {
  std::vector<std::string> text;
  size_t inline_chains = 0;  // answers with more than one frame
  size_t with_lines = 0;
  // What this call did about DWARF copies (the backend's counters before and after it).
  uint64_t decompressed = 0, copies_read = 0, copies_checked = 0, copies_written = 0;
};

Answers answers(const std::string& path, const std::string& dir,
                const std::vector<uint64_t>& addresses) {
  Answers out;
  BackendStats before = stats();
  void* object = api().open_object(path.c_str(), "", dir.c_str());
  if (object == nullptr) {
    ADD_FAILURE() << "cannot open " << path;
    return out;
  }
  for (uint64_t vaddr : addresses) {
    std::vector<SourceFrame> frames;
    bool has_file_line = false;
    uint64_t from = 0, to = 0;
    bool named = api().lookup(object, vaddr, &frames, &has_file_line, &from, &to);
    std::ostringstream s;
    s << std::hex << vaddr << std::dec << " named=" << named << " lines=" << has_file_line
      << " same=" << from << "-" << to;
    for (const SourceFrame& f : frames)
      s << " | " << f.function << " [" << f.system_name << "] " << f.file << ":" << f.line
        << " decl " << f.start_line;
    out.text.push_back(s.str());
    if (frames.size() > 1) out.inline_chains++;
    if (has_file_line) out.with_lines++;
  }
  api().close_object(object);
  BackendStats after = stats();
  out.decompressed = after.dwarf_decompressed - before.dwarf_decompressed;
  out.copies_read = after.dwarf_copies_read - before.dwarf_copies_read;
  out.copies_checked = after.dwarf_copies_checked - before.dwarf_copies_checked;
  out.copies_written = after.dwarf_copies_written - before.dwarf_copies_written;
  return out;
}

std::vector<uint64_t> every_address(const std::string& path, uint64_t stride) {
  auto [start, end] = text_range(path);
  std::vector<uint64_t> out;
  for (uint64_t a = start; a < end; a += stride) out.push_back(a);
  return out;
}

void expect_same(const Answers& expected, const Answers& got) {
  ASSERT_EQ(expected.text.size(), got.text.size());
  size_t differ = 0;
  for (size_t i = 0; i < expected.text.size(); ++i) {
    if (expected.text[i] == got.text[i]) continue;
    if (++differ <= 5) ADD_FAILURE() << "expected " << expected.text[i] << "\n     got " << got.text[i];
  }
  EXPECT_EQ(differ, 0u);
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename());
  return names;
}

TEST(DwarfCopy, FixtureAnswersThroughTheCopyAreTheCompressedFilesAtEveryAddress) {
  std::string dir = fresh_dir("fixture");
  std::vector<uint64_t> addresses = every_address(kCppGz, 1);
  ASSERT_GT(addresses.size(), 100u);
  Answers direct = answers(kCppGz, "", addresses);
  EXPECT_GT(direct.inline_chains, 0u) << "the fixture has no inline chain to compare";
  EXPECT_GT(direct.with_lines, addresses.size() / 2);

  Answers writing = answers(kCppGz, dir, addresses);
  EXPECT_EQ(writing.decompressed, 1u);
  EXPECT_EQ(writing.copies_written, 1u);
  EXPECT_EQ(names_in(dir), std::vector<std::string>{kCppGzId + ".dwarf"});
  struct stat st;
  ASSERT_EQ(stat((dir + "/" + kCppGzId + ".dwarf").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  Answers reading = answers(kCppGz, dir, addresses);
  EXPECT_EQ(reading.copies_read, 1u);
  EXPECT_EQ(reading.decompressed, 0u) << "inflated again";
  EXPECT_EQ(reading.copies_written, 0u);
  expect_same(direct, writing);
  expect_same(direct, reading);
  fs::remove_all(dir);
}

// glibc's separate debug info (zlib-compressed sections, thousands of compile units, DWARF 5
// with inline chains everywhere).
TEST(DwarfCopy, LibcAnswersThroughTheCopyAreTheCompressedFiles) {
  std::string id = build_id_from_file(kLibc);
  if (id.size() < 3 || !fs::exists("/usr/lib/debug/.build-id/" + id.substr(0, 2) + "/" +
                                   id.substr(2) + ".debug"))
    GTEST_SKIP() << "libc6-dbg is not installed";
  std::string dir = fresh_dir("libc");
  std::vector<uint64_t> addresses = every_address(kLibc, 397);
  ASSERT_GT(addresses.size(), 1000u);
  Answers direct = answers(kLibc, "", addresses);
  EXPECT_GT(direct.inline_chains, 50u);
  answers(kLibc, dir, {addresses[0]});  // writes the copy
  ASSERT_TRUE(fs::exists(dir + "/" + id + ".dwarf"));
  Answers reading = answers(kLibc, dir, addresses);
  EXPECT_EQ(reading.copies_read, 1u);
  EXPECT_EQ(reading.decompressed, 0u);
  expect_same(direct, reading);
  fs::remove_all(dir);
}

TEST(DwarfCopy, CorruptOrTruncatedCopyIsIgnoredAndRewritten) {
  std::vector<uint64_t> addresses = every_address(kCppGz, 3);
  Answers direct = answers(kCppGz, "", addresses);
  for (int damage = 0; damage < 3; ++damage) {
    std::string dir = fresh_dir("corrupt");
    std::string path = dir + "/" + kCppGzId + ".dwarf";
    answers(kCppGz, dir, {addresses[0]});
    std::string bytes = read_file(path);
    ASSERT_GT(bytes.size(), 1000u);
    if (damage == 0) bytes[bytes.size() / 2] ^= 0x40;    // a bit inside the DWARF
    if (damage == 1) bytes.resize(bytes.size() - 100);  // truncated
    if (damage == 2) bytes.resize(10);                   // a stub
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;

    Answers got = answers(kCppGz, dir, addresses);
    EXPECT_EQ(got.copies_read, 0u) << damage;
    EXPECT_EQ(got.decompressed, 1u) << damage;
    EXPECT_EQ(got.copies_written, 1u) << damage;
    expect_same(direct, got);
    // Rewritten whole: the next open reads it (and marks it checked).
    EXPECT_EQ(answers(kCppGz, dir, {addresses[0]}).copies_read, 1u) << damage;
    std::vector<std::string> names = names_in(dir);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{kCppGzId + ".dwarf", kCppGzId + ".dwarf.ok"}))
        << "a temporary file was left, or no mark";
    fs::remove_all(dir);
  }
}

// The first open of a copy reads it whole for its checksum and marks it checked
// (`<id>.dwarf.ok`); the next open skips that pass. A copy changed after the mark (written
// in place, its modification time moved) is checked whole again and, damaged, rewritten.
TEST(DwarfCopy, ACopyCheckedWholeIsMarkedAndNotReadWholeAgainUntilItChanges) {
  std::string dir = fresh_dir("mark");
  std::vector<uint64_t> addresses = every_address(kCppGz, 3);
  Answers direct = answers(kCppGz, "", addresses);
  answers(kCppGz, dir, {addresses[0]});  // writes the copy
  std::string path = dir + "/" + kCppGzId + ".dwarf";
  ASSERT_TRUE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".ok")) << "marked before any check";
  auto checked = [&](const Answers& a) { return a.copies_checked; };

  Answers first = answers(kCppGz, dir, addresses);
  EXPECT_EQ(first.copies_read, 1u);
  EXPECT_EQ(checked(first), 1u);
  EXPECT_TRUE(fs::exists(path + ".ok"));
  struct stat st;
  ASSERT_EQ(stat((path + ".ok").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  expect_same(direct, first);

  Answers second = answers(kCppGz, dir, addresses);
  EXPECT_EQ(second.copies_read, 1u);
  EXPECT_EQ(checked(second), 0u) << "read whole again despite its mark";
  expect_same(direct, second);

  // Damaged in place (same file, same size): its modification time moved, the mark no longer
  // matches, the whole check finds the damage, the copy is rewritten.
  // (File times come from the kernel's coarse clock, a tick of up to 10 ms: let one pass.)
  usleep(20 * 1000);
  std::string bytes = read_file(path);
  bytes[bytes.size() / 2] ^= 0x40;
  std::ofstream(path, std::ios::binary | std::ios::in | std::ios::out)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  Answers damaged = answers(kCppGz, dir, addresses);
  EXPECT_EQ(checked(damaged), 1u);
  EXPECT_EQ(damaged.copies_read, 0u);
  EXPECT_EQ(damaged.copies_written, 1u);
  expect_same(direct, damaged);
  fs::remove_all(dir);
}

// A binary rebuilt (another build id) never reads the copy of the old one, even under its
// name.
TEST(DwarfCopy, CopyOfAnotherBuildIsNotUsed) {
  std::string dir = fresh_dir("other");
  answers(kCGz, dir, every_address(kCGz, 64));
  ASSERT_TRUE(fs::exists(dir + "/" + kCGzId + ".dwarf"));
  fs::rename(dir + "/" + kCGzId + ".dwarf", dir + "/" + kCppGzId + ".dwarf");

  std::vector<uint64_t> addresses = every_address(kCppGz, 1);
  Answers direct = answers(kCppGz, "", addresses);
  Answers got = answers(kCppGz, dir, addresses);
  EXPECT_EQ(got.copies_read, 0u);
  EXPECT_EQ(got.copies_written, 1u);
  expect_same(direct, got);
  fs::remove_all(dir);
}

TEST(DwarfCopy, UnwritableDirectoryOrUncompressedDwarfWritesNothing) {
  std::vector<uint64_t> addresses = every_address(kCppGz, 5);
  Answers direct = answers(kCppGz, "", addresses);
  Answers unwritable = answers(kCppGz, "/proc/self/no-such-dir", addresses);
  expect_same(direct, unwritable);
  EXPECT_EQ(unwritable.copies_written, 0u);

  // Plain DWARF opens without inflating anything: nothing to copy.
  std::string dir = fresh_dir("plain");
  EXPECT_EQ(answers(kCppPlain, dir, every_address(kCppPlain, 5)).decompressed, 0u);
  EXPECT_TRUE(names_in(dir).empty());
  fs::remove_all(dir);
}

// A copy that is not ours (another owner) or a symlink to one is not read.
// One writer per build id: while another process holds the writer's temporary file, no
// copy is written (and no second ~8 MiB temporary appears); a writer's file left by a
// process that died is taken over once it is a minute old.
TEST(DwarfCopy, OnlyOneWriterAtATimeAndAStaleWritersFileIsTakenOver) {
  std::vector<uint64_t> addresses = every_address(kCppGz, 7);
  Answers direct = answers(kCppGz, "", addresses);
  std::string dir = fresh_dir("writer");
  std::string busy = dir + "/" + kCppGzId + ".dwarf.tmp.w";
  std::ofstream(busy) << "another process is writing";
  Answers busy_writer = answers(kCppGz, dir, addresses);
  expect_same(direct, busy_writer);
  EXPECT_EQ(busy_writer.copies_written, 0u);
  EXPECT_EQ(names_in(dir), std::vector<std::string>{kCppGzId + ".dwarf.tmp.w"});

  timespec old_times[2] = {{time(nullptr) - 120, 0}, {time(nullptr) - 120, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, busy.c_str(), old_times, 0), 0);  // its writer died
  Answers taken_over = answers(kCppGz, dir, addresses);
  expect_same(direct, taken_over);
  EXPECT_EQ(taken_over.copies_written, 1u);
  EXPECT_EQ(names_in(dir), std::vector<std::string>{kCppGzId + ".dwarf"});
  fs::remove_all(dir);
}

// Under a file-size limit smaller than the copy nothing is even tried (the write would fail
// with EFBIG, or raise SIGXFSZ, after all the work), and the answers are the same.
TEST(DwarfCopy, AFileSizeLimitBelowTheCopyWritesNothing) {
  std::vector<uint64_t> addresses = every_address(kCppGz, 11);
  Answers direct = answers(kCppGz, "", addresses);
  std::string dir = fresh_dir("fsize");
  sigset_t xfsz, saved_mask;
  sigemptyset(&xfsz);
  sigaddset(&xfsz, SIGXFSZ);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &xfsz, &saved_mask), 0);  // a write past it: pending
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  Answers got = answers(kCppGz, dir, addresses);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  sigset_t pending;
  sigpending(&pending);
  bool tried = sigismember(&pending, SIGXFSZ) == 1;
  timespec no_wait{0, 0};
  if (tried) sigtimedwait(&xfsz, nullptr, &no_wait);
  pthread_sigmask(SIG_SETMASK, &saved_mask, nullptr);
  EXPECT_FALSE(tried) << "a write past RLIMIT_FSIZE was attempted";
  expect_same(direct, got);
  EXPECT_EQ(got.copies_written, 0u);
  EXPECT_TRUE(names_in(dir).empty());
  fs::remove_all(dir);
}

TEST(DwarfCopy, SymlinkedCopyIsNotRead) {
  std::string dir = fresh_dir("link");
  std::string elsewhere = fresh_dir("link-target");
  answers(kCppGz, elsewhere, every_address(kCppGz, 64));
  fs::create_symlink(elsewhere + "/" + kCppGzId + ".dwarf", dir + "/" + kCppGzId + ".dwarf");
  EXPECT_EQ(answers(kCppGz, dir, every_address(kCppGz, 64)).copies_read, 0u);
  fs::remove_all(dir);
  fs::remove_all(elsewhere);
}

}  // namespace
}  // namespace profagent::symbolize
