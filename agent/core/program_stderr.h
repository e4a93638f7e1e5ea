// Writing to the program's standard error from any agent thread. An agent thread that has a
// file table of its own (agent/runtime/private_files.h) has no fd 2 of the program's: it
// keeps a pidfd of the process and borrows the program's current fd 2 for each write
// (pidfd_getfd: the same open file, so the same offset and append mode), never holding it
// between writes (a program that closes its stderr must see it closed). Other threads write
// to fd 2 itself. Normal context (one to three system calls per write).
#pragma once

#include <cstddef>

namespace profagent {

// Writes all of `data` to the program's fd 2, as well as it can; errno is preserved.
void write_program_stderr(const char* data, size_t size) noexcept;

// The calling thread has a file table of its own: its fd 2 is not the program's.
void set_thread_has_private_files() noexcept;
// Its pidfd of the process (-1: none; then the program's stderr is reopened through
// /proc/self/fd/2 for each write, which works for a pipe, a terminal or a file, not a
// socket).
void set_thread_program_pidfd(int pidfd) noexcept;

}  // namespace profagent
