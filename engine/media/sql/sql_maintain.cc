// The SQL medium's maintenance (MediaWiki's recycleAndDeleteStaleJobs, plus promotion and root
// expiry) and its per-job operations: repush, retry, delete, clear. Each category of a pass is
// one transaction bounded by plan.limit; rows are picked with the dialect's SKIP LOCKED, so a
// pass never waits on a job a worker is acking.
#include <algorithm>

#include "sql_backend.h"
#include "sql_statements.h"

namespace jobstore::sql {
namespace {

int64_t Limit(size_t limit) {
  return limit > static_cast<size_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(limit);
}

}  // namespace

Result<SqlRows> SqlBackend::Timed(Tx& tx, int64_t q, JobState state, int64_t before,
                                  size_t limit, const char* columns) {
  const std::string sql = std::string("SELECT ") + columns +
                          " FROM jobstore_job WHERE queue_id = $1 AND state = " +
                          std::to_string(StateCode(state)) +
                          " AND at_ms < $2 ORDER BY at_ms, id LIMIT $3" + tx.d().skip_locked;
  const SqlParam p[] = {SqlParam::Int(q), SqlParam::Int(before), SqlParam::Int(Limit(limit))};
  return tx.c().Query(sql, p);
}

Result<std::vector<int64_t>> SqlBackend::TimedIds(Tx& tx, int64_t q, JobState state,
                                                  int64_t before, size_t limit) {
  auto r = Timed(tx, q, state, before, limit, "id");
  if (!r.ok()) return r.status();
  std::vector<int64_t> ids;
  ids.reserve(r->size());
  for (size_t i = 0; i < r->size(); ++i) ids.push_back(r->Int(i, 0));
  return ids;
}

Status SqlBackend::Requeue(Tx& tx, int64_t q, const std::vector<int64_t>& ids, JobState from,
                           bool reset_attempts) {
  // Behind every ready job: sequence numbers come from the id source, in the order given.
  auto seqs = AllocIds(tx, ids.size());
  if (!seqs.ok()) return seqs.status();
  std::sort(seqs->begin(), seqs->end());
  const size_t chunk = tx.d().batch_rows;
  for (size_t start = 0; start < ids.size(); start += chunk) {
    const size_t k = std::min(chunk, ids.size() - start);
    std::vector<SqlParam> params;
    params.reserve(2 * k + 1);
    params.push_back(SqlParam::Int(q));
    for (size_t r = 0; r < k; ++r) {
      params.push_back(SqlParam::Int(ids[start + r]));
      params.push_back(SqlParam::Int((*seqs)[start + r]));
    }
    auto r = tx.c().Query(RequeueSql(k, StateCode(from), reset_attempts), params);
    if (!r.ok()) return r.status();
    if (r->size() != k) {
      return Status::Internal("requeued " + std::to_string(r->size()) + " of " +
                              std::to_string(k) + " locked jobs");
    }
  }
  tx.Move(q, from, JobState::kReady, static_cast<int64_t>(ids.size()));
  return Status::OK();
}

Status SqlBackend::Maintain(const QueueRef& queue, const MaintenancePlan& plan,
                            MaintenanceReport* report) {
  auto qr = QueueId(queue, false);
  if (!qr.ok()) return qr.status();
  const int64_t q = *qr;
  if (q == 0) return Status::OK();
  const int64_t now = plan.now_ms;
  const size_t limit = plan.limit;

  if (plan.promote) {
    size_t n = 0;
    Status s = InTx(TxKind::kWrite, [&](Tx& tx) -> Status {
      // Release time <= now, in release order.
      auto ids = TimedIds(tx, q, JobState::kDelayed, now == INT64_MAX ? now : now + 1, limit);
      if (!ids.ok()) return ids.status();
      n = ids->size();
      return n ? Requeue(tx, q, *ids, JobState::kDelayed, false) : Status::OK();
    });
    if (!s.ok()) return s;
    report->promoted += n;
    if (n == limit) report->more = true;
  }

  if (plan.reclaim) {
    uint64_t reclaimed = 0, abandoned = 0;
    size_t n = 0;
    Status s = InTx(TxKind::kWrite, [&](Tx& tx) -> Status {
      reclaimed = abandoned = 0;
      // Each row is locked (SKIP LOCKED picked it): the decision and the move are one step.
      auto rows = Timed(tx, q, JobState::kClaimed, now, limit, kJobColumns);
      if (!rows.ok()) return rows.status();
      n = rows->size();
      std::vector<std::pair<int64_t, Disposition>> moves;
      for (size_t i = 0; i < n; ++i) {
        JobRow row;
        Status ds = DecodeJobRow(*rows, i, &row);
        if (row.id == 0) return ds;
        Disposition d;
        if (!ds.ok()) {
          d.to = Disposition::To::kAbandoned;
          d.error = "corrupt record: " + ds.message();
        } else {
          d = plan.on_expired(row.attempts);
        }
        (d.to == Disposition::To::kAbandoned ? abandoned : reclaimed) += 1;
        moves.emplace_back(row.id, std::move(d));
      }
      return Place(tx, q, moves, now);
    });
    if (!s.ok()) return s;
    report->reclaimed += reclaimed;
    report->abandoned += abandoned;
    if (n == limit) report->more = true;
  }

  if (plan.prune_before_ms != INT64_MIN) {
    size_t n = 0;
    Status s = InTx(TxKind::kWrite, [&](Tx& tx) -> Status {
      const std::string sql =
          std::string("WITH picked AS MATERIALIZED (SELECT id FROM jobstore_job "
                      "WHERE queue_id = $1 AND state = 3 AND at_ms < $2 ORDER BY at_ms, id "
                      "LIMIT $3") +
          tx.d().skip_locked +
          ") DELETE FROM jobstore_job WHERE id IN (SELECT id FROM picked) RETURNING id";
      const SqlParam p[] = {SqlParam::Int(q), SqlParam::Int(plan.prune_before_ms),
                            SqlParam::Int(Limit(limit))};
      auto r = tx.c().Query(sql, p);
      if (!r.ok()) return r.status();
      n = r->size();
      tx.Move(q, JobState::kAbandoned, std::nullopt, static_cast<int64_t>(n));
      return Status::OK();
    });
    if (!s.ok()) return s;
    report->pruned += n;
    if (n == limit) report->more = true;
  }

  if (plan.roots_before_ms != INT64_MIN) {
    size_t n = 0;
    Status s = InTx(TxKind::kWrite, [&](Tx& tx) -> Status {
      const SqlParam p[] = {SqlParam::Int(q), SqlParam::Int(plan.roots_before_ms),
                            SqlParam::Int(Limit(limit))};
      auto r = tx.c().Query(
          "DELETE FROM jobstore_root WHERE queue_id = $1 AND signature IN (SELECT signature "
          "FROM jobstore_root WHERE queue_id = $1 AND newest_ms < $2 ORDER BY newest_ms "
          "LIMIT $3) RETURNING signature",
          p);
      if (!r.ok()) return r.status();
      n = r->size();
      return Status::OK();
    });
    if (!s.ok()) return s;
    report->roots_expired += n;
    if (n == limit) report->more = true;
  }
  return Status::OK();
}

Result<uint64_t> SqlBackend::RepushAbandoned(const QueueRef& queue) {
  auto qr = QueueId(queue, false);
  if (!qr.ok()) return qr.status();
  if (*qr == 0) return uint64_t{0};
  uint64_t n = 0;
  Status s = InTx(TxKind::kWrite, [&](Tx& tx) -> Status {
    auto ids = TimedIds(tx, *qr, JobState::kAbandoned, INT64_MAX, SIZE_MAX);
    if (!ids.ok()) return ids.status();
    n = ids->size();
    return n ? Requeue(tx, *qr, *ids, JobState::kAbandoned, true) : Status::OK();
  });
  if (!s.ok()) return s;
  return n;
}

Status SqlBackend::RetryJob(const QueueRef& queue, JobId id) {
  auto qr = QueueId(queue, false);
  if (!qr.ok()) return qr.status();
  auto missing = [&] {
    return Status::NotFound("job " + std::to_string(id) + " is not in queue '" + queue.type +
                            "' of domain '" + queue.domain + "'");
  };
  if (*qr == 0) return missing();
  return InTx(TxKind::kWrite, [&](Tx& tx) -> Status {
    const SqlParam p[] = {SqlParam::Int(static_cast<int64_t>(id)), SqlParam::Int(*qr)};
    auto r = tx.c().Query(SelectJobForUpdateSql(tx.d()), p);
    if (!r.ok()) return r.status();
    if (r->empty()) return missing();
    JobRow row;
    Status ds = DecodeJobRow(*r, 0, &row);
    if (ds.ok() && row.state != JobState::kAbandoned) {
      return Status::InvalidArgument("job " + std::to_string(id) + " of '" + queue.type +
                                     "' is " + JobStateName(row.state) +
                                     ", not abandoned; only an abandoned job can be retried");
    }
    if (!ds.ok()) return ds;
    return Requeue(tx, *qr, {row.id}, JobState::kAbandoned, true);
  });
}

Status SqlBackend::DeleteJob(const QueueRef& queue, JobId id) {
  auto qr = QueueId(queue, false);
  if (!qr.ok()) return qr.status();
  auto missing = [&] {
    return Status::NotFound("job " + std::to_string(id) + " is not in queue '" + queue.type +
                            "' of domain '" + queue.domain + "'");
  };
  if (*qr == 0) return missing();
  return InTx(TxKind::kWrite, [&](Tx& tx) -> Status {
    const SqlParam p[] = {SqlParam::Int(static_cast<int64_t>(id)), SqlParam::Int(*qr)};
    auto r = tx.c().Query("DELETE FROM jobstore_job WHERE id = $1 AND queue_id = $2 RETURNING state", p);
    if (!r.ok()) return r.status();
    if (r->empty()) return missing();
    const int64_t st = r->Int(0, 0);
    // A row whose state does not decode was in no count.
    if (r->at(0, 0).kind == SqlValue::Kind::kInt && st >= 0 && st <= 3) {
      static constexpr JobState kStates[] = {JobState::kReady, JobState::kClaimed,
                                             JobState::kDelayed, JobState::kAbandoned};
      tx.Move(*qr, kStates[st], std::nullopt);
    }
    return Status::OK();
  });
}

Status SqlBackend::Clear(const QueueRef& queue) {
  auto qr = QueueId(queue, false);
  if (!qr.ok()) return qr.status();
  if (*qr == 0) return Status::OK();
  return InTx(TxKind::kWrite, [&](Tx& tx) -> Status {
    // The counts change by what this transaction deleted (RETURNING), never by a reset: a
    // push that commits meanwhile keeps its jobs and its counts.
    const SqlParam p[] = {SqlParam::Int(*qr)};
    auto d = tx.c().Query("DELETE FROM jobstore_job WHERE queue_id = $1 RETURNING state", p);
    if (!d.ok()) return d.status();
    int64_t by_state[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < d->size(); ++i) {
      const int64_t st = d->Int(i, 0);
      if (d->at(i, 0).kind == SqlValue::Kind::kInt && st >= 0 && st <= 3) ++by_state[st];
    }
    static constexpr JobState kStates[] = {JobState::kReady, JobState::kClaimed,
                                           JobState::kDelayed, JobState::kAbandoned};
    for (int st = 0; st < 4; ++st) tx.Move(*qr, kStates[st], std::nullopt, by_state[st]);
    return Status::OK();
  });
}

}  // namespace jobstore::sql
