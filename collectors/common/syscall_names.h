// Names of the system calls a thread can be found waiting in (the threads profile's `syscall`
// label, and any profile that reports where a thread waits). Any context: a static table, no
// allocation, no lock (syscall_label_into is async-signal-safe).
#pragma once

#include <cstddef>
#include <string>

namespace profagent {

// The name of system call `nr` of this architecture ("poll", "futex", ...), or nullptr when
// the table does not know it.
const char* syscall_name(long nr) noexcept;

// The label value for `nr`: its name, or "syscall_<nr>" for a number the table does not know.
// Writes at most size-1 characters and a NUL into `out`; returns the length written.
size_t syscall_label_into(long nr, char* out, size_t size) noexcept;
std::string syscall_label(long nr);

}  // namespace profagent
