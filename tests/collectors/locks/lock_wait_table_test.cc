// Waiter bookkeeping of the mutex profile (collectors/locks/lock_wait_table.h): what each unlock
// is charged, with simulated clocks, and consistency under concurrent use.
#include "collectors/locks/lock_wait_table.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace profagent {
namespace {

int64_t g_fake_now = 0;
int64_t fake_clock() noexcept { return g_fake_now; }

std::unique_ptr<LockWaitTable> make_table() { return std::make_unique<LockWaitTable>(); }

TEST(LockWaitTable, NoWaiterNoCharge) {
  auto t = make_table();
  int32_t w = -1;
  g_fake_now = 100;
  EXPECT_FALSE(t->any_waiters());
  EXPECT_EQ(t->charge(0x1000, fake_clock, &w), 0);
  EXPECT_EQ(w, 0);
}

TEST(LockWaitTable, FiveWaitersHeldOneSecondChargeFiveSeconds) {
  // Go >= 1.22's example: a lock held 1 s while 5 waiters wait reports 5 s at the unlock.
  auto t = make_table();
  std::vector<WaitTicket> tickets;
  for (int i = 0; i < 5; ++i) tickets.push_back(t->arrive(0x1000, 0));
  EXPECT_TRUE(t->any_waiters());
  EXPECT_EQ(t->waiters(), 5);
  int32_t w = 0;
  g_fake_now = 1000000000;
  EXPECT_EQ(t->charge(0x1000, fake_clock, &w), 5000000000);
  EXPECT_EQ(w, 5);
  // Charged once: an immediate second unlock charges nothing new.
  EXPECT_EQ(t->charge(0x1000, fake_clock, &w), 0);
  for (const WaitTicket& k : tickets) t->depart(k);
  EXPECT_FALSE(t->any_waiters());
}

TEST(LockWaitTable, EachUnlockChargesTheWaitSinceThePreviousOne) {
  auto t = make_table();
  WaitTicket a = t->arrive(0x2000, 0);
  WaitTicket b = t->arrive(0x2000, 100);
  WaitTicket c = t->arrive(0x2000, 300);
  int32_t w = 0;
  g_fake_now = 500;
  EXPECT_EQ(t->charge(0x2000, fake_clock, &w), 500 + 400 + 200);
  EXPECT_EQ(w, 3);
  t->depart(a);  // a got the lock at 500
  g_fake_now = 800;
  EXPECT_EQ(t->charge(0x2000, fake_clock, &w), 2 * 300);
  EXPECT_EQ(w, 2);
  t->depart(b);
  WaitTicket d = t->arrive(0x2000, 900);
  g_fake_now = 1000;
  EXPECT_EQ(t->charge(0x2000, fake_clock, &w), 200 + 100);  // c since 800, d since 900
  t->depart(c);
  t->depart(d);
  EXPECT_FALSE(t->any_waiters());
  // Total charged = each waiter's wait up to its last charged unlock: a 500, b 800-100,
  // c 1000-300, d 1000-900 = 500 + 700 + 700 + 100 = 2000 = 1100 + 600 + 300.
}

TEST(LockWaitTable, AWaiterRegisteringLateIsNotChargedForTimeAlreadyCharged) {
  auto t = make_table();
  WaitTicket a = t->arrive(0x3000, 0);
  int32_t w = 0;
  g_fake_now = 100;
  EXPECT_EQ(t->charge(0x3000, fake_clock, &w), 100);
  // b read its clock (50) before that unlock but registered after it.
  WaitTicket b = t->arrive(0x3000, 50);
  EXPECT_EQ(b.start, 100);
  g_fake_now = 200;
  EXPECT_EQ(t->charge(0x3000, fake_clock, &w), 100 + 100);
  t->depart(a);
  t->depart(b);
  EXPECT_FALSE(t->any_waiters());
}

TEST(LockWaitTable, LocksAreKeptApart) {
  auto t = make_table();
  WaitTicket a = t->arrive(0x4000, 0);
  WaitTicket b = t->arrive(0x5000, 0);
  int32_t w = 0;
  g_fake_now = 10;
  EXPECT_EQ(t->charge(0x4000, fake_clock, &w), 10);
  EXPECT_EQ(w, 1);
  g_fake_now = 30;
  EXPECT_EQ(t->charge(0x5000, fake_clock, &w), 30);
  t->depart(a);
  t->depart(b);
  // An idle entry is reused by another lock without leaking the old one's state.
  WaitTicket c = t->arrive(0x4000, 40);
  g_fake_now = 50;
  EXPECT_EQ(t->charge(0x4000, fake_clock, &w), 10);
  t->depart(c);
}

TEST(LockWaitTable, MoreContendedLocksThanTheTableHoldsAreCountedAsUntracked) {
  auto t = make_table();
  std::vector<WaitTicket> tickets;
  for (uintptr_t i = 1; i <= LockWaitTable::kSlots + 100; ++i)
    tickets.push_back(t->arrive(i * 64, 0));
  EXPECT_GT(t->untracked(), 0u);
  EXPECT_EQ(static_cast<uint64_t>(t->waiters()) + t->untracked(), LockWaitTable::kSlots + 100);
  for (const WaitTicket& k : tickets) t->depart(k);
  EXPECT_FALSE(t->any_waiters());
}

TEST(LockWaitTable, ConcurrentWaitersAndUnlockersStayConsistent) {
  auto t = make_table();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> charged{0};
  auto mono = []() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int n = 0; n < 20000; ++n) {
        uintptr_t lock = 0x10000 + 64 * static_cast<uintptr_t>((n + i) % 8);
        WaitTicket k = t->arrive(lock, mono());
        t->depart(k);
      }
    });
  std::thread unlocker([&] {
    int32_t w;
    while (!stop.load()) {
      for (uintptr_t l = 0; l < 8; ++l) {
        int64_t d = t->charge(0x10000 + 64 * l, +mono, &w);
        EXPECT_GE(d, 0);
        charged.fetch_add(d);
      }
    }
  });
  for (auto& th : threads) th.join();
  stop = true;
  unlocker.join();
  EXPECT_FALSE(t->any_waiters());
  EXPECT_EQ(t->waiters(), 0);
  EXPECT_GE(charged.load(), 0);
}

