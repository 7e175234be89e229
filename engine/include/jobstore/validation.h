// The checks every Store entry point applies to its input, public so that tools can reject bad
// input before they touch a store. Each returns OK or InvalidArgument naming the value, what is
// wrong with it and what is allowed. Thread-safe (pure functions).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "jobstore/status.h"
#include "jobstore/types.h"

namespace jobstore {

// A type name: 1..kMaxTypeNameBytes bytes of [A-Za-z0-9_.-].
Status ValidateType(std::string_view type);
// A domain: 0..kMaxDomainNameBytes bytes of [A-Za-z0-9_.:-].
Status ValidateDomain(std::string_view domain);
Status ValidateQueue(const QueueRef& queue);
// Everything Push checks of one spec: names, params size, priority range, release time and
// root-job fields.
Status ValidateSpec(const JobSpec& spec, size_t max_params_bytes);
// The spec a job of a backup is restored as (Store::Restore): its queue, params, priority,
// release time, dedup flag and root fields; a root signature registers its timestamp.
JobSpec RestoredSpec(const JobInfo& job);
// The largest attempts count a restored job may carry: far above any sensible max_tries, low
// enough that attempts + 1 never wraps.
inline constexpr uint32_t kMaxRestoredAttempts = 1'000'000;
// Everything Restore checks of one job: ValidateSpec of RestoredSpec(job), times in
// 0..INT64_MAX/2, attempts <= kMaxRestoredAttempts, a last error of <= kMaxErrorBytes, and not
// corrupt (a record that did not decode has nothing faithful to restore).
Status ValidateRestore(const JobInfo& job, size_t max_params_bytes);
Status ValidateSettings(const TypeSettings& settings);
// A claim TTL: >= 0 (0 = never expires).
Status ValidateTtl(int64_t ttl_ms);
// The names a ready filter holds (its domain and types).
Status ValidateFilter(const ReadyFilter& filter);
// The size of one call's batch: a push of at most kMaxPushBatch jobs; a claim or an ack
// (`what`: "claim", "ack") of at most kMaxClaimBatch.
Status ValidatePushBatch(size_t jobs);
Status ValidateClaimBatch(size_t jobs, const char* what);

// `text` made safe to show inside an error message: bytes outside printable ASCII as \xNN,
// cut after `max_bytes` with "...". Used for every name or value an error quotes.
std::string Printable(std::string_view text, size_t max_bytes);

}  // namespace jobstore
