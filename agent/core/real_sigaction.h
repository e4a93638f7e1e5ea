// The C library's sigaction, bypassing the agent's own sigaction interposer
// (signal_hooks.cc): what the agent calls to read or set a disposition for itself, and the
// "let the default action happen" step built on it. real_sigaction is normal context the
// first time (resolved once; the dynamic linker's lock), SIGNAL-SAFE after;
// raise_with_default_action is SIGNAL-SAFE.
#pragma once

#include <signal.h>

namespace profagent {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
// The real sigaction (libc's), bypassing our interposer.
SigactionFn real_sigaction();

// The thread's real signal mask, changed or read with the raw system call (never through
// the program-visible mask bookkeeping of signal_mask.h). Returns 0 or an errno value.
// SIGNAL-SAFE.
constexpr int kKernelSigsetBytes = 8;
int raw_sigmask(int how, const sigset_t* set, sigset_t* old) noexcept;

// Every signal but those a fault raises synchronously (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
// SIGTRAP, SIGSYS): what the agent blocks to hold a thread's asynchronous signals for a
// moment (a fault raised while its signal is blocked would kill the process). SIGNAL-SAFE.
void fill_asynchronous_signals(sigset_t* set) noexcept;

// Restores SIG_DFL for `sig`, unblocks it on this thread and raises it: the default action
// happens exactly as it would have without the agent. SIGNAL-SAFE. Returns only if the
// default action does not end the process.
void raise_with_default_action(int sig) noexcept;

}  // namespace profagent
