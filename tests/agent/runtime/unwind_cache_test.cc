// The unwind-table cache: a stored table loads back identical; a truncated or mismatched file
// is refused, a damaged one fails its checksum when checked, a bad page index is never
// followed; no directory means no cache.
#include "agent/runtime/unwind/unwind_cache.h"
#include "agent/runtime/unwind/dwarf_cfi.h"
#include "agent/runtime/unwind/unwind_tables.h"
#include "agent/runtime/unwind/deferred_tables.h"

#include <gtest/gtest.h>
#include <link.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace profagent {
namespace {

class UnwindCache : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/unwind-cache-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    set_unwind_cache_dir(dir_ + "/cache");  // made by the first store
    for (uint32_t i = 0; i < 100; ++i)
      rows_.push_back(FrameDesc{i * 64, static_cast<int32_t>(8 + i), 0, kCfaRsp, 0});
    index_ = {0, 63, 99};
  }
  void TearDown() override {
    set_unwind_cache_dir("");
    std::filesystem::remove_all(dir_);
  }
  void store() {
    store_unwind_table(id_, 8192, rows_.data(), static_cast<uint32_t>(rows_.size()),
                       index_.data(), index_.size());
  }
  std::string id_ = "00112233445566778899aabbccddeeff00112233";
  std::string dir_;
  std::vector<FrameDesc> rows_;
  std::vector<uint32_t> index_;
};

TEST_F(UnwindCache, StoredTableLoadsBackIdentical) {
  EXPECT_EQ(load_unwind_table(id_, 8192, 3).rows, nullptr);  // nothing stored yet
  store();
  CachedTable t = load_unwind_table(id_, 8192, 3);
  ASSERT_NE(t.rows, nullptr);
  ASSERT_EQ(t.row_count, rows_.size());
  ASSERT_NE(t.check, nullptr);  // checked by the dump thread, not at load
  EXPECT_EQ(t.check->state.load(), TableCheck::kUnchecked);
  EXPECT_FALSE(table_check_failed(t.check));  // usable at once
  EXPECT_TRUE(check_table(t.check));
  EXPECT_EQ(t.check->state.load(), TableCheck::kPassed);
  EXPECT_TRUE(check_table(t.check));
  EXPECT_EQ(memcmp(t.rows, rows_.data(), rows_.size() * sizeof(FrameDesc)), 0);
  EXPECT_EQ(memcmp(t.page_first_row, index_.data(), index_.size() * sizeof(uint32_t)), 0);
  // Another object's span or page count: not this table.
  EXPECT_EQ(load_unwind_table(id_, 4096, 3).rows, nullptr);
  EXPECT_EQ(load_unwind_table(id_, 8192, 4).rows, nullptr);
  EXPECT_EQ(load_unwind_table("ffff", 8192, 3).rows, nullptr);
}

TEST_F(UnwindCache, DamagedOrTruncatedFileIsRefused) {
  store();
  std::string path = unwind_cache_path(id_);
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  std::string flipped = bytes;
  flipped[bytes.size() / 2] = static_cast<char>(flipped[bytes.size() / 2] ^ 1);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << flipped;
  // One flipped bit in the rows: mapped, withdrawn once its check fails, and stays so.
  CachedTable damaged = load_unwind_table(id_, 8192, 3);
  ASSERT_NE(damaged.rows, nullptr);
  EXPECT_FALSE(table_check_failed(damaged.check));
  EXPECT_FALSE(check_table(damaged.check));
  EXPECT_TRUE(table_check_failed(damaged.check));
  EXPECT_FALSE(check_table(damaged.check));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 4);
  EXPECT_EQ(load_unwind_table(id_, 8192, 3).rows, nullptr);
}

// The page index is not read at load (a process that maps its tables at start and never
// walks faults in none of their pages): an entry pointing far past the rows, even under a
// matching checksum, is never followed by a lookup.
TEST_F(UnwindCache, APageIndexPastTheRowsIsNeverFollowed) {
  index_[1] = 0x7fffffff;
  store();
  CachedTable t = load_unwind_table(id_, 8192, 3);
  ASSERT_NE(t.rows, nullptr);
  UnwindModule m{};
  m.base = m.lo = 0x400000;
  m.hi = m.base + 8192;
  m.rows = t.rows;
  m.row_count = t.row_count;
  m.page_first_row = t.page_first_row;
  m.page_count = 3;
  EXPECT_EQ(find_frame_desc(m, m.base + 4096 + 8), nullptr);  // page 1: its entry is bad
  const FrameDesc* first = find_frame_desc(m, m.base + 8);    // page 0 is fine
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->pc, 0u);
}

