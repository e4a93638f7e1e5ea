// fork_reset.h: a fork handler's reset writes nothing when the value is already right (the
// page stays shared with the parent), and still resets what changed. The "writes nothing"
// cases run on a read-only page, in a death-test child: a store kills it with SIGSEGV.
#include "agent/core/fork_reset.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <new>

namespace profagent {
namespace {

struct State {
  std::atomic<int> counter{0};
  std::atomic<void*> pointer{nullptr};
  int plain = 0;
  std::mutex used_lock;
  std::mutex held_lock;
};

// A State on a page of its own, so it can be made read-only.
class PageState {
 public:
  PageState() {
    page_ = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    state_ = page_ != MAP_FAILED ? new (page_) State : nullptr;
  }
  ~PageState() {
    if (page_ == MAP_FAILED) return;
    mprotect(page_, kPage, PROT_READ | PROT_WRITE);
    state_->~State();
    munmap(page_, kPage);
  }
  State* get() { return state_; }
  // (In a death-test child: a failure there exits non-zero.)
  void read_only() {
    if (mprotect(page_, kPage, PROT_READ) != 0) _exit(2);
  }

 private:
  static constexpr size_t kPage = 4096;
  void* page_;
  State* state_;
};

TEST(ForkReset, AValueAlreadyRightIsNotWritten) {
  PageState page;
  ASSERT_NE(page.get(), nullptr);
  State& s = *page.get();
  s.counter.store(7);
  s.plain = 3;
  // In a child (a store to the read-only page kills it with SIGSEGV, not this test binary).
  EXPECT_EXIT(
      {
        page.read_only();
        store_if_changed(s.counter, 7);
        store_if_changed(s.pointer, nullptr);
        assign_if_changed(s.plain, 3);
        _exit(s.counter.load() == 7 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
  // The check itself works: a changed value is a store, and the read-only page kills it.
  EXPECT_EXIT(
      {
        page.read_only();
        store_if_changed(s.counter, 8);
        _exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
}

TEST(ForkReset, AChangedValueIsWritten) {
  State s;
  s.counter.store(7);
  s.plain = 3;
  int target = 0;
  store_if_changed(s.counter, 0);
  store_if_changed(s.pointer, &target);
  assign_if_changed(s.plain, 0);
  EXPECT_EQ(s.counter.load(), 0);
  EXPECT_EQ(s.pointer.load(), &target);
  EXPECT_EQ(s.plain, 0);
}

TEST(ForkReset, AnUnlockedMutexIsLeftAloneAndAHeldOneIsRemade) {
  PageState page;
  ASSERT_NE(page.get(), nullptr);
  State& s = *page.get();
  s.used_lock.lock();
  s.used_lock.unlock();  // used, unlocked again: its bytes are a fresh mutex's
  EXPECT_TRUE(lock_is_fresh(s.used_lock));
  s.held_lock.lock();  // as a parent thread that does not exist in the child held it
  EXPECT_FALSE(lock_is_fresh(s.held_lock));
  EXPECT_EXIT(
      {
        page.read_only();
        remake_lock_if_used(s.used_lock);  // must not write: the page is read-only
        _exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  remake_lock_if_used(s.held_lock);
  EXPECT_TRUE(lock_is_fresh(s.held_lock));
  EXPECT_TRUE(s.held_lock.try_lock());  // usable again, as a fresh one
  s.held_lock.unlock();
}

}  // namespace
}  // namespace profagent
