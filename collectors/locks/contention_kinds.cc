// The mutex and block descriptors: contentions/count and delay/nanoseconds since start
// (docs/pprof-semantics.md §4, §5.2, §5.3). Their Pyroscope display names start with
// "mutex_" and "block_": Pyroscope names a pushed profile from them, and without the prefix
// a block profile would be taken for a mutex one (both have contentions/delay).
#include "collectors/locks/contention_kinds.h"

namespace profagent {
namespace {

constexpr SampleTypeSpec kMutexTypes[] = {
    {"contentions", "count", false, "lock_samples", "mutex_count", false},
    {"delay", "nanoseconds", false, "lock_nanoseconds", "mutex_duration", false},
};
constexpr SampleTypeSpec kBlockTypes[] = {
    {"contentions", "count", false, "lock_samples", "block_count", false},
    {"delay", "nanoseconds", false, "lock_nanoseconds", "block_duration", false},
};
constexpr HttpRoute kMutexRoutes[] = {
    {"mutex", "Stack traces of holders of contended mutexes", nullptr},
};
constexpr HttpRoute kBlockRoutes[] = {
    {"block", "Stack traces that led to blocking on synchronization primitives", nullptr},
};

}  // namespace

constinit LostCounter g_mutex_lost;
constinit LostCounter g_block_lost;

constinit const ProfileKind kMutexKind = {
    .name = "mutex",
    .sample_types = kMutexTypes,
    .period_type = "contentions",
    .period_unit = "count",
    .window = ProfileWindow::kSinceStart,
    .routes = kMutexRoutes,
    .thread_dump_text = false,
    .setting = {"PROFAGENT_MUTEX_FRACTION", 0, INT32_MAX, 0, false,
                "a whole number from 0 to 2147483647", "0 (off)", 0},
    .enable_hint = "PROFAGENT_MUTEX_FRACTION=5 (sample 1 in 5 contentions)",
    .wrapper_option = "--mutex-fraction",
    .lost_frame = "[profagent: lost]",
    .lost = &g_mutex_lost,
};

constinit const ProfileKind kBlockKind = {
    .name = "block",
    .sample_types = kBlockTypes,
    .period_type = "contentions",
    .period_unit = "count",
    .window = ProfileWindow::kSinceStart,
    .routes = kBlockRoutes,
    .thread_dump_text = false,
    .setting = {"PROFAGENT_BLOCK_RATE", 0, int64_t{1} << 50, 0, false,
                "a whole number of nanoseconds from 0 to 2^50", "0 (off)", 0},
    .enable_hint = "PROFAGENT_BLOCK_RATE=10000 (ns blocked per sample)",
    .wrapper_option = "--block-rate",
    .lost_frame = "[profagent: lost]",
    .lost = &g_block_lost,
};

}  // namespace profagent