// A check another thread was running when the process forked starts over in the child.
TEST_F(UnwindCache, CheckInterruptedByForkStartsOver) {
  store();
  CachedTable t = load_unwind_table(id_, 8192, 3);
  ASSERT_NE(t.check, nullptr);
  t.check->state.store(TableCheck::kChecking);
  EXPECT_FALSE(check_table(t.check));  // another thread is on it: not passed yet...
  EXPECT_FALSE(table_check_failed(t.check));  // ...and usable meanwhile
  table_checks_after_fork_child();
  EXPECT_EQ(t.check->state.load(), TableCheck::kUnchecked);
  EXPECT_TRUE(check_table(t.check));
}

TEST_F(UnwindCache, DirectoryOthersCanWriteIsNotUsed) {
  store();
  ASSERT_NE(load_unwind_table(id_, 8192, 3).rows, nullptr);
  chmod((dir_ + "/cache").c_str(), 0777);
  set_unwind_cache_dir(dir_ + "/cache");  // checked anew
  EXPECT_EQ(load_unwind_table(id_, 8192, 3).rows, nullptr);
  chmod((dir_ + "/cache").c_str(), 0700);
  set_unwind_cache_dir(dir_ + "/cache");
  EXPECT_NE(load_unwind_table(id_, 8192, 3).rows, nullptr);
}

TEST_F(UnwindCache, OffWithoutADirectory) {
  set_unwind_cache_dir("");
  store();
  EXPECT_EQ(unwind_cache_path(id_), "");
  EXPECT_EQ(load_unwind_table(id_, 8192, 3).rows, nullptr);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/cache"));
}

// The build ids of the loaded objects that have an unwind table to build (an executable
// segment and .eh_frame_hdr).
int objects_with_tables(dl_phdr_info* info, size_t, void* out) {
  bool executable = false, has_table = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    executable |= info->dlpi_phdr[i].p_type == PT_LOAD && (info->dlpi_phdr[i].p_flags & PF_X);
    has_table |= info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME;
  }
  if (executable && has_table)
    static_cast<std::vector<std::string>*>(out)->push_back(
        loaded_build_id(info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum));
  return 0;
}

// The start's test for deferring the dump thread and the tables' mapping (agent.cc,
// deferred_tables.h): every loaded object's table is in the cache, or it is not worth the
// wait; the cache off never is. (Each deferral is cancelled at once: nothing of this test
// binary maps these stand-in tables.)
DeferredTables defer_now() {
  DeferredTables d = unwind_tables_defer_cached();
  if (d == DeferredTables::kDeferred) {
    EXPECT_TRUE(unwind_tables_deferred());
    cancel_deferred_unwind_tables();
    EXPECT_FALSE(unwind_tables_deferred());
  }
  return d;
}

TEST_F(UnwindCache, DeferredOnlyWhenEveryLoadedObjectsTableIsThere) {
  std::vector<std::string> ids;
  dl_iterate_phdr(objects_with_tables, &ids);
  ASSERT_GE(ids.size(), 2u);  // this test binary and libc at least
  EXPECT_EQ(defer_now(), DeferredTables::kNotAllCached);
  for (const std::string& id : ids) {
    ASSERT_FALSE(id.empty());
    store_unwind_table(id, 8192, rows_.data(), static_cast<uint32_t>(rows_.size()),
                       index_.data(), index_.size());
  }
  EXPECT_EQ(defer_now(), DeferredTables::kDeferred);
  ASSERT_EQ(unlink(unwind_cache_path(ids.back()).c_str()), 0);
  EXPECT_EQ(defer_now(), DeferredTables::kNotAllCached);
  store_unwind_table(ids.back(), 8192, rows_.data(), static_cast<uint32_t>(rows_.size()),
                     index_.data(), index_.size());
  EXPECT_EQ(defer_now(), DeferredTables::kDeferred);
  set_unwind_cache_dir("");
  EXPECT_EQ(defer_now(), DeferredTables::kNotAllCached);
}

