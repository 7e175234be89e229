#include "jobstore/job_queue_group.h"

namespace jobstore {

JobQueueGroup::JobQueueGroup(Store* store, std::optional<std::string> domain)
    : store_(store), domain_(std::move(domain)) {}

Result<PushResult> JobQueueGroup::Push(std::vector<JobSpec> jobs) {
  if (domain_) {
    for (JobSpec& spec : jobs) {
      if (spec.domain.empty()) {
        spec.domain = *domain_;
      } else if (spec.domain != *domain_) {
        return Status::InvalidArgument("job of type '" + spec.type + "' names domain '" +
                                       spec.domain + "' but the group is for domain '" +
                                       *domain_ + "'");
      }
    }
  }
  // One store batch: the store routes each spec to its queue and commits them atomically.
  return store_->Push(jobs);
}

Result<std::vector<ClaimedJob>> JobQueueGroup::PopMany(const PopFilter& filter, size_t max_jobs) {
  return store_->ClaimAny(ReadyFilter{domain_, filter.types, filter.exclude}, max_jobs,
                          filter.lease_ms);
}

Result<AckedThenClaimed> JobQueueGroup::AckThenPopMany(const std::vector<Claim>& done,
                                                       const PopFilter& filter, size_t max_jobs) {
  return store_->AckThenClaimAny(done, ReadyFilter{domain_, filter.types, filter.exclude},
                                 max_jobs, filter.lease_ms);
}

Result<std::optional<ClaimedJob>> JobQueueGroup::Pop(const PopFilter& filter) {
  auto claimed = PopMany(filter, 1);
  if (!claimed.ok()) return claimed.status();
  if (claimed->empty()) return std::optional<ClaimedJob>();
  return std::optional<ClaimedJob>(std::move(claimed->front()));
}

}  // namespace jobstore
