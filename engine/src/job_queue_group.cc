#include "jobstore/job_queue_group.h"

#include <thread>

namespace jobstore {

namespace {
// How many times a pop re-picks after losing a race for a queue's last ready jobs. The ready
// index is exact, so a queue emptied by another claimer drops out of it and the next pick
// goes elsewhere; the bound only guards against a pathological stream of lost races.
constexpr int kMaxPopAttempts = 64;
}  // namespace

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

Result<std::optional<ClaimedJob>> JobQueueGroup::Pop(const PopFilter& filter) {
  const ReadyFilter ready{domain_, filter.types, filter.exclude};
  for (int attempt = 0; attempt < kMaxPopAttempts; ++attempt) {
    std::optional<QueueRef> queue = store_->PickReadyQueue(ready);
    if (!queue) return std::optional<ClaimedJob>();
    Result<std::vector<ClaimedJob>> claimed = store_->Claim(*queue, 1);
    if (!claimed.ok()) return claimed.status();
    if (!claimed->empty()) return std::optional<ClaimedJob>(std::move(claimed->front()));
    // Another claimer took the queue's last ready job between the pick and the claim.
    std::this_thread::yield();
  }
  return std::optional<ClaimedJob>();
}

}  // namespace jobstore
