#include "oldest_ready.h"

#include <algorithm>

namespace jobstore::observe {

int64_t StoreNow(const Store& store) {
  const auto& clock = store.options().clock;
  return clock ? clock->NowMs() : SystemClock()->NowMs();
}

Result<int64_t> OldestReadyAgeMs(Store& store, const QueueStats& queue, int64_t now_ms) {
  if (queue.counts.ready == 0) return int64_t{0};
  auto head = store.List(queue.queue, JobState::kReady, "", 1);
  if (!head.ok()) {
    return head.status().Prefixed("read the head of queue '" + queue.queue.type + "'" +
                                  (queue.queue.domain.empty() ? "" : " of domain '" +
                                   queue.queue.domain + "'"));
  }
  if (head->jobs.empty()) return int64_t{0};  // drained since the counts were read
  return std::max<int64_t>(0, now_ms - head->jobs[0].enqueued_at_ms);
}

}  // namespace jobstore::observe
