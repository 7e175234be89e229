// The dedup hash of a job: SHA-256 over its type and params. Root-job fields, release time
// and priority live outside params, so they never split otherwise identical jobs.
#pragma once

#include <string>
#include <string_view>

namespace jobstore {

// 32 raw bytes.
std::string DedupHash(std::string_view type, std::string_view params);

}  // namespace jobstore
