// Where the code of a process's start and of a fork child lies in the library. Both run in
// processes that live a few milliseconds (a shell's every command) and touch the library's
// code for the first time there: a fork child maps the code anew (its page-table entries are
// not copied) and an exec'd process maps all of it anew, each first touch of a 64 KiB window
// a page fault (20-70 us on a slow VM). The functions marked here are gathered by
// agent/core/code_layout.ld into one output section before .text, with what they run that
// cannot carry a mark (lambdas, templates, libstdc++), the static initializers and the
// sample path: a start touches 3-4 windows of the agent's code instead of 13-18, a fork child
// 1-2 instead of 4-7 (tests/e2e/startup_e2e_test.cc counts them in a real process). A function
// a start or fork child runs that is neither marked nor listed there costs one fault per
// process, nothing else: placement only, no effect on what the code does.
// tests/agent/code_layout_test.cc checks the grouping of the marked functions in a test binary.
#pragma once

// The fork handlers a shell's child runs before its exec, the hooks it calls before the exec,
// and what they call (those of kinds off by default, and the clocks, are left where they are).
#define PROFAGENT_FORK_PATH __attribute__((section(".text.sorted.profagent_fork")))
// The agent's start (the constructors) and a short process's exit, and the hooks every
// process calls (malloc, free, the common lock calls): what every process runs.
#define PROFAGENT_START_PATH __attribute__((section(".text.startup.profagent")))
// A hook whose fast path every program call takes (malloc, free, calloc, realloc, a mutex's or
// rwlock's lock and unlock) starts a 64-byte line of its own: its few instructions then never
// straddle two lines, wherever the code before it in its section ends. (32 bytes of start code
// added before them put pthread_mutex_lock's jump to the real function on the next line: an
// uncontended lock and unlock pair cost 8.1 ns instead of 7.3, 6.3 without the agent.)
#define PROFAGENT_HOT_HOOK __attribute__((aligned(64)))
