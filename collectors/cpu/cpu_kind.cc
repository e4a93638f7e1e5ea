// The CPU profile's descriptor: samples/count and cpu/nanoseconds since the previous dump,
// PROFAGENT_CPU_HZ, /debug/pprof/profile (docs/pprof-semantics.md §4 cpu).
#include "collectors/cpu/cpu_kind.h"

namespace profagent {
namespace {

constexpr SampleTypeSpec kTypes[] = {
    {"samples", "count", false, "samples", "cpu", true},
    {"cpu", "nanoseconds", false, "nanoseconds", "cpu", true},
};
constexpr HttpRoute kRoutes[] = {
    {"profile", "CPU profile; seconds=N sets the window (default 30, at most 300)", nullptr},
};

}  // namespace

constinit const ProfileKind kCpuKind = {
    .name = "cpu",
    .sample_types = kTypes,
    .period_type = "cpu",
    .period_unit = "nanoseconds",
    .window = ProfileWindow::kSinceLastDump,
    .routes = kRoutes,
    .thread_dump_text = false,
    .setting = {"PROFAGENT_CPU_HZ", 0, 4000, 100, false, "a whole number from 0 to 4000", "100",
                /*on_demand_value=*/100},
    .enable_hint = "PROFAGENT_CPU_HZ=100 (samples per second of CPU time)",
    .wrapper_option = "--cpu-hz",
    .lost_frame = "[profagent: lost]",
    .lost = nullptr,
};

}  // namespace profagent
