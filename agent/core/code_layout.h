// Where the code of a process's start and of a fork child lies in the library. Both run in
// processes that live a few milliseconds (a shell's every command) and touch the library's
// code for the first time there: a fork child maps the code anew (its page-table entries are
// not copied) and an exec'd process maps all of it anew, each first touch of a 64 KiB window
// a page fault (70 us on a slow VM). The functions marked here are gathered by the linker
// (its default script places the .text.sorted.* input sections together, and the
// .text.startup.* ones; not .text.hot.*, where the sample path lies, agent/core/sample_path.h),
// so those runs fault in a few windows instead of one per module they pass through. Placement
// only: no effect on what the code does (tests/agent/code_layout_test.cc checks the grouping).
#pragma once

// The fork handlers a shell's child runs before its exec and what they call (those of kinds
// off by default, and the clocks, are left where they are).
#define PROFAGENT_FORK_PATH __attribute__((section(".text.sorted.profagent_fork")))
// The agent's start (the constructor) and a short process's exit, what every process runs.
#define PROFAGENT_START_PATH __attribute__((section(".text.startup.profagent")))
