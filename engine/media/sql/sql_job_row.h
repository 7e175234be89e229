// A row of jobstore_job as the medium reads it: every column checked for its kind and range, so
// a row that does not decode (written by hand, damaged, or by a buggy tool) is reported with
// what is wrong and never trusted.
#pragma once

#include <cstdint>
#include <string>

#include "jobstore/types.h"
#include "sql_connection.h"

namespace jobstore::sql {

// The columns every job read selects, in JobRow's order.
inline constexpr const char* kJobColumns =
    "id, queue_id, state, order_rank, seq, at_ms, nonce, attempts, claimed_at_ms, "
    "enqueued_at_ms, priority, release_at_ms, dedup, dedup_hash, root_signature, "
    "root_timestamp_ms, last_error, params";
inline constexpr size_t kJobColumnCount = 18;

// The state column's values.
inline int64_t StateCode(JobState s) {
  switch (s) {
    case JobState::kReady: return 0;
    case JobState::kClaimed: return 1;
    case JobState::kDelayed: return 2;
    case JobState::kAbandoned: return 3;
  }
  return 0;
}

struct JobRow {
  int64_t id = 0;
  int64_t queue_id = 0;
  JobState state = JobState::kReady;
  int64_t order_rank = 0;
  int64_t seq = 0;
  int64_t at_ms = 0;  // delayed: release time; claimed: deadline; abandoned: abandoned-at
  uint64_t nonce = 0;
  uint32_t attempts = 0;
  int64_t claimed_at_ms = 0;
  int64_t enqueued_at_ms = 0;
  int32_t priority = 0;
  int64_t release_at_ms = 0;
  bool dedup = false;
  bool holds_dedup = false;  // dedup_hash is set
  std::string dedup_hash;
  std::string root_signature;
  int64_t root_timestamp_ms = 0;
  std::string last_error;
  std::string params;
};

// Decodes row `r` of `rows` (selected with kJobColumns). Corruption naming the job and the
// column when a value has the wrong kind or is out of range; *out then holds at least the id
// (0 when even that is bad) and whatever decoded before the bad column.
Status DecodeJobRow(const SqlRows& rows, size_t r, JobRow* out);

// The listing of a row, as DecodeJobRow left it: a row that did not decode (`decoded` is its
// error) is shown corrupt, without params, with the error as its last error.
JobInfo DescribeJob(const QueueRef& queue, const JobRow& row, const Status& decoded);

}  // namespace jobstore::sql
