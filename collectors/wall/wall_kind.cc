// The wall-clock profile's descriptor: samples/count and wall/nanoseconds since the previous
// dump, PROFAGENT_WALL_HZ, /debug/pprof/wall, pushed as its own type.
#include "collectors/wall/wall_kind.h"

namespace profagent {
namespace {

constexpr SampleTypeSpec kTypes[] = {
    {"samples", "count", false, "samples", "wall", true},
    {"wall", "nanoseconds", false, "nanoseconds", "wall", true},
};
constexpr HttpRoute kRoutes[] = {
    {"wall",
     "Wall-clock profile of every thread, running or blocked (labels state, syscall); "
     "seconds=N sets the window (default 30, at most 300)",
     nullptr},
};

}  // namespace

constinit const ProfileKind kWallKind = {
    .name = "wall",
    .sample_types = kTypes,
    .period_type = "wall",
    .period_unit = "nanoseconds",
    .window = ProfileWindow::kSinceLastDump,
    .routes = kRoutes,
    .thread_dump_text = false,
    .setting = {"PROFAGENT_WALL_HZ", 0, 1000, 0, false, "a whole number from 0 to 1000",
                "0 (off)", /*on_demand_value=*/100},
    .enable_hint = "PROFAGENT_WALL_HZ=100 (samples per second of wall time, per thread)",
    .wrapper_option = "--wall-hz",
    .lost_frame = "[profagent: lost]",
    .lost = nullptr,  // the collector writes its own lost samples, per window
};

}  // namespace profagent
