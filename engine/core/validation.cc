#include "jobstore/validation.h"

#include <cstdio>
#include <string>

namespace jobstore {
namespace {

bool AllowedByte(unsigned char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.' || c == '-' || (colon && c == ':');
}

Status CheckName(std::string_view what, std::string_view name, size_t max, bool colon) {
  if (name.size() > max) {
    return Status::InvalidArgument(std::string(what) + " '" + Printable(name, 80) + "' is " +
                                   std::to_string(name.size()) + " bytes; the limit is " +
                                   std::to_string(max));
  }
  for (unsigned char c : name) {
    if (!AllowedByte(c, colon)) {
      return Status::InvalidArgument(std::string(what) + " '" + Printable(name, 80) +
                                     "' has a forbidden character; use letters, digits and _ . -" +
                                     (colon ? " :" : ""));
    }
  }
  return Status::OK();
}

}  // namespace

Status ValidateType(std::string_view type) {
  if (type.empty()) return Status::InvalidArgument("job type is empty; name the type, e.g. 'email'");
  return CheckName("job type", type, kMaxTypeNameBytes, false);
}

Status ValidateDomain(std::string_view domain) {
  return CheckName("domain", domain, kMaxDomainNameBytes, true);
}

Status ValidateQueue(const QueueRef& queue) {
  Status s = ValidateType(queue.type);
  if (s.ok()) s = ValidateDomain(queue.domain);
  return s;
}

Status ValidateSpec(const JobSpec& spec, size_t max_params_bytes) {
  Status s = ValidateQueue({spec.domain, spec.type});
  if (!s.ok()) return s;
  if (spec.params.size() > max_params_bytes) {
    return Status::InvalidArgument("params of a '" + spec.type + "' job are " +
                                   std::to_string(spec.params.size()) + " bytes; the limit is " +
                                   std::to_string(max_params_bytes) +
                                   " (Options::max_params_bytes): store large payloads elsewhere "
                                   "and pass a reference");
  }
  if (spec.priority < kMinPriority || spec.priority > kMaxPriority) {
    return Status::InvalidArgument("priority " + std::to_string(spec.priority) +
                                   " is outside [" + std::to_string(kMinPriority) + ", " +
                                   std::to_string(kMaxPriority) + "]");
  }
  if (spec.release_at_ms < 0) {
    return Status::InvalidArgument("release time " + std::to_string(spec.release_at_ms) +
                                   " is negative; use 0 for no delay");
  }
  if (spec.root_signature.size() > kMaxRootSignatureBytes) {
    return Status::InvalidArgument("root signature is " +
                                   std::to_string(spec.root_signature.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxRootSignatureBytes));
  }
  if (spec.root_signature.empty() && (spec.root_is_self || spec.root_timestamp_ms != 0)) {
    return Status::InvalidArgument("a root timestamp or root_is_self needs a root signature");
  }
  if (spec.root_timestamp_ms < 0) {
    return Status::InvalidArgument("root timestamp " + std::to_string(spec.root_timestamp_ms) +
                                   " is negative");
  }
  return Status::OK();
}

JobSpec RestoredSpec(const JobInfo& job) {
  JobSpec spec;
  spec.type = job.queue.type;
  spec.domain = job.queue.domain;
  spec.params = job.params;
  spec.priority = job.priority;
  spec.release_at_ms = job.release_at_ms;
  spec.dedup = job.dedup;
  spec.root_signature = job.root_signature;
  spec.root_timestamp_ms = job.root_timestamp_ms;
  spec.root_is_self = !job.root_signature.empty();
  return spec;
}

Status ValidateRestore(const JobInfo& job, size_t max_params_bytes) {
  constexpr int64_t kMaxTime = INT64_MAX / 2;
  if (job.corrupt) {
    return Status::InvalidArgument("the job is marked corrupt: its record did not decode, so "
                                   "there is nothing faithful to restore; leave it out");
  }
  Status s = ValidateSpec(RestoredSpec(job), max_params_bytes);
  if (!s.ok()) return s;
  for (auto [t, what] : {std::pair{job.enqueued_at_ms, "enqueued_at_ms"},
                         std::pair{job.release_at_ms, "release_at_ms"},
                         std::pair{job.claimed_at_ms, "claimed_at_ms"},
                         std::pair{job.abandoned_at_ms, "abandoned_at_ms"}}) {
    if (t < 0 || t > kMaxTime) {
      return Status::InvalidArgument(std::string(what) + " " + std::to_string(t) +
                                     " is out of range (0.." + std::to_string(kMaxTime) + ")");
    }
  }
  if (job.attempts > kMaxRestoredAttempts) {
    return Status::InvalidArgument("attempts " + std::to_string(job.attempts) +
                                   " is over the limit of " + std::to_string(kMaxRestoredAttempts));
  }
  if (job.last_error.size() > kMaxErrorBytes) {
    return Status::InvalidArgument("a last error of " + std::to_string(job.last_error.size()) +
                                   " bytes is over the limit of " + std::to_string(kMaxErrorBytes));
  }
  return Status::OK();
}

Status ValidateTtl(int64_t ttl_ms) {
  if (ttl_ms < 0) {
    return Status::InvalidArgument("claim TTL " + std::to_string(ttl_ms) +
                                   " ms is negative; use 0 for a claim that never expires");
  }
  return Status::OK();
}

Status ValidateFilter(const ReadyFilter& filter) {
  if (filter.domain) {
    Status s = ValidateDomain(*filter.domain);
    if (!s.ok()) return s;
  }
  for (const std::string& t : filter.types) {
    Status s = ValidateType(t);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status ValidatePushBatch(size_t jobs) {
  if (jobs <= kMaxPushBatch) return Status::OK();
  return Status::InvalidArgument("a push of " + std::to_string(jobs) + " jobs is over the limit of " +
                                 std::to_string(kMaxPushBatch) + "; split it into batches");
}

Status ValidateClaimBatch(size_t jobs, const char* what) {
  if (jobs <= kMaxClaimBatch) return Status::OK();
  return Status::InvalidArgument("cannot " + std::string(what) + " " + std::to_string(jobs) +
                                 " jobs at once; the limit is " + std::to_string(kMaxClaimBatch));
}

Status ValidateSettings(const TypeSettings& s) {
  if (s.claim_ttl_ms < 0) return ValidateTtl(s.claim_ttl_ms);
  if (s.max_tries < 1) {
    return Status::InvalidArgument("max_tries 0: a job needs at least one try");
  }
  if (s.retention_ms < 0) {
    return Status::InvalidArgument("retention " + std::to_string(s.retention_ms) +
                                   " ms is negative");
  }
  if (s.root_job_ttl_ms < 0) {
    return Status::InvalidArgument("root-job TTL " + std::to_string(s.root_job_ttl_ms) +
                                   " ms is negative");
  }
  return Status::OK();
}

std::string Printable(std::string_view text, size_t max_bytes) {
  std::string out;
  for (unsigned char c : text.substr(0, max_bytes)) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (text.size() > max_bytes) out += "...";
  return out;
}

}  // namespace jobstore
