// The C library's function behind a hook: what dlsym(RTLD_NEXT, name) (or dlvsym with a
// version) answers for the agent's code, read from the objects' own GNU hash tables while
// the process starts. The loader's dlsym took ~0.3 us per name on a cold start (its lock,
// its error catching, the caller's object found again each time) and the agent looks up ~58
// names at every load, before the program's main: ~15 us of each `/bin/true`.
//
// The table lookup runs only while the loader's list of objects cannot change under it: the
// process has never had a second thread (glibc's __libc_single_threaded) and the loader's
// debug state says the list is consistent (no dlopen half done). It searches the objects
// loaded after the agent, in their load order (for the objects a process starts with, the
// loader's own search order after the agent, as RTLD_NEXT searches), and applies the loader's
// rules: the default, non-hidden version for a name alone, the exact version otherwise.
// Anything it does not answer itself (a name none of those objects defines, an IFUNC, an
// object without a GNU hash table, a later call with threads running) goes to dlsym/dlvsym.
// NORMAL CONTEXT, at load and in hooks (the fallback takes the loader's lock).
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
// or in a test the test program's), whatever the process's threads: kAskTheLoader where the
// loader must answer. For the comparison with dlsym in the unit tests.
Answer look_up_after(uintptr_t after, const char* name, const char* version,
                     void** found) noexcept;
// The same from the first object on (the program's executable): dlsym(RTLD_DEFAULT, name).
Answer look_up_first(const char* name, void** found) noexcept;

}  // namespace next_symbol_detail
}  // namespace profagent
