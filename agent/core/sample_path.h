// PROFAGENT_SAMPLE_PATH marks the functions every CPU sample and every sampled allocation
// runs through: the SIGPROF dispatch and handler, the stack walk and its table lookups, the
// sample buffer, the self-accounting. GCC puts them in .text.hot sections, which
// agent/core/code_layout.ld places next to each other, right after the start's code. A
// handler runs on caches the program has just filled with its own data: each cold code page
// it touches costs a TLB walk and cache misses (~0.1-0.3 us in a VM), so its ~15 functions
// sit on 2 pages instead of ~8 spread over the 1.1 MB object. Plain code, no context rules.
#pragma once

#define PROFAGENT_SAMPLE_PATH __attribute__((hot))
