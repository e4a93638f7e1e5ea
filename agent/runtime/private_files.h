// A file table of its own for an agent thread (unshare(CLONE_FILES)). The descriptors the
// agent's dump, wall, HTTP and push threads open (dump files, the unwind cache, /proc reads,
// libdw's files, sockets) then never take a number of the program's, nor can the program
// close them: without it, a program that dup2()'d its
// own file onto a number it had not opened, while a dump was being written (a shell's
// `exec 3>>log` under PROFAGENT_INTERVAL=0.05), got EBADF for its writes and the dump's
// bytes in its file, and a program expecting open() to return 3 saw the unwind cache there.
// The thread closes every descriptor the copy inherited (it must not keep the program's
// pipes open), parks /dev/null on 0-2 (under LD_DEBUG, fd 2 is the program's stderr, for
// the loader's messages), and writes its log lines to the program's current stderr through
// a pidfd (agent/core/program_stderr.h). Normal context, at a thread's start.
#pragma once

namespace profagent {

// At start (the constructor, before the program's main): whether LD_DEBUG is set. (Whether
// pidfd_open and pidfd_getfd work is probed by the first thread that asks for a table.)
// Normal context.
void private_files_start() noexcept;

// Gives the calling agent thread its own file table. False (and nothing changed) where the
// kernel or a seccomp policy refuses one of the calls it needs (pidfd_open, pidfd_getfd,
// close_range, unshare): the thread then shares the program's table, as before.
bool enter_private_file_table() noexcept;

}  // namespace profagent