// The FDE count of every loaded object with a table to build, by build id.
int fde_counts(dl_phdr_info* info, size_t, void* out) {
  bool executable = false;
  const uint8_t* hdr = nullptr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    executable |= info->dlpi_phdr[i].p_type == PT_LOAD && (info->dlpi_phdr[i].p_flags & PF_X);
    if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
      hdr = reinterpret_cast<const uint8_t*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
  }
  if (executable && hdr != nullptr)
    static_cast<std::vector<std::pair<std::string, uint64_t>>*>(out)->emplace_back(
        loaded_build_id(info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum),
        frame_table_entry_count(hdr));
  return 0;
}

// The exit of a process that ended within its dump thread's start grace builds the missing
// tables only when few (agent.cc): the count is the FDEs of the objects not in the cache (up
// to just past a limit), and "cannot tell" while the cache directory is missing, not writable
// or off.
TEST_F(UnwindCache, EntriesToBuildCountTheFdesOfTheObjectsNotCached) {
  constexpr uint64_t kAll = UINT64_MAX - 1;
  std::vector<std::pair<std::string, uint64_t>> objects;
  dl_iterate_phdr(fde_counts, &objects);
  ASSERT_GE(objects.size(), 2u);
  EXPECT_EQ(unwind_tables_entries_to_build(kAll), UINT64_MAX);  // the directory is not made yet
  ASSERT_EQ(mkdir((dir_ + "/cache").c_str(), 0700), 0);
  uint64_t all = 0;
  for (const auto& [id, count] : objects) {
    EXPECT_GT(count, 0u) << id;
    all += count;
  }
  EXPECT_EQ(unwind_tables_entries_to_build(kAll), all);
  // Counted up to just past a limit: the first object's count alone passes 1.
  EXPECT_EQ(unwind_tables_entries_to_build(1), objects.front().second);
  const auto& [last_id, last_count] = objects.back();
  for (const auto& [id, count] : objects)
    if (id != last_id)
      store_unwind_table(id, 8192, rows_.data(), static_cast<uint32_t>(rows_.size()),
                         index_.data(), index_.size());
  EXPECT_EQ(unwind_tables_entries_to_build(kAll), last_count);
  store_unwind_table(last_id, 8192, rows_.data(), static_cast<uint32_t>(rows_.size()),
                     index_.data(), index_.size());
  EXPECT_EQ(unwind_tables_entries_to_build(kAll), 0u);
  if (geteuid() != 0) {  // (root writes anywhere)
    ASSERT_EQ(chmod((dir_ + "/cache").c_str(), 0500), 0);
    set_unwind_cache_dir(dir_ + "/cache");
    EXPECT_EQ(unwind_tables_entries_to_build(kAll), UINT64_MAX);
    chmod((dir_ + "/cache").c_str(), 0700);
  }
  set_unwind_cache_dir("");
  EXPECT_EQ(unwind_tables_entries_to_build(kAll), UINT64_MAX);
}

// The build id read from the loaded program headers is the one in the file.
int first_object(dl_phdr_info* info, size_t, void* out) {
  *static_cast<std::string*>(out) =
      loaded_build_id(info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum);
  return 1;
}

TEST(UnwindCacheBuildId, ReadFromTheLoadedNotes) {
  std::string id;
  dl_iterate_phdr(first_object, &id);
  ASSERT_EQ(id.size(), 40u) << id;  // SHA-1 build ids (Debian's default)
  std::string file_out;
  char buf[512];
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  ASSERT_GT(n, 0);
  exe[n] = 0;
  FILE* p = popen((std::string("readelf -n '") + exe + "'").c_str(), "r");
  ASSERT_NE(p, nullptr);
  while (fgets(buf, sizeof buf, p)) file_out += buf;
  pclose(p);
  EXPECT_NE(file_out.find("Build ID: " + id), std::string::npos) << file_out;
}

}  // namespace
}  // namespace profagent
