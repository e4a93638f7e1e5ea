// The hooks' real functions resolved at load or kept for later (agent/runtime/real_functions.h):
// with threads running a resolution runs at once; with one thread it waits for
// resolve_kept_functions (before a second thread or a fork), which runs each once; and the
// first get() of a table fills it whenever that comes. Each case in a forked child (the
// kept list is the process's).
#include "agent/runtime/real_functions.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "tests/common/run_in_child.h"

namespace profagent {
namespace {

using real_functions_detail::resolve_now_or_keep;

std::atomic<int> g_first{0}, g_second{0};
void resolve_first() noexcept { g_first.fetch_add(1); }
void resolve_second() noexcept { g_second.fetch_add(1); }

void expect_passed(const testing::ChildResult& result) {
  EXPECT_TRUE(result.passed()) << result.message << " (status " << result.status << ")";
}

TEST(RealFunctions, WithThreadsRunningAResolutionRunsAtOnce) {
  expect_passed(testing::run_in_child([]() -> std::string {
    resolve_now_or_keep(resolve_first, /*one_thread=*/false);
    CHILD_CHECK(g_first.load() == 1);
    resolve_kept_functions();
    CHILD_CHECK(g_first.load() == 1);  // nothing was kept
    return "";
  }));
}

TEST(RealFunctions, WithOneThreadResolutionsWaitAndEachRunsOnce) {
  expect_passed(testing::run_in_child([]() -> std::string {
    resolve_now_or_keep(resolve_first, /*one_thread=*/true);
    resolve_now_or_keep(resolve_second, /*one_thread=*/true);
    CHILD_CHECK(g_first.load() == 0 && g_second.load() == 0);
    resolve_kept_functions();
    CHILD_CHECK(g_first.load() == 1 && g_second.load() == 1);
    resolve_kept_functions();
    CHILD_CHECK(g_first.load() == 1 && g_second.load() == 1);
    return "";
  }));
}

// A fork runs the kept resolutions first (a prepare handler): the child inherits them done,
// so a shell resolves once, not in every child.
TEST(RealFunctions, AForkResolvesWhatWasKeptInTheParent) {
  expect_passed(testing::run_in_child([]() -> std::string {
    resolve_now_or_keep(resolve_first, /*one_thread=*/true);
    CHILD_CHECK(g_first.load() == 0);
    pid_t pid = fork();
    if (pid == 0) _exit(g_first.load() == 1 ? 0 : 1);
    int status = 0;
    CHILD_CHECK(waitpid(pid, &status, 0) == pid);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHILD_CHECK(g_first.load() == 1);
    return "";
  }));
}

struct Table {
  int (*getpid_fn)() noexcept;
};
void fill(Table& t) { t.getpid_fn = reinterpret_cast<int (*)() noexcept>(next_symbol("getpid")); }

TEST(RealFunctions, TheFirstGetFillsATableNobodyResolved) {
  static RealFunctions<Table> table{fill};
  auto fn = table.get().getpid_fn;
  ASSERT_NE(fn, nullptr);
  EXPECT_EQ(fn(), getpid());
}

}  // namespace
}  // namespace profagent
