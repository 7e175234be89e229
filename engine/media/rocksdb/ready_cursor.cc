#include "ready_cursor.h"

#include <algorithm>

#include "keys.h"

namespace jobstore {

ReadyCursor::ReadyCursor(std::string range_start)
    : range_start_(std::move(range_start)), head_(range_start_) {}

void ReadyCursor::BeginInsert(const std::string& key) { pending_.insert(key); }

void ReadyCursor::EndInsert(const std::string& key, const std::string& value, bool committed) {
  pending_.erase(key);
  if (committed) AddClaimable(key, value);
}

void ReadyCursor::AddClaimable(const std::string& key, const std::string& value) {
  if (key >= head_) return;  // the next scan from the head finds it
  behind_.emplace(key, value);
  if (behind_.size() > kMaxBehind) {
    head_ = behind_.begin()->first;
    behind_.clear();
  }
}

std::vector<ReadyCursor::Entry> ReadyCursor::Take(size_t n, bool random, const ScanFn& scan,
                                                  std::mt19937_64& rng) {
  if (n == 0) return {};
  const size_t need = random ? n + kRandomWindow : n;
  if (behind_.size() < need) {
    // Read ahead: one seek fills behind_ for the next claims too. Every scanned key lands below
    // the new head, so it is claimable from memory, in order, until taken.
    const size_t want = std::max(need - behind_.size(), kReadAhead);
    size_t got = 0;
    std::string last;
    scan(head_, [&](std::string_view key, std::string_view value) {
      std::string k(key);
      if (pending_.count(k) || inflight_.count(k)) return true;
      last = k;
      behind_.emplace(std::move(k), std::string(value));
      return ++got < want;
    });
    if (got > 0) head_ = keys::Successor(std::move(last));
  }
  std::vector<Entry> candidates;
  for (auto it = behind_.begin(); it != behind_.end() && candidates.size() < need; ++it) {
    candidates.push_back({it->first, it->second});
  }
  if (random) std::shuffle(candidates.begin(), candidates.end(), rng);
  if (candidates.size() > n) candidates.resize(n);
  for (const Entry& e : candidates) {
    behind_.erase(e.key);
    inflight_.insert(e.key);
  }
  return candidates;
}

bool ReadyCursor::Hide(const std::string& key) {
  if (inflight_.count(key)) return false;
  behind_.erase(key);
  pending_.insert(key);
  return true;
}

void ReadyCursor::EndTake(const std::vector<Entry>& taken, bool committed) {
  for (const auto& e : taken) {
    inflight_.erase(e.key);
    if (!committed) AddClaimable(e.key, e.value);
  }
}

std::string ReadyCursor::ResumeKey() const {
  std::string key = head_;
  if (!behind_.empty()) key = std::min(key, behind_.begin()->first);
  if (!pending_.empty()) key = std::min(key, *pending_.begin());
  if (!inflight_.empty()) key = std::min(key, *inflight_.begin());
  return key;
}

void ReadyCursor::ResumeAt(const std::string& key) { head_ = std::max(key, range_start_); }

void ReadyCursor::Reset() {
  head_ = range_start_;
  behind_.clear();
  pending_.clear();
  inflight_.clear();
}

}  // namespace jobstore
