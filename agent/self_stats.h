// Self-accounting (issue #6): what the agent costs and what it lost, recorded in every
// profile so a user can check the overhead from the file itself. The counters are
// constant-initialised atomics: bumping them is HOOK/SIGNAL-SAFE (relaxed adds, no
// allocation, usable before the constructor ran). Reading them and writing them into a
// profile (add_self_accounting) is normal context (dump thread).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace profagent {

class ProfileBuilder;

// Where the agent spends time. kCpuHandler is wall time inside the SIGPROF handler (the
// thread is on CPU the whole time); the others are CPU time of the agent's own threads.
enum class SelfCost : int { kCpuHandler, kHooks, kTick, kDump, kPush, kWallSampler, kCount };

// Profile kinds that can report lost samples here (CPU counts its own in its buffer).
enum class LostKind : int { kHeap, kMutex, kBlock, kThreads, kCount };

// Adds `nanos` spent and `events` handled to a cost bucket. HOOK/SIGNAL-SAFE.
void self_add_cost(SelfCost cost, int64_t nanos, uint64_t events = 1) noexcept;

// A collector could not record `events` events (table full, unwinding failed, thread not
// signalled); `weight` is their total in the kind's second value when known (bytes for
// heap, nanoseconds of delay for mutex/block), else 0. Since-start totals: the heap, mutex
// and block files are cumulative, so their "[profagent: lost]" sample is too.
// HOOK/SIGNAL-SAFE.
void self_note_lost(LostKind kind, uint64_t events, int64_t weight = 0) noexcept;

// Marks the agent's start (wall and monotonic clock); called once by agent_start.
void self_stats_start() noexcept;
// Start of the agent in this process, ns since the Unix epoch (0 before start).
int64_t self_stats_start_unix_nanos() noexcept;

struct SelfSnapshot {
  int64_t cost_nanos[static_cast<int>(SelfCost::kCount)] = {};
  uint64_t cost_events[static_cast<int>(SelfCost::kCount)] = {};
  uint64_t lost_events[static_cast<int>(LostKind::kCount)] = {};
  int64_t lost_weight[static_cast<int>(LostKind::kCount)] = {};
  int64_t wall_nanos = 0;          // since the agent started
  int64_t process_cpu_nanos = 0;   // CPU time of the whole process (all threads)
};

// The counters now (normal context).
SelfSnapshot self_snapshot() noexcept;

// Extra lines a subsystem wants in every profile's comments (e.g. the push queue's drop
// count); called at each dump, on the dump thread. Registered once, never removed.
using SelfCommentSource = std::string (*)();
void add_self_comment_source(SelfCommentSource source);

// The comment lines for `snapshot` (exposed for tests).
std::vector<std::string> self_comments(const SelfSnapshot& snapshot);

// Writes the self-accounting into a profile of `kind` ("cpu", "heap", ...): the comment
// lines, and for heap/mutex/block/threads a "[profagent: lost]" sample carrying the lost
// events (value 0) and weight (value 1), zero in the other values. Normal context.
void add_self_accounting(ProfileBuilder& builder, std::string_view kind,
                         const SelfSnapshot& snapshot);

}  // namespace profagent
