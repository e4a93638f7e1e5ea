// Builds a module's frame-descriptor table from its loaded .eh_frame_hdr / .eh_frame: parses
// every CIE and FDE the header's search table lists and executes their DW_CFA programs into
// FrameDesc rows sorted by PC. NORMAL CONTEXT ONLY (allocates; run on the agent thread or
// at init, while the module cannot be unloaded, i.e. inside a dl_iterate_phdr callback).
#pragma once

#include <cstdint>
#include <vector>

#include "agent/runtime/unwind/frame_desc.h"

namespace profagent {

// `eh_frame_hdr` is the loaded address of the module's PT_GNU_EH_FRAME segment; row PCs
// are stored as offsets from `base`, and code outside [base, base + 4 GiB) is ignored.
// Returns false (and leaves `out` empty) when the header is malformed or unsupported.
bool build_frame_table(const uint8_t* eh_frame_hdr, uintptr_t base, std::vector<FrameDesc>& out);

// How many FDEs the header's search table lists (what build_frame_table would read), or 0
// when the header is malformed or unsupported. Reads the header only.
uint64_t frame_table_entry_count(const uint8_t* eh_frame_hdr);

}  // namespace profagent
