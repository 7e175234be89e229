// The current token of each claim this process handed out, so an ack can prove its token
// without reading the claimed entry back from RocksDB (the read and decode were most of an
// ack's cost; the bare-RocksDB floor deletes blind).
#pragma once

#include <cstddef>
#include <unordered_map>

#include "jobstore/types.h"

namespace jobstore {

// A cache, never the truth: a miss (after a reopen, past the cap, or after any path moved the
// claim) falls back to reading the entry. What makes a hit safe to act on blind: every path
// that removes or moves a claimed entry (ack, release, touch, reclaim, clear) erases the job
// here before its write, while it holds the job's busy mark, and a claim adds its tokens
// before its write commits and erases them if it fails. So a hit always names an entry that
// is really there with that nonce.
//
// Not thread-safe: guarded by the owning QueueState's mutex.
class LiveClaims {
 public:
  // Per queue; enough for every worker's claims in flight. Past it, claims are not cached.
  static constexpr size_t kMaxEntries = 65536;

  void Add(JobId id, const ClaimToken& token) {
    if (tokens_.size() < kMaxEntries) tokens_[id] = token;
  }
  // True, and the entry removed, when `token` is the job's current claim. A stale token
  // leaves the current holder's entry alone.
  bool Take(JobId id, const ClaimToken& token) {
    auto it = tokens_.find(id);
    if (it == tokens_.end() || !(it->second == token)) return false;
    tokens_.erase(it);
    return true;
  }
  void Erase(JobId id) { tokens_.erase(id); }
  void Clear() { tokens_.clear(); }
  size_t size() const { return tokens_.size(); }

 private:
  std::unordered_map<JobId, ClaimToken> tokens_;
};

}  // namespace jobstore
