// agent/core/code_layout.h: the functions a fork child runs before its exec, and those a
// process's start runs, lie together (each group within one 64 KiB fault-around window or
// two), not spread over the library's 1 MiB of code. Checked on this test binary, which the
// same linker lays out from the same objects: a marked function that loses its mark, or a
// group that grows past the bound, fails here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "agent/core/config.h"
#include "agent/core/log.h"
#include "agent/core/program_name.h"
#include "agent/core/termination_wait.h"
#include "agent/core/wakeup.h"
#include "agent/dump_thread.h"
#include "agent/lifecycle.h"
#include "agent/output/push/pusher.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/runtime/unwind/table_check.h"
#include "agent/runtime/unwind/unwinder.h"
#include "agent/signals.h"
#include "collectors/common/self_stats.h"
#include "collectors/registry.h"

namespace profagent {
namespace {

constexpr uintptr_t kWindow = 64 * 1024;

uintptr_t span_of(std::initializer_list<uintptr_t> addresses) {
  auto [lo, hi] = std::minmax_element(addresses.begin(), addresses.end());
  return *hi - *lo;
}

template <class F>
uintptr_t address(F* f) {
  return reinterpret_cast<uintptr_t>(f);
}

TEST(CodeLayout, TheForkChildsFunctionsLieTogether) {
  uintptr_t span = span_of({address(&forget_logger_after_fork), address(&reset_wakeups_after_fork),
                            address(&forget_dump_thread_after_fork),
                            address(&unwinder_after_fork_child),
                            address(&table_checks_after_fork_child),
                            address(&clear_termination_waiting), address(&reset_thread_registry),
                            address(&push_after_fork_child)});
  EXPECT_LT(span, kWindow) << "fork-path functions spread over " << span << " bytes";
}

TEST(CodeLayout, TheStartsFunctionsLieTogether) {
  uintptr_t span = span_of({address(&agent_start), address(&parse_config), address(&all_kinds),
                            address(&install_agent_signal_handlers), address(&program_name),
                            address(&self_stats_start), address(&start_dump_thread)});
  EXPECT_LT(span, 2 * kWindow) << "start-path functions spread over " << span << " bytes";
}

}  // namespace
}  // namespace profagent
