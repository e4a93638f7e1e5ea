// The name profile files are named after: the name the program was started as (the
// basename of argv[0], e.g. `redis-server` even when that is a symlink to
// `redis-check-rdb`), made safe as a file-name part. Normal context only.
#pragma once

#include <string>
#include <string_view>

namespace profagent {

// Basename of `argv0`, with every character outside [A-Za-z0-9._+@-] replaced by '_',
// leading '-' and '.' dropped (a login shell's "-bash" gives "bash"; no hidden files, no
// name a tool would take for an option) and cut to 64 bytes. "" when nothing usable is left.
std::string file_name_part(std::string_view argv0);

// The program's name for its profile files: file_name_part() of the first element of
// /proc/self/cmdline, else of program_invocation_name, else the basename of
// /proc/self/exe, else "program".
std::string program_name();

}  // namespace profagent
