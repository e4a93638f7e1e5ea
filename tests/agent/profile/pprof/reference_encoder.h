// Test helper: the agent's former encoder, which filled the generated protobuf classes of
// proto/profile.proto and serialized them with libprotobuf. Kept, test-only, as the
// reference the hand-written encoder must match: same ids, same string table, same fields.
#pragma once

#include <vector>

#include "agent/profile/pprof/profile_builder.h"
#include "agent/profile/pprof/symbolized_profile.h"
#include "profile.pb.h"

namespace profagent::testing {

pprof::Profile reference_encode(const ProfileBuilder& builder,
                                const std::vector<MappingInfo>& mappings,
                                const AddressResolver& resolve);

}  // namespace profagent::testing
