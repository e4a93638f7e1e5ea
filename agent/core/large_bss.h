// PROFAGENT_LARGE_BSS: puts a big zero-initialised array (kilobytes, mostly never touched) in
// .lbss, which the linker lays out after .bss. The small variables a process's start and a
// fork child write then share a few pages instead of being spread between the arrays, each
// page a fault at start and a copy-on-write fault in every fork child. Plain attribute; any
// context. GCC names the section without a type; the GNU assembler knows .lbss as NOBITS
// (an assembler that did not, such as clang's integrated one, would store the zeros in the
// file). Only zero-initialised objects may carry it.
#pragma once

#define PROFAGENT_LARGE_BSS __attribute__((section(".lbss")))
