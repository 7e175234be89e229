#include "job_view.h"

#include "context.h"

namespace jobstore::cli {

std::vector<QueueStats> SelectQueues(Store& store, const JobFilter& filter) {
  std::vector<QueueStats> selected;
  auto queues = store.Queues();
  if (!queues.ok()) FailStatus(queues.status(), "list the queues");
  for (QueueStats& q : *queues) {
    if (filter.type && q.queue.type != *filter.type) continue;
    if (filter.domain && q.queue.domain != *filter.domain) continue;
    selected.push_back(std::move(q));
  }
  return selected;
}

void ForEachJob(Store& store, const JobFilter& filter,
                const std::function<bool(const JobInfo&)>& fn) {
  constexpr size_t kPage = 1000;
  for (const QueueStats& q : SelectQueues(store, filter)) {
    for (JobState state : filter.states) {
      std::string cursor;
      do {
        auto page = store.List(q.queue, state, cursor, kPage);
        if (!page.ok()) {
          FailStatus(page.status(), std::string("list ") + JobStateName(state) + " '" +
                                        q.queue.type + "' jobs");
        }
        for (const JobInfo& job : page->jobs) {
          if (!fn(job)) return;
        }
        cursor = page->next_cursor;
      } while (!cursor.empty());
    }
  }
}

OJson JobJson(const JobInfo& job) {
  return OJson{{"id", job.id},
               {"type", job.queue.type},
               {"domain", job.queue.domain},
               {"state", JobStateName(job.state)},
               {"params", ParamsJson(job.params)},
               {"attempts", job.attempts},
               {"priority", job.priority},
               {"enqueued_at_ms", job.enqueued_at_ms},
               {"release_at_ms", job.release_at_ms},
               {"deadline_ms", job.deadline_ms},
               {"claimed_at_ms", job.claimed_at_ms},
               {"abandoned_at_ms", job.abandoned_at_ms},
               {"last_error", job.last_error},
               {"root_signature", job.root_signature},
               {"root_timestamp_ms", job.root_timestamp_ms},
               {"dedup", job.dedup},
               {"corrupt", job.corrupt}};
}

}  // namespace jobstore::cli
