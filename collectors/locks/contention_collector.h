// The contention collector: one class for the mutex profile (PROFAGENT_MUTEX_FRACTION,
// charged to the unlocking thread) and the block profile (PROFAGENT_BLOCK_RATE, charged to
// the waiting thread), docs/pprof-semantics.md §4, §5.2, §5.3. start/stop switch the lock
// and wait hooks (lock_hooks.cc, wait_hooks.cc) on and off through the side's rate, snapshot
// writes the side's cumulative aggregate. Normal context; on_fork_child is
// async-signal-safe.
//
// Fork: the child forgets the parent's waiters (those threads do not exist in the child) and
// the parent's recorded events (they are in the parent's files already; keeping them would
// count them twice when parent and child profiles are merged). Hooks keep working in the
// child: tables are cleared and their spin locks re-made in place.
#pragma once

#include <memory>

#include "collectors/common/collector.h"

namespace profagent {

enum class ContentionSide { kMutex, kBlock };

std::unique_ptr<Collector> make_contention_collector(ContentionSide side);

}  // namespace profagent
