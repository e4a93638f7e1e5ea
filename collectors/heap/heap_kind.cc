// The heap profile's descriptor: alloc_* since start and inuse_* at the dump,
// PROFAGENT_HEAP_RATE, /debug/pprof/heap and /debug/pprof/allocs
// (docs/pprof-semantics.md §4 heap, §5.1).
#include "collectors/heap/heap_kind.h"

namespace profagent {
namespace {

constexpr SampleTypeSpec kTypes[] = {
    {"alloc_objects", "count", false, "objects", nullptr, false},
    {"alloc_space", "bytes", false, "bytes", nullptr, false},
    {"inuse_objects", "count", true, "objects", nullptr, false},
    {"inuse_space", "bytes", true, "bytes", nullptr, false},
};
constexpr HttpRoute kRoutes[] = {
    {"allocs", "A sampling of all past memory allocations (alloc_space by default)",
     "alloc_space"},
    {"heap", "A sampling of memory allocations of live objects", nullptr},
};

}  // namespace

constinit LostCounter g_heap_lost;

constinit const ProfileKind kHeapKind = {
    .name = "heap",
    .sample_types = kTypes,
    .period_type = "space",
    .period_unit = "bytes",
    .window = ProfileWindow::kSinceStart,
    .routes = kRoutes,
    .thread_dump_text = false,
    .setting = {"PROFAGENT_HEAP_RATE", 0, int64_t{1} << 40, 524288, false,
                "a whole number of bytes from 0 to 2^40", "524288", 0},
    .enable_hint = "PROFAGENT_HEAP_RATE=524288 (mean bytes between samples)",
    .wrapper_option = "--heap-rate",
    .lost_frame = "[profagent: lost]",
    .lost = &g_heap_lost,
};

}  // namespace profagent
