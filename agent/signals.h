// The agent's signal dispositions: the dump signal, the termination signals it dumps on, and
// the program's own later sigaction() calls (see signal_hooks.cc), which always win.
// Normal context unless marked.
#pragma once

#include <signal.h>

#include "agent/core/real_sigaction.h"

namespace profagent {

// Installs the dump-signal handler and, for SIGTERM/SIGINT/SIGHUP left at SIG_DFL by the
// program, the dump-then-die handler.
void install_agent_signal_handlers(int dump_signal);

// What the program would see as the disposition of `sig` had the agent not touched it.
// Returns true (and fills *shown) if the agent owns `sig` and the program has not taken it.
bool agent_owns_signal(int sig, struct sigaction* shown);

// The program sets a disposition for a signal the agent owns (from the sigaction hook).
// Returns true if the program's disposition must now be installed for real (the agent
// stepped aside), false if the agent keeps its handler (SIG_DFL, which it emulates).
bool program_sets_signal(int sig, const struct sigaction& wanted);

// The agent gives `sig` up (the program took it over).
void program_takes_signal(int sig);

// Termination-signal handoff for the dump thread: the pending signal (0 if none), and
// the final "die of the same signal" step after the dump.
int pending_termination_signal() noexcept;
[[noreturn]] void die_of_signal(int sig);

// A termination signal that reached a fork child whose dump thread is deferred, at a point
// where the thread could not be started, comes back a millisecond later; meanwhile it waits
// (agent/core/termination_wait.h). In a forked child: none of the parent's waits, and its
// retry counts start anew.
void reset_signal_retries_after_fork() noexcept;

}  // namespace profagent
