#include "claim_any.h"

#include <chrono>

namespace jobstore::internal {
namespace {
// How many queues one call may pick before it gives up filling its batch: each pick is a ready
// queue (the index is exact), so more than one or two only happen when other claimers race.
constexpr int kMaxPicks = 64;
}  // namespace

Result<std::vector<ClaimedJob>> ClaimAnyVia(Store& store, const ReadyFilter& filter,
                                            size_t max_jobs, std::optional<int64_t> ttl_ms,
                                            int64_t wait_ms) {
  std::vector<ClaimedJob> out;
  if (max_jobs == 0) return out;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    // Read the epoch before picking: a push landing after an empty pick changes it, so the
    // wait below cannot miss it.
    auto epoch = store.ReadyEpoch();
    if (!epoch.ok()) return epoch.status();
    for (int pick = 0; pick < kMaxPicks && out.size() < max_jobs; ++pick) {
      auto queue = store.PickReadyQueue(filter);
      if (!queue.ok()) {
        if (out.empty()) return queue.status();
        return out;
      }
      if (!*queue) break;
      auto claimed = store.Claim(**queue, max_jobs - out.size(), ttl_ms);
      if (!claimed.ok()) {
        if (out.empty()) return claimed.status();
        return out;  // what is claimed already is the caller's: hand it over
      }
      for (ClaimedJob& job : *claimed) out.push_back(std::move(job));
    }
    const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                             give_up - std::chrono::steady_clock::now())
                             .count();
    if (!out.empty() || left <= 0) return out;
    Status s = store.WaitForReady(*epoch, left);
    if (!s.ok()) return s;
  }
}

}  // namespace jobstore::internal

namespace jobstore {

// The default: two calls. A medium where a call costs a round trip overrides it (the served
// store's client sends both in one message).
Result<AckedThenClaimed> Store::AckThenClaimAny(const std::vector<jobstore::Claim>& done,
                                                const ReadyFilter& filter, size_t max_jobs,
                                                std::optional<int64_t> ttl_ms, int64_t wait_ms) {
  AckedThenClaimed out;
  if (!done.empty()) {
    Result<std::vector<Status>> acked = AckMany(done);
    if (!acked.ok()) return acked.status();
    out.acked = std::move(acked).value();
  }
  out.claimed = ClaimAny(filter, max_jobs, ttl_ms, wait_ms);
  if (done.empty() && !out.claimed.ok()) return out.claimed.status();
  return out;
}

}  // namespace jobstore
