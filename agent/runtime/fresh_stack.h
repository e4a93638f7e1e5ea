// Running a piece of normal-context work on the calling thread, on a stack of its own: the
// exit dump when exit() is called on a small stack (a program handler on its altstack, a
// coroutine, `ulimit -s 128`): symbolization may read DWARF with libdw, whose frames take
// tens of KiB. The same thread keeps its identity and the locks it holds (exit() from a
// library constructor holds the loader's lock, which the dump may take again: recursively on
// the same thread, a deadlock on another). Normal context.
#pragma once

#include <cstdint>

namespace profagent {

// Runs fn(arg) on the calling thread on a fresh 8 MiB stack (mapped for the call, with a
// guard page, unmapped after). Walks the caller's stack first, where there is room, so that
// stack_before_switch() can say where the thread really is while fn runs. False (fn not run)
// if the stack cannot be mapped.
bool run_on_fresh_stack(void (*fn)(void*), void* arg) noexcept;

// While fn runs on the fresh stack, on that thread: the thread's stack as walked just before
// the switch (callers of the agent's frames). False elsewhere, or when there was no room to
// walk it. Async-signal-safe (TLS loads).
bool stack_before_switch(const uintptr_t** pcs, int* depth) noexcept;

}  // namespace profagent
