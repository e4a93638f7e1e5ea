// The C library's function behind a hook: what dlsym(RTLD_NEXT, name) (or dlvsym with a
// version) answers for the agent's code, read from the objects' own GNU hash tables while
// the process starts. The loader's dlsym took ~0.3 us per name on a cold start (its lock,
// its error catching, the caller's object found again each time) and the agent looks up ~58
// names at every load, before the program's main: ~15 us of each `/bin/true`.
//
// The table lookup reads the objects the process started with: the loader's list as it was
// when the agent first looked, while the process had one thread and the list was whole (no
// dlopen half done), normally at load. The loader only appends to that list and never unloads
// an object a process started with, so those entries can be read without its lock from then
// on. It searches the ones loaded after the agent, in their load order (the loader's own
// search order after the agent, as RTLD_NEXT searches), the vDSO left out, and applies the
// loader's rules: the default, non-hidden version for a name alone, the exact version
// otherwise. What it does not answer itself goes to dlsym/dlvsym: a name none of those
// objects defines (an object loaded since may: dlsym knows), an IFUNC, a thread-local or
// unique symbol, an object with only a SysV hash table, a first look with threads running.
// NORMAL CONTEXT: the hooks' files call it at load (the fallback takes the loader's lock).
#pragma once

#include <cstdint>

namespace profagent {

// dlsym(RTLD_NEXT, name) or, with a version, dlvsym(RTLD_NEXT, name, version), for a caller
// in the agent's object. nullptr when no object after the agent defines it. errno is kept.
void* next_symbol(const char* name, const char* version = nullptr) noexcept;
// dlsym(RTLD_DEFAULT, name): the definition the program's own calls reach (the first in the
// loader's search order, the program's executable first), by the same rules.
void* first_symbol(const char* name) noexcept;

namespace next_symbol_detail {

enum class Answer { kFound, kNotFound, kAskTheLoader };

// The table lookup alone, past the loaded object whose load bias is `after` (the agent's,
// or in a test the test program's), among the first `objects` of the loader's list:
// kAskTheLoader where the loader must answer. For the comparison with dlsym in the unit tests.
constexpr int kWholeList = 1 << 30;
Answer look_up_after(uintptr_t after, const char* name, const char* version, void** found,
                     int objects = kWholeList) noexcept;
// The same from the first object on (the program's executable): dlsym(RTLD_DEFAULT, name).
Answer look_up_first(const char* name, void** found, int objects = kWholeList) noexcept;
// How many of the loader's objects next_symbol reads (counted at its first call while the
// process has one thread; 0 before, or when it never had one thread then).
int listed_objects() noexcept;

}  // namespace next_symbol_detail
}  // namespace profagent
