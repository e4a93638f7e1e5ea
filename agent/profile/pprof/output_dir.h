// The output directory (PROFAGENT_DIR): created by the dump thread shortly after start (or by
// the first dump, if sooner: agent.cc), and checked before every file is written so that it
// is never reached through a symlink planted by another user. Normal context only.
//
// A directory the agent creates is private to nobody and safe for everybody, like /tmp,
// when the process can change its user (root, or CAP_SETUID: prefork servers whose workers
// drop to `nobody`): mode 1777 (world-writable, sticky), so a worker that switched user
// still writes its own files (0600, see file_writer.h) and no user can remove another's.
// Otherwise it is created 0755 (less the umask). A directory that exists is used as it is.
#pragma once

#include <string>

namespace profagent {

struct OutputDirectory {
  std::string problem;  // "" when files can be written; else why not (naming the path)
  std::string warning;  // usable, but a world-writable directory without the sticky bit
};

// Once, after start: checks the path (see unsafe_directory_problem), creates what is missing, and
// checks that the directory can be written.
OutputDirectory prepare_output_directory(const std::string& dir);

// "" when `dir` (absolute) is a directory reached only through symlinks owned by this
// process's effective user or by root; else the reason. Each component is examined with
// lstat and symlinks are resolved one by one, so a link anywhere on the path counts.
std::string unsafe_directory_problem(const std::string& dir);

// True if this process may switch to another user (effective uid 0 or CAP_SETUID).
bool can_change_user();

}  // namespace profagent
