// A do-nothing LD_PRELOAD malloc interposer: every function of the malloc family jumps
// straight on to glibc's. scripts/bench-heap runs heap_bench.c under it, in the same run as
// the agent, to show the floor any LD_PRELOAD heap profiler pays before it does any work (the
// program's PLT call lands here first, then one more jump to glibc). Not part of the agent.
#include <stddef.h>

void* __libc_malloc(size_t);
void __libc_free(void*);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);

void* malloc(size_t n) { return __libc_malloc(n); }
void free(void* p) { __libc_free(p); }
void* calloc(size_t c, size_t n) { return __libc_calloc(c, n); }
void* realloc(void* p, size_t n) { return __libc_realloc(p, n); }
