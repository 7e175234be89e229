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
  std::vector<Entry> candidates;
  if (n == 0) return candidates;
  const size_t window = random ? n + kRandomWindow : n;
  for (auto it = behind_.begin(); it != behind_.end() && candidates.size() < window; ++it) {
    candidates.push_back({it->first, it->second});
  }
  const size_t from_behind = candidates.size();
  if (candidates.size() < window) {
    scan(head_, [&](std::string_view key, std::string_view value) {
      std::string k(key);
      if (pending_.count(k) || inflight_.count(k)) return true;
      candidates.push_back({std::move(k), std::string(value)});
      return candidates.size() < window;
    });
  }
  if (candidates.empty()) return {};

  std::vector<size_t> chosen(candidates.size());
  for (size_t i = 0; i < chosen.size(); ++i) chosen[i] = i;
  if (random) std::shuffle(chosen.begin(), chosen.end(), rng);
  chosen.resize(std::min(n, chosen.size()));
  std::sort(chosen.begin(), chosen.end());

  std::vector<bool> taken(candidates.size(), false);
  std::vector<Entry> out;
  out.reserve(chosen.size());
  for (size_t i : chosen) {
    taken[i] = true;
    if (i < from_behind) behind_.erase(candidates[i].key);
    inflight_.insert(candidates[i].key);
    out.push_back(candidates[i]);
  }
  // New head: the first scanned key left behind, else just past the last scanned key. Keys
  // skipped on the way are in flight; if they come back they land in behind_.
  if (candidates.size() > from_behind) {
    std::string new_head = keys::Successor(candidates.back().key);
    for (size_t i = from_behind; i < candidates.size(); ++i) {
      if (!taken[i]) {
        new_head = candidates[i].key;
        break;
      }
    }
    head_ = std::move(new_head);
  }
  return out;
}

void ReadyCursor::EndTake(const std::vector<Entry>& taken, bool committed) {
  for (const auto& e : taken) {
    inflight_.erase(e.key);
    if (!committed) AddClaimable(e.key, e.value);
  }
}

void ReadyCursor::Reset() {
  head_ = range_start_;
  behind_.clear();
  pending_.clear();
  inflight_.clear();
}

}  // namespace jobstore
