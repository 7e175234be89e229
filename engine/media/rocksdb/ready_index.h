// The ready index: the set of queues with at least one ready job (MediaWiki's aggregator and
// nextJobDB, made exact). Membership is derived from each queue's ready counter, which is
// persisted in the same WriteBatch as the jobs, so the index can never disagree with the data;
// in memory it is a vector with positions, for O(1) update and O(1) uniform random pick.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <vector>

#include "jobstore/types.h"

namespace jobstore {

struct QueueState;

class ReadyIndex {
 public:
  // Re-reads the queue's ready counter and adds or removes it. Call after every change of the
  // counter that may cross zero; the last call wins, so concurrent updates settle correctly.
  void Refresh(QueueState* queue);
  void Remove(QueueState* queue);
  // Forgets every queue (their states are about to go).
  void Clear();
  std::vector<QueueRef> List() const;
  std::optional<QueueRef> Pick(const ReadyFilter& filter);

  // Ready notifications for waiting runners.
  uint64_t Epoch() const;
  void Bump();
  void Wait(uint64_t epoch, int64_t max_wait_ms);
  void Shutdown();

 private:
  static bool Allowed(const QueueState* q, const ReadyFilter& filter);
  mutable std::mutex mu_;
  std::vector<QueueState*> members_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::condition_variable cv_;
  uint64_t epoch_ = 0;
  int waiters_ = 0;
  bool shutdown_ = false;
};

}  // namespace jobstore
