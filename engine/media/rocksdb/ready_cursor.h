// Which ready keys of one queue a claim may take, decided in memory (docs/DESIGN.md §3 rules 3-4).
//
// Claims never scan a queue from its start: they seek from `head_`, below which no claimable
// key exists except those listed in `behind_` (keys read ahead by the last scan, and jobs that
// re-entered ready below the head: reclaims, releases, higher priorities). So a drained prefix full of tombstones is never
// walked again. Keys whose write is still in flight are invisible to claims: `pending_` holds
// inserts not yet committed (the visibility hazard: job 6 must not be claimable before job 5's
// write is known to have landed, and a failed write must leave no hole), `inflight_` holds keys
// taken by a claim whose write has not returned.
//
// Not thread-safe: the owning queue's mutex guards every call.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace jobstore {

class ReadyCursor {
 public:
  // Visits (key, value) pairs of the queue's ready range from `from` in key order until the
  // visitor returns false.
  using Visitor = std::function<bool(std::string_view key, std::string_view value)>;
  using ScanFn = std::function<void(const std::string& from, const Visitor& visit)>;

  struct Entry {
    std::string key;
    std::string value;
  };

  explicit ReadyCursor(std::string range_start);

  // A write that adds `key` to ready is about to be issued.
  void BeginInsert(const std::string& key);
  // That write returned: committed or not. `value` is the entry's stored value.
  void EndInsert(const std::string& key, const std::string& value, bool committed);

  // Takes up to `n` keys in order (or, if `random`, chosen at random from a small window at
  // the front). Taken keys stay invisible until EndTake.
  std::vector<Entry> Take(size_t n, bool random, const ScanFn& scan, std::mt19937_64& rng);
  // The claim write for `taken` returned. If it failed the keys become claimable again.
  void EndTake(const std::vector<Entry>& taken, bool committed);

  // Hides ready `key` from claims while a write that removes it (a delete of one job) is in
  // flight; EndInsert(key, value, /*committed=*/!removed) ends it. False when a claim is
  // taking the key right now.
  bool Hide(const std::string& key);

  // Forgets everything: the queue's ready range was emptied.
  void Reset();

  // The lowest key a claim could take next: below it the range holds no claimable key. A
  // store closing cleanly saves it so that the next process does not walk the drained prefix.
  std::string ResumeKey() const;
  // Starts scanning at `key` (a ResumeKey saved by a clean close; never below the range start).
  // Only before the first Take or insert.
  void ResumeAt(const std::string& key);

  size_t behind_size() const { return behind_.size(); }

  // Past this many re-entered keys below the head, the head moves back to the lowest of them
  // instead: memory stays bounded at the price of one scan over the tombstones between.
  static constexpr size_t kMaxBehind = 4096;
  // Under `random` order a claim chooses among this many keys beyond the ones it takes.
  static constexpr size_t kRandomWindow = 32;
  // A scan reads at least this many keys, so most claims need no RocksDB seek at all.
  static constexpr size_t kReadAhead = 64;

 private:
  void AddClaimable(const std::string& key, const std::string& value);

  std::string range_start_;
  std::string head_;
  std::map<std::string, std::string> behind_;
  std::set<std::string> pending_;
  std::set<std::string> inflight_;
};

}  // namespace jobstore
