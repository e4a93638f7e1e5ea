// Self-accounting: what the agent costs and what it lost, recorded in every
// profile so a user can check the overhead from the file itself. The counters are
// constant-initialised atomics: bumping them is HOOK/SIGNAL-SAFE (relaxed adds, no
// allocation, usable before the constructor ran). Reading them and writing them into a
// profile (add_self_accounting) is normal context (dump thread).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "agent/core/profile_kind.h"

namespace profagent {

class ProfileBuilder;

// Where the agent spends time. kCpuHandler is wall time inside the SIGPROF handler (the
// thread is on CPU the whole time); the others are CPU time of the agent's own threads.
enum class SelfCost : int { kCpuHandler, kHooks, kTick, kDump, kPush, kCount };

// Adds `nanos` spent and `events` handled to a cost bucket. HOOK/SIGNAL-SAFE.
void self_add_cost(SelfCost cost, int64_t nanos, uint64_t events = 1) noexcept;
// The same with the cost measured in cost_clock_now() ticks (agent/core/cost_clock.h): what
// handlers and hooks use; converted to nanoseconds when read. HOOK/SIGNAL-SAFE.
void self_add_cost_ticks(SelfCost cost, uint64_t ticks, uint64_t events = 1) noexcept;

// A collector could not record `events` events (table full, unwinding failed, thread not
// signalled); `lost` is its kind's counter (ProfileKind::lost); `weight` is their total in
// the kind's second value when known (bytes for heap, nanoseconds of delay for
// mutex/block), else 0. Since-start totals: the heap, mutex and block files are
// cumulative, so their lost sample is too. HOOK/SIGNAL-SAFE.
void self_note_lost(LostCounter& lost, uint64_t events, int64_t weight = 0) noexcept;

// Marks the agent's start (wall and monotonic clock); called once by agent_start.
void self_stats_start() noexcept;
// Start of the agent in this process, ns since the Unix epoch (0 before start).
int64_t self_stats_start_unix_nanos() noexcept;
// The same on the monotonic clock.
int64_t self_stats_start_monotonic_nanos() noexcept;

// "0ns", "512us", "2.10ms", "10.02s": how the comment lines write a duration.
std::string format_nanos(int64_t nanos);

struct SelfSnapshot {
  int64_t cost_nanos[static_cast<int>(SelfCost::kCount)] = {};
  uint64_t cost_events[static_cast<int>(SelfCost::kCount)] = {};
  struct Lost {
    const ProfileKind* kind = nullptr;
    uint64_t events = 0;
    int64_t weight = 0;
  };
  std::vector<Lost> lost;          // one per kind with a lost counter, in registry order
  int64_t wall_nanos = 0;          // since the agent started
  int64_t process_cpu_nanos = 0;   // CPU time of the whole process (all threads)

  // `kind`'s lost counter (nullptr: the kind has none, or it was not asked for).
  const Lost* lost_of(const ProfileKind& kind) const {
    for (const Lost& l : lost)
      if (l.kind == &kind) return &l;
    return nullptr;
  }
};

// The counters now, with the lost counters of `kinds` (normal context).
SelfSnapshot self_snapshot(std::span<const ProfileKind* const> kinds = {});

// Extra lines a subsystem wants in every profile's comments (e.g. the push queue's drop
// count); called at each dump, on the dump thread. Registered once, never removed.
using SelfCommentSource = std::string (*)();
void add_self_comment_source(SelfCommentSource source);

// The comment lines for `snapshot` (exposed for tests).
std::vector<std::string> self_comments(const SelfSnapshot& snapshot);

// Writes the self-accounting into a profile of `kind`: the comment lines, and for a kind
// with a lost counter a `kind.lost_frame` sample carrying the lost events (value 0) and
// weight (value 1), zero in the other values. Normal context. `comments`: the snapshot's
// self_comments(), when the caller made them once for all the profiles of a dump.
void add_self_accounting(ProfileBuilder& builder, const ProfileKind& kind,
                         const SelfSnapshot& snapshot,
                         const std::vector<std::string>* comments = nullptr);

}  // namespace profagent
