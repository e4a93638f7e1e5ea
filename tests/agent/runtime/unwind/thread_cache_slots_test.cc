// Per-thread cache slots (agent/runtime/unwind/thread_cache_slots.h): a thread keeps one slot,
// gives it back when it ends, the next thread takes the lowest free one (zeroed), a thread
// that gave its slot back goes without, and a fork child's thread takes its own, emptied.
#include "agent/runtime/unwind/thread_cache_slots.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace profagent {
namespace {

constexpr size_t kBytes = 256;

char* claim_and_release_on(std::thread::id* who = nullptr, unsigned char fill = 0) {
  char* got = nullptr;
  std::thread t([&] {
    got = static_cast<char*>(thread_cache_slot(kBytes));
    if (got != nullptr) {
      EXPECT_EQ(thread_cache_slot(kBytes), got) << "a second call gave another slot";
      if (fill != 0) memset(got, fill, kBytes);
    }
    release_thread_cache_slot();
    EXPECT_EQ(thread_cache_slot(kBytes), nullptr) << "a slot after the thread gave its own back";
    if (who != nullptr) *who = std::this_thread::get_id();
  });
  t.join();
  return got;
}

TEST(ThreadCacheSlots, AnEndedThreadsSlotIsTheNextThreadsZeroed) {
  char* first = claim_and_release_on(nullptr, 0xab);
  ASSERT_NE(first, nullptr);
  char* second = nullptr;
  bool zeroed = false;
  std::thread t([&] {
    second = static_cast<char*>(thread_cache_slot(kBytes));
    zeroed = second != nullptr;
    for (size_t i = 0; zeroed && i < kBytes; ++i) zeroed = second[i] == 0;
    release_thread_cache_slot();
  });
  t.join();
  EXPECT_EQ(second, first) << "the lowest free slot was not taken";
  EXPECT_TRUE(zeroed) << "the slot still held its last thread's bytes";
}

TEST(ThreadCacheSlots, LiveThreadsHaveSlotsOfTheirOwn) {
  char* a = nullptr;
  char* b = nullptr;
  std::atomic<int> ready{0};
  std::atomic<bool> done{false};
  auto body = [&](char** out) {
    *out = static_cast<char*>(thread_cache_slot(kBytes));
    ready.fetch_add(1);
    while (!done.load()) std::this_thread::yield();
    release_thread_cache_slot();
  };
  std::thread ta(body, &a), tb(body, &b);
  while (ready.load() != 2) std::this_thread::yield();
  done = true;
  ta.join();
  tb.join();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_GE(static_cast<size_t>(a > b ? a - b : b - a), kThreadCacheSlotBytes);
}

// The slots come to a fork child as zero pages (MADV_WIPEONFORK: no page table of them copied
// at every fork of a shell): the thread's cache reads empty, and its next walk takes the same
// slot again (a thread the child makes gets another one). The parent's is untouched.
TEST(ThreadCacheSlots, AForkChildGetsTheSlotsAsZeroPagesAndItsThreadTakesItsOwnAgain) {
  char* mine = static_cast<char*>(thread_cache_slot(kBytes));
  ASSERT_NE(mine, nullptr);
  memset(mine, 42, kBytes);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (mine[0] != 0 || mine[kBytes - 1] != 0) _exit(2);  // not wiped
    char* there = static_cast<char*>(thread_cache_slot(kBytes));
    if (there != mine) _exit(3);
    char* other = nullptr;
    std::thread t([&] { other = static_cast<char*>(thread_cache_slot(kBytes)); });
    t.join();
    _exit(other != nullptr && other != mine ? 0 : 5);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "2: not wiped, 3: not its own again, 5: a new thread shares it";
  EXPECT_EQ(thread_cache_slot(kBytes), mine);
  EXPECT_EQ(mine[kBytes - 1], 42);
}

TEST(ThreadCacheSlots, MoreThanASlotHoldsIsRefused) {
  std::thread t([] {
    EXPECT_EQ(thread_cache_slot(kThreadCacheSlotBytes + 1), nullptr);
    release_thread_cache_slot();
  });
  t.join();
}

}  // namespace
}  // namespace profagent
