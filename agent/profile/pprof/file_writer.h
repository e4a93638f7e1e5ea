// Writes a profile file atomically: a temporary name in the same directory, then rename().
// A failed write (unwritable directory, full disk) leaves no file behind and returns the
// reason. Files are created 0600, in a directory reached through no other user's symlink
// (output_dir.h). Normal context only.
#pragma once

#include <string>
#include <string_view>

namespace profagent {

// Returns "" on success, otherwise a human-readable reason naming the path.
std::string write_file_atomically(const std::string& path, std::string_view bytes);

// <dir>/<exe>.<pid>.<seq>.<kind>.pb.gz
std::string profile_path(const std::string& dir, const std::string& exe, int pid,
                         unsigned long long seq, const std::string& kind);

}  // namespace profagent
