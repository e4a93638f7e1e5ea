// Finds an object's separate debug file on local disk only (never the network: no
// debuginfod): /usr/lib/debug/.build-id/xx/yyyy.debug by GNU build id, then the
// .gnu_debuglink name next to the file, in its .debug/ subdirectory and under
// /usr/lib/debug/<dir>/. Part of libprofagent-symbolize.so. Normal context only.
#pragma once

#include <memory>
#include <string>

#include "agent/profile/symbolize/backend/mapped_elf.h"

namespace profagent::symbolize {

// The debug file of `object` (at `path`, build id `build_id`, may be ""), mapped, or nullptr.
// A candidate is accepted when its build id equals the object's, or, for an object without a
// build id, when its CRC-32 matches the debuglink's.
std::unique_ptr<MappedElf> find_debug_file(const MappedElf& object, const std::string& path,
                                           const std::string& build_id,
                                           const std::string& debug_root = "/usr/lib/debug");

}  // namespace profagent::symbolize
