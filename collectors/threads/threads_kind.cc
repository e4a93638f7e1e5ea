// The threads profile's descriptor: threads/count, every live thread's stack at the dump,
// PROFAGENT_THREADS, /debug/pprof/goroutine and /debug/pprof/threads
// (docs/pprof-semantics.md §4).
#include "collectors/threads/threads_kind.h"

namespace profagent {
namespace {

constexpr SampleTypeSpec kTypes[] = {
    {"threads", "count", true, "threads", "threads", false},
};
constexpr HttpRoute kRoutes[] = {
    {"goroutine", "Stack traces of all current threads (the native goroutines)", nullptr},
    {"threads", "Same as goroutine: every thread's stack", nullptr},
};

}  // namespace

constinit LostCounter g_threads_lost;

constinit const ProfileKind kThreadsKind = {
    .name = "threads",
    .sample_types = kTypes,
    .period_type = "threads",
    .period_unit = "count",
    .window = ProfileWindow::kSnapshot,
    .routes = kRoutes,
    .thread_dump_text = true,
    .setting = {"PROFAGENT_THREADS", 0, 1, 1, true, "0 or 1", "1", 0},
    .enable_hint = "PROFAGENT_THREADS=1",
    .wrapper_option = "--threads",
    .lost_frame = "[profagent: lost]",
    .lost = &g_threads_lost,
};

}  // namespace profagent
