// One hexadecimal field of a /proc status file (SigBlk, CapEff, …), and the process's mapped
// bytes (VmSize), each read with one open (no descriptor kept, O_CLOEXEC) into a stack
// buffer. Normal context; process_mapped_bytes also in hooks (nothing allocated).
#pragma once

#include <cstdint>
#include <optional>

namespace profagent {

// The value of `field` (e.g. "SigBlk") in status file `path` (e.g. "/proc/self/status"), or
// nothing if the file cannot be read or has no such field.
std::optional<uint64_t> proc_status_hex(const char* path, const char* field) noexcept;

// What this process has mapped (VmSize, every mapping, what RLIMIT_AS counts), in bytes, from
// /proc/self/statm; 0 if it cannot be read.
uint64_t process_mapped_bytes() noexcept;

}  // namespace profagent
