#include "sql_job_row.h"

namespace jobstore::sql {
namespace {

struct Reader {
  const SqlRows& rows;
  size_t r;
  int64_t id;

  Status Bad(size_t col, const std::string& why) const {
    static const char* const kNames[] = {
        "id", "queue_id", "state", "order_rank", "seq", "at_ms", "nonce", "attempts",
        "claimed_at_ms", "enqueued_at_ms", "priority", "release_at_ms", "dedup", "dedup_hash",
        "root_signature", "root_timestamp_ms", "last_error", "params"};
    return Status::Corruption("job row " + std::to_string(id) + ": column " + kNames[col] + " " +
                              why);
  }

  Status Int(size_t col, int64_t lo, int64_t hi, int64_t* out) const {
    const SqlValue& v = rows.at(r, col);
    if (v.kind != SqlValue::Kind::kInt) return Bad(col, "is not an integer");
    if (v.i < lo || v.i > hi) {
      return Bad(col, "holds " + std::to_string(v.i) + ", outside " + std::to_string(lo) + ".." +
                          std::to_string(hi));
    }
    *out = v.i;
    return Status::OK();
  }

  Status Bytes(size_t col, bool text_ok, bool null_ok, size_t max, std::string* out,
               bool* present = nullptr) const {
    const SqlValue& v = rows.at(r, col);
    if (v.kind == SqlValue::Kind::kNull && null_ok) {
      if (present) *present = false;
      return Status::OK();
    }
    const bool kind_ok = v.kind == SqlValue::Kind::kBlob || (text_ok && v.kind == SqlValue::Kind::kText);
    if (!kind_ok) return Bad(col, v.kind == SqlValue::Kind::kNull ? "is NULL" : "has the wrong type");
    if (v.s.size() > max) {
      return Bad(col, "is " + std::to_string(v.s.size()) + " bytes, over " + std::to_string(max));
    }
    *out = v.s;
    if (present) *present = true;
    return Status::OK();
  }
};

}  // namespace

Status DecodeJobRow(const SqlRows& rows, size_t r, JobRow* out) {
  *out = JobRow();
  if (rows.columns() != kJobColumnCount) {
    return Status::Internal("a job read selected " + std::to_string(rows.columns()) + " columns");
  }
  Reader rd{rows, r, 0};
  Status s = rd.Int(0, 1, INT64_MAX, &out->id);
  if (!s.ok()) return s;
  rd.id = out->id;
  int64_t v = 0;
  if (!(s = rd.Int(1, 1, INT64_MAX, &out->queue_id)).ok()) return s;
  if (!(s = rd.Int(2, 0, 3, &v)).ok()) return s;
  static constexpr JobState kStates[] = {JobState::kReady, JobState::kClaimed, JobState::kDelayed,
                                         JobState::kAbandoned};
  out->state = kStates[v];
  if (!(s = rd.Int(3, 0, INT64_MAX, &out->order_rank)).ok()) return s;
  if (!(s = rd.Int(4, 1, INT64_MAX, &out->seq)).ok()) return s;
  if (!(s = rd.Int(5, INT64_MIN, INT64_MAX, &out->at_ms)).ok()) return s;
  if (!(s = rd.Int(6, INT64_MIN, INT64_MAX, &v)).ok()) return s;
  out->nonce = static_cast<uint64_t>(v);
  if (!(s = rd.Int(7, 0, UINT32_MAX, &v)).ok()) return s;
  out->attempts = static_cast<uint32_t>(v);
  if (!(s = rd.Int(8, INT64_MIN, INT64_MAX, &out->claimed_at_ms)).ok()) return s;
  if (!(s = rd.Int(9, INT64_MIN, INT64_MAX, &out->enqueued_at_ms)).ok()) return s;
  if (!(s = rd.Int(10, kMinPriority, kMaxPriority, &v)).ok()) return s;
  out->priority = static_cast<int32_t>(v);
  if (!(s = rd.Int(11, INT64_MIN, INT64_MAX, &out->release_at_ms)).ok()) return s;
  if (!(s = rd.Int(12, 0, 1, &v)).ok()) return s;
  out->dedup = v == 1;
  if (!(s = rd.Bytes(13, false, true, 32, &out->dedup_hash, &out->holds_dedup)).ok()) return s;
  if (out->holds_dedup && out->dedup_hash.size() != 32) {
    return rd.Bad(13, "is " + std::to_string(out->dedup_hash.size()) + " bytes, not 32");
  }
  if (!(s = rd.Bytes(14, true, false, kMaxRootSignatureBytes, &out->root_signature)).ok()) return s;
  if (!(s = rd.Int(15, INT64_MIN, INT64_MAX, &out->root_timestamp_ms)).ok()) return s;
  if (!(s = rd.Bytes(16, true, false, kMaxErrorBytes, &out->last_error)).ok()) return s;
  return rd.Bytes(17, true, false, SIZE_MAX, &out->params);
}

JobInfo DescribeJob(const QueueRef& queue, const JobRow& row, const Status& decoded) {
  const bool corrupt = !decoded.ok();
  JobInfo info;
  info.queue = queue;
  info.id = static_cast<JobId>(row.id);
  info.state = row.state;
  if (!corrupt) info.params = row.params;
  info.attempts = row.attempts;
  info.priority = row.priority;
  info.enqueued_at_ms = row.enqueued_at_ms;
  info.release_at_ms = row.state == JobState::kDelayed ? row.at_ms : row.release_at_ms;
  if (row.state == JobState::kClaimed) {
    info.deadline_ms = row.at_ms;
    info.claim_token = ClaimToken{row.at_ms, row.nonce};
  }
  info.claimed_at_ms = row.claimed_at_ms;
  if (row.state == JobState::kAbandoned) info.abandoned_at_ms = row.at_ms;
  info.last_error = corrupt ? decoded.message() : row.last_error;
  info.root_signature = row.root_signature;
  info.root_timestamp_ms = row.root_timestamp_ms;
  info.dedup = row.dedup;
  info.corrupt = corrupt;
  return info;
}

}  // namespace jobstore::sql
