// One hexadecimal field of a /proc status file (SigBlk, CapEff, …), read with one open (no
// descriptor kept, O_CLOEXEC) into a stack buffer. Normal context.
#pragma once

#include <cstdint>
#include <optional>

namespace profagent {

// The value of `field` (e.g. "SigBlk") in status file `path` (e.g. "/proc/self/status"), or
// nothing if the file cannot be read or has no such field.
std::optional<uint64_t> proc_status_hex(const char* path, const char* field) noexcept;

}  // namespace profagent
