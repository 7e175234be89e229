// A type's settings as the Redis medium keeps them in {P}:types: one readable line,
//   order=fifo claim_ttl_ms=3600000 max_tries=3 retries_allowed=1 retention_ms=604800000
//   root_job_ttl_ms=2419200000
// which an operator can read with HGET and the scripts read `order=` from.
#pragma once

#include <string>
#include <string_view>

#include "jobstore/status.h"
#include "jobstore/types.h"

namespace jobstore::redis {

std::string EncodeSettings(const TypeSettings& settings);

// A field missing takes its default and an unknown field is ignored (a later jobstore may add
// some); a field whose value does not parse is Corruption naming it.
Result<TypeSettings> DecodeSettings(std::string_view text);

}  // namespace jobstore::redis
