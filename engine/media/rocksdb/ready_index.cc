#include "ready_index.h"

#include <algorithm>
#include <chrono>

#include "rocks_backend.h"

namespace jobstore {

void ReadyIndex::Refresh(QueueState* q) {
  // Every claim and push refreshes its queue; only those that move the counter across zero
  // change membership, so the others must not take the index's mutex (it is one for the
  // whole store). `indexed` mirrors membership. A writer changes the counter, then reads
  // `indexed`; the locked path below changes `indexed`, then reads the counter again: with
  // sequentially consistent atomics one of the two sees the other's change, so membership
  // always ends as the last counter says.
  if ((q->ready.load() > 0) == q->indexed.load()) return;
  std::lock_guard<std::mutex> l(mu_);
  for (;;) {
    const bool want = q->ready.load() > 0;
    if (want == (q->index_pos >= 0)) break;
    if (want) {
      q->index_pos = static_cast<int>(members_.size());
      members_.push_back(q);
    } else {
      QueueState* last = members_.back();
      members_[q->index_pos] = last;
      last->index_pos = q->index_pos;
      members_.pop_back();
      q->index_pos = -1;
    }
    q->indexed.store(want);
  }
}

void ReadyIndex::Remove(QueueState* q) {
  std::lock_guard<std::mutex> l(mu_);
  if (q->index_pos < 0) return;
  QueueState* last = members_.back();
  members_[q->index_pos] = last;
  last->index_pos = q->index_pos;
  members_.pop_back();
  q->index_pos = -1;
  q->indexed.store(false);
}

void ReadyIndex::Clear() {
  std::lock_guard<std::mutex> l(mu_);
  for (QueueState* q : members_) {
    q->index_pos = -1;
    q->indexed.store(false);
  }
  members_.clear();
}

std::vector<QueueRef> ReadyIndex::List() const {
  std::vector<QueueRef> out;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const QueueState* q : members_) out.push_back(q->ref());
  }
  std::sort(out.begin(), out.end(), [](const QueueRef& a, const QueueRef& b) {
    return std::tie(a.domain, a.type) < std::tie(b.domain, b.type);
  });
  return out;
}

bool ReadyIndex::Allowed(const QueueState* q, const ReadyFilter& f) {
  if (f.domain && q->domain != *f.domain) return false;
  const std::string& t = q->type->name;
  if (!f.types.empty() && std::find(f.types.begin(), f.types.end(), t) == f.types.end()) {
    return false;
  }
  return std::find(f.exclude.begin(), f.exclude.end(), t) == f.exclude.end();
}

std::optional<QueueRef> ReadyIndex::Pick(const ReadyFilter& filter) {
  std::lock_guard<std::mutex> l(mu_);
  if (members_.empty()) return std::nullopt;
  // Rejection sampling is uniform over the allowed queues and O(1) while most are allowed;
  // when the filter rejects most, fall back to one pass over the members.
  std::uniform_int_distribution<size_t> any(0, members_.size() - 1);
  for (int i = 0; i < 8; ++i) {
    QueueState* q = members_[any(rng_)];
    if (Allowed(q, filter)) return q->ref();
  }
  std::vector<QueueState*> allowed;
  for (QueueState* q : members_) {
    if (Allowed(q, filter)) allowed.push_back(q);
  }
  if (allowed.empty()) return std::nullopt;
  std::uniform_int_distribution<size_t> pick(0, allowed.size() - 1);
  return allowed[pick(rng_)]->ref();
}

uint64_t ReadyIndex::Epoch() const {
  std::lock_guard<std::mutex> l(mu_);
  return epoch_;
}

void ReadyIndex::Bump() {
  std::lock_guard<std::mutex> l(mu_);
  ++epoch_;
  if (waiters_ > 0) cv_.notify_all();
}

void ReadyIndex::Wait(uint64_t epoch, int64_t max_wait_ms) {
  std::unique_lock<std::mutex> l(mu_);
  ++waiters_;
  cv_.wait_for(l, std::chrono::milliseconds(std::max<int64_t>(max_wait_ms, 0)),
               [&] { return epoch_ != epoch || shutdown_; });
  --waiters_;
}

void ReadyIndex::Shutdown() {
  std::lock_guard<std::mutex> l(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

}  // namespace jobstore
