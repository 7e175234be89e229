// Checks of caller input at the API boundary. Each returns InvalidArgument naming the value,
// what is wrong with it and what is allowed.
#pragma once

#include <string_view>

#include "jobstore/status.h"
#include "jobstore/types.h"

namespace jobstore {

Status ValidateType(std::string_view type);
Status ValidateDomain(std::string_view domain);
Status ValidateQueue(const QueueRef& queue);
Status ValidateSpec(const JobSpec& spec, size_t max_params_bytes);
Status ValidateSettings(const TypeSettings& settings);
Status ValidateTtl(int64_t ttl_ms);

}  // namespace jobstore
