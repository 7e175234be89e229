// JobQueueGroup: the queues of one domain seen as one (MediaWiki's JobQueueGroup).
//
//   jobstore::JobQueueGroup group(store.get(), "wiki1");
//   group.Push({{.type = "email", .params = "..."}, {.type = "resize", .params = "..."}});
//   auto job = group.Pop();              // from any ready queue of "wiki1"
//   auto mail = group.Pop({"email"});    // only from "email"
//
// Pushes are routed to their (domain, type) queues in one atomic batch. Pops pick a queue
// uniformly at random from the store's exact ready index, so every ready queue gets an equal
// share whatever its length, and a queue the caller (or a throttle) excludes is never picked.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "jobstore/status.h"
#include "jobstore/store.h"
#include "jobstore/types.h"

namespace jobstore {

// Which types a group pop may take a job from.
struct PopFilter {
  std::vector<std::string> types;    // only these (empty = any type)
  std::vector<std::string> exclude;  // never these (e.g. throttled types)
  std::optional<int64_t> lease_ms;   // the claim's TTL (default: the type's claim TTL)
};

class JobQueueGroup {
 public:
  // A group over `domain` of `store` ("" is the default domain). nullopt means every domain:
  // pops then pick among all ready queues of the store. `store` must outlive the group.
  JobQueueGroup(Store* store, std::optional<std::string> domain);

  // Pushes jobs of any types atomically (all or none). A spec with an empty domain goes to
  // the group's domain; one naming another domain is refused with InvalidArgument, since a
  // group only writes to its own domain. Returns the store's PushResult. Thread-safe.
  Result<PushResult> Push(std::vector<JobSpec> jobs);

  // Claims one job from a ready queue of the group's domain chosen uniformly at random among
  // those `filter` allows. Returns nullopt when no allowed queue has a ready job; ReadOnly or
  // another store error otherwise. A superseded (root-job duplicate) job is returned like any
  // other, with ClaimedJob::superseded set: the caller acks it without running it.
  // Thread-safe: concurrent pops never return the same job.
  Result<std::optional<ClaimedJob>> Pop(const PopFilter& filter = {});
  // Claims up to `max_jobs` (1..kMaxClaimBatch) jobs the same way in one call (a queue picked
  // at random, then another if it runs out). Empty when none is ready.
  Result<std::vector<ClaimedJob>> PopMany(const PopFilter& filter, size_t max_jobs);
  // Acks `done` and then pops as PopMany does, in one store call (Store::AckThenClaimAny:
  // one round trip on a served store). Its Result as that call's.
  Result<AckedThenClaimed> AckThenPopMany(const std::vector<Claim>& done, const PopFilter& filter,
                                          size_t max_jobs);

  // The domain the group covers (nullopt: every domain).
  const std::optional<std::string>& domain() const { return domain_; }
  Store* store() const { return store_; }

 private:
  Store* const store_;
  const std::optional<std::string> domain_;
};

}  // namespace jobstore
