// Where the agent's zero-initialised data lies (plain attributes, any context):
//
// PROFAGENT_LARGE_BSS: puts a big zero-initialised array (kilobytes, mostly never touched), or
// a smaller one a process's start never touches (hundreds of bytes: a system() call's saved
// dispositions, the agent threads' start slots), in .lbss, which the linker lays out after
// .bss. The small variables a process's start and a fork child write then share one page
// with .data (code_layout.ld) instead of being spread between the arrays, each page a fault
// at start and a copy-on-write fault in every fork child. Plain attribute; any context. GCC
// names the section without a type; the GNU assembler knows .lbss as NOBITS (an assembler
// that did not, such as clang's integrated one, would store the zeros in the file). Only
// zero-initialised objects may carry it.
#pragma once

#define PROFAGENT_LARGE_BSS __attribute__((section(".lbss")))

// PROFAGENT_FORK_BSS: a small object every fork child of a process that profiles writes
// (its CPU timer and sample buffer's reset). code_layout.ld lays these out first in .bss,
// right after .data, on the page whose fork gate the child writes anyway
// (agent/core/fork_gate.cc): each of a shell's children copies that one page of the agent's,
// not one more per object (~3 us each here). Placement only.
#define PROFAGENT_FORK_BSS __attribute__((section(".bss.profagent_fork")))
