// A profile ready to write: the ProfileBuilder's samples plus everything pprof needs to show
// them, resolved once at the dump (docs/pprof-semantics.md §2, §6, §9): the string table, the
// mappings with their has_* flags, one Location per distinct address (and per synthetic
// frame) with its inline chain of Lines, and deduplicated Functions, ids 1..N in order of
// first use. encode() writes the Profile message by hand (no protobuf runtime); the HTTP
// text forms read the same data. Self-contained: it needs no Symbolizer after
// symbolize_profile(), so another thread (push) can encode it. Normal context (allocates).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/profile/pprof/profile_builder.h"
#include "agent/profile/pprof/string_table.h"
#include "agent/profile/symbolize/symbolizer.h"

namespace profagent {

struct PprofMapping {
  uint64_t memory_start = 0, memory_limit = 0, file_offset = 0;
  int64_t filename = 0, build_id = 0;  // string table indices
  bool has_functions = false, has_filenames = false, has_line_numbers = false,
       has_inline_frames = false;
};

struct PprofLine {
  uint64_t function_id = 0;
  int64_t line = 0;
};

struct PprofLocation {
  uint64_t mapping_id = 0;  // 0: none
  uint64_t address = 0;     // 0 for a synthetic frame
  std::vector<PprofLine> lines;  // innermost first
};

struct PprofFunction {
  int64_t name = 0, system_name = 0, filename = 0;  // string table indices
  int64_t start_line = 0;
};

struct SymbolizedProfile {
  ProfileBuilder builder;                   // header and samples
  pprof_internal::StringTable strings;
  std::vector<PprofMapping> mappings;       // id = index + 1
  std::vector<PprofLocation> locations;     // id = index + 1
  std::vector<PprofFunction> functions;     // id = index + 1
  std::unordered_map<uint64_t, uint64_t> location_of_address;      // address -> id
  std::unordered_map<std::string, uint64_t> location_of_synthetic;  // frame name -> id

  // Location ids of a sample's stack, leaf first (its synthetic frame, then its addresses).
  std::vector<uint64_t> location_ids(const ProfileBuilder::SampleKey& key) const;
  // The same into `ids` (cleared first), so one buffer serves every sample of an encoding.
  void location_ids(const ProfileBuilder::SampleKey& key, std::vector<uint64_t>& ids) const;
  const std::string& str(int64_t index) const { return strings.strings()[index]; }

  // The uncompressed Profile message.
  std::string encode() const;

  // Replaces the samples and header with `samples`, typically a profile_delta() of
  // `builder`: its stacks must be among those symbolized here (a sample with an address or
  // synthetic frame this profile never saw is dropped); new label strings are interned.
  // Locations, functions and mappings stay as they are, as in Go's delta profiles.
  void replace_samples(ProfileBuilder samples);
};

// Looks one address up (the Symbolizer's resolve(), or a table in tests).
using AddressResolver = std::function<const ResolvedAddress&(uint64_t address)>;

// Resolves every address of `builder` with `symbolizer` (refreshed first, so libraries
// loaded since the last dump are listed).
SymbolizedProfile symbolize_profile(ProfileBuilder builder, Symbolizer& symbolizer);
// The same with explicit executable mappings (main executable first) and resolver.
SymbolizedProfile symbolize_profile(ProfileBuilder builder,
                                    const std::vector<MappingInfo>& mappings,
                                    const AddressResolver& resolve);

}  // namespace profagent