// Pages of [p, p + bytes) that are resident.
size_t resident_pages(const void* p, size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in(bytes / page);
  if (mincore(const_cast<void*>(p), bytes, in.data()) != 0) return SIZE_MAX;
  size_t n = 0;
  for (unsigned char v : in) n += v & 1;
  return n;
}

// A fork child clears the table; one whose entries were never claimed must not touch them
// (a read faults in each zero page, a write copies it: 16 pages in every fork child of a
// program with the mutex profile on). The table sits on fresh pages whose entry range is
// given back (zero again, as constructed) before clear().
TEST(LockWaitTable, ClearOfATableNeverClaimedTouchesNoEntry) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t bytes = (sizeof(LockWaitTable) + page - 1) / page * page;
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* t = new (mem) LockWaitTable;
  const size_t entry_pages = bytes / page - 1;  // the last page holds the table's own words
  ASSERT_EQ(madvise(mem, entry_pages * page, MADV_DONTNEED), 0);
  ASSERT_EQ(resident_pages(mem, entry_pages * page), 0u);
  t->clear();
  EXPECT_EQ(resident_pages(mem, entry_pages * page), 0u);
  (void)t->arrive(0x7000, 0);  // a claim: the next clear() must reset that entry
  t->clear();
  EXPECT_FALSE(t->any_waiters());
  int32_t w = 0;
  g_fake_now = 100;
  EXPECT_EQ(t->charge(0x7000, fake_clock, &w), 0);
  t->~LockWaitTable();
  munmap(mem, bytes);
}

TEST(LockWaitTable, ClearForgetsEverything) {
  auto t = make_table();
  (void)t->arrive(0x6000, 0);
  t->clear();
  EXPECT_FALSE(t->any_waiters());
  int32_t w = 0;
  g_fake_now = 100;
  EXPECT_EQ(t->charge(0x6000, fake_clock, &w), 0);
}

}  // namespace
}  // namespace profagent
