// MiniDebugInfo: the xz-compressed ELF in a `.gnu_debugdata` section (Fedora and others put
// a .symtab of the local functions there), decompressed into memory. Part of
// libprofagent-symbolize.so. Normal (dump-thread) context only.
#pragma once

#include <memory>

#include "agent/profile/symbolize/backend/mapped_elf.h"

namespace profagent::symbolize {

// The embedded ELF of `object`'s .gnu_debugdata, or nullptr if it has none or it is damaged.
std::unique_ptr<MappedElf> mini_debuginfo(const MappedElf& object);

}  // namespace profagent::symbolize
