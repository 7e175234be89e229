// ClaimAny over any Store's own pick and claim: the one algorithm every Store that is not a
// single medium's (the policy store, the routed store, a server's handler) shares. Also the
// home of Store::AckThenClaimAny's default (claim_any.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "jobstore/store.h"

namespace jobstore::internal {

// Picks a ready queue `filter` allows (store.PickReadyQueue), claims from it (store.Claim), and
// picks again while the batch is not full; when nothing was ready, waits up to `wait_ms` of
// real time (store.ReadyEpoch / WaitForReady) and tries again. Jobs already claimed when a
// later call fails are returned, not dropped.
Result<std::vector<ClaimedJob>> ClaimAnyVia(Store& store, const ReadyFilter& filter,
                                            size_t max_jobs, std::optional<int64_t> ttl_ms,
                                            int64_t wait_ms);

}  // namespace jobstore::internal
