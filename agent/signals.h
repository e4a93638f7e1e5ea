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
// where the thread could not be started: the handler returned and the signal comes back in
// a millisecond (0 if none). An exit meanwhile writes the final dump and dies of it
// (agent.cc at_exit), so the program's exit status is still the signal's. SIGNAL-SAFE.
int termination_awaiting_dump_thread() noexcept;

}  // namespace profagent
