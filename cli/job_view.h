// Walking the jobs of a store for list and export, and a job as JSON.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "json_util.h"
#include "jobstore/store.h"

namespace jobstore::cli {

struct JobFilter {
  std::optional<std::string> type, domain;
  std::vector<JobState> states = {JobState::kReady, JobState::kClaimed, JobState::kDelayed,
                                  JobState::kAbandoned};
};

// The queues the filter selects, sorted by (domain, type), with their counts.
std::vector<QueueStats> SelectQueues(Store& store, const JobFilter& filter);

// Calls `fn` for every job the filter selects: queue by queue, state by state in the filter's
// order, each state in its own order. Stops when `fn` returns false. On a live store a job
// that changes state during the walk may be seen twice or missed.
void ForEachJob(Store& store, const JobFilter& filter, const std::function<bool(const JobInfo&)>& fn);

// Every field of a job (the export format, also list --json).
OJson JobJson(const JobInfo& job);

}  // namespace jobstore::cli
