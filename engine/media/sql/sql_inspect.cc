// The SQL medium's reads: counts, queues, listings, inspection, the invariant check, and the
// ready index (queues whose summed ready count is above zero) with its epoch and wait.
#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "jobstore/validation.h"
#include "sql_backend.h"
#include "sql_statements.h"

namespace jobstore::sql {
namespace {

constexpr const char* kQueuesWithCounts =
    "SELECT q.id, q.domain_name, q.type_name, CAST(COALESCE(SUM(c.ready), 0) AS BIGINT), "
    "CAST(COALESCE(SUM(c.claimed), 0) AS BIGINT), CAST(COALESCE(SUM(c.delayed), 0) AS BIGINT), "
    "CAST(COALESCE(SUM(c.abandoned), 0) AS BIGINT) FROM jobstore_queue q "
    "LEFT JOIN jobstore_count c ON c.queue_id = q.id GROUP BY q.id, q.domain_name, q.type_name";

uint64_t NonNegative(int64_t v) { return v < 0 ? 0 : static_cast<uint64_t>(v); }

QueueCounts CountsAt(const SqlRows& r, size_t row, size_t first) {
  return {NonNegative(r.Int(row, first)), NonNegative(r.Int(row, first + 1)),
          NonNegative(r.Int(row, first + 2)), NonNegative(r.Int(row, first + 3))};
}

// List cursors: "r<order_rank>.<seq>" for ready, "t<at_ms>.<id>" for the timed states.
std::string CursorOf(bool ready, int64_t a, int64_t b) {
  return std::string(ready ? "r" : "t") + std::to_string(a) + "." + std::to_string(b);
}

bool ParseCursor(const std::string& c, bool ready, int64_t* a, int64_t* b) {
  if (c.size() < 4 || c[0] != (ready ? 'r' : 't')) return false;
  const size_t dot = c.find('.');
  if (dot == std::string::npos) return false;
  try {
    size_t used = 0;
    *a = std::stoll(c.substr(1, dot - 1), &used);
    if (used != dot - 1) return false;
    *b = std::stoll(c.substr(dot + 1), &used);
    return used == c.size() - dot - 1;
  } catch (...) {
    return false;
  }
}

}  // namespace

Result<QueueCounts> SqlBackend::Counts(const QueueRef& queue) {
  auto q = QueueId(queue, false);
  if (!q.ok()) return q.status();
  if (*q == 0) return QueueCounts{};
  const SqlParam p[] = {SqlParam::Int(*q)};
  auto r = Once("SELECT CAST(COALESCE(SUM(ready), 0) AS BIGINT), "
                "CAST(COALESCE(SUM(claimed), 0) AS BIGINT), "
                "CAST(COALESCE(SUM(delayed), 0) AS BIGINT), "
                "CAST(COALESCE(SUM(abandoned), 0) AS BIGINT) FROM jobstore_count WHERE queue_id = $1",
                p);
  if (!r.ok()) return r.status();
  if (r->empty()) return QueueCounts{};
  return CountsAt(*r, 0, 0);
}

Result<std::vector<QueueStats>> SqlBackend::Queues() {
  auto r = Once(kQueuesWithCounts, {});
  if (!r.ok()) return r.status();
  std::vector<QueueStats> out;
  out.reserve(r->size());
  for (size_t i = 0; i < r->size(); ++i) {
    out.push_back({{r->Str(i, 1), r->Str(i, 2)}, CountsAt(*r, i, 3), ""});
  }
  // Bytewise, whatever the database's collation.
  std::sort(out.begin(), out.end(), [](const QueueStats& a, const QueueStats& b) {
    return std::tie(a.queue.domain, a.queue.type) < std::tie(b.queue.domain, b.queue.type);
  });
  return out;
}

Result<ListPage> SqlBackend::List(const QueueRef& queue, JobState state, const std::string& cursor,
                                  size_t limit) {
  auto q = QueueId(queue, false);
  if (!q.ok()) return q.status();
  if (*q == 0) return ListPage{};
  const bool ready = state == JobState::kReady;
  int64_t a = INT64_MIN, b = INT64_MIN;
  if (!cursor.empty() && !ParseCursor(cursor, ready, &a, &b)) {
    return Status::InvalidArgument("list cursor '" + Printable(cursor, 80) +
                                   "' does not belong to this queue and state; pass the "
                                   "next_cursor of the previous page");
  }
  const std::string order = ready ? "order_rank, seq" : "at_ms, id";
  const std::string sql = std::string("SELECT ") + kJobColumns +
                          " FROM jobstore_job WHERE queue_id = $1 AND state = " +
                          std::to_string(StateCode(state)) + " AND (" + order +
                          ") > ($2, $3) ORDER BY " + order + " LIMIT $4";
  const SqlParam p[] = {SqlParam::Int(*q), SqlParam::Int(a), SqlParam::Int(b),
                        SqlParam::Int(static_cast<int64_t>(limit) + 1)};
  auto r = Once(sql, p);
  if (!r.ok()) return r.status();
  ListPage page;
  const size_t shown = std::min(r->size(), limit);
  for (size_t i = 0; i < shown; ++i) {
    JobRow row;
    Status ds = DecodeJobRow(*r, i, &row);
    page.jobs.push_back(DescribeJob(queue, row, ds));
  }
  if (r->size() > limit) {
    // Positions straight from the columns: a row that fails to decode still has them.
    const size_t last = limit - 1;
    page.next_cursor = ready ? CursorOf(true, r->Int(last, 3), r->Int(last, 4))
                             : CursorOf(false, r->Int(last, 5), r->Int(last, 0));
  }
  return page;
}

Result<JobInfo> SqlBackend::Inspect(const QueueRef& queue, JobId id) {
  auto q = QueueId(queue, false);
  if (!q.ok()) return q.status();
  auto missing = [&] {
    return Status::NotFound("job " + std::to_string(id) + " is not in queue '" + queue.type +
                            "' of domain '" + queue.domain + "'");
  };
  if (*q == 0) return missing();
  const SqlParam p[] = {SqlParam::Int(static_cast<int64_t>(id)), SqlParam::Int(*q)};
  auto r = Once(std::string("SELECT ") + kJobColumns +
                    " FROM jobstore_job WHERE id = $1 AND queue_id = $2",
                p);
  if (!r.ok()) return r.status();
  if (r->empty()) return missing();
  JobRow row;
  Status ds = DecodeJobRow(*r, 0, &row);
  return DescribeJob(queue, row, ds);
}

Result<std::vector<std::string>> SqlBackend::Check() {
  std::vector<std::string> bad;
  // One snapshot (PostgreSQL: REPEATABLE READ; SQLite: the read transaction), so the rows and
  // the counts are compared as of one moment while writers go on.
  Status s = InTx(TxKind::kRead, [&](Tx& tx) -> Status {
    bad.clear();
    auto queues = tx.c().Query(kQueuesWithCounts, std::span<const SqlParam>());
    if (!queues.ok()) return queues.status();
    std::map<int64_t, std::string> names;
    std::map<int64_t, QueueCounts> counted;
    for (size_t i = 0; i < queues->size(); ++i) {
      const int64_t q = queues->Int(i, 0);
      names[q] = "queue '" + queues->Str(i, 2) + "' domain '" + queues->Str(i, 1) + "': ";
      counted[q] = CountsAt(*queues, i, 3);
      for (int c = 3; c < 7; ++c) {
        if (queues->Int(i, static_cast<size_t>(c)) < 0) {
          bad.push_back(names[q] + "a count is negative (" +
                        std::to_string(queues->Int(i, static_cast<size_t>(c))) + ")");
        }
      }
    }
    std::map<int64_t, QueueCounts> stored;
    int64_t after = 0;
    const std::string page = std::string("SELECT ") + kJobColumns +
                             " FROM jobstore_job WHERE id > $1 ORDER BY id LIMIT 10000";
    for (;;) {
      const SqlParam p[] = {SqlParam::Int(after)};
      auto r = tx.c().Query(page, p);
      if (!r.ok()) return r.status();
      for (size_t i = 0; i < r->size(); ++i) {
        JobRow row;
        Status ds = DecodeJobRow(*r, i, &row);
        const int64_t q = r->Int(i, 1);
        auto name = names.find(q);
        const std::string where =
            name == names.end() ? "queue id " + std::to_string(q) + ": " : name->second;
        if (!ds.ok()) {
          bad.push_back(where + ds.message());
        } else {
          if (name == names.end()) bad.push_back(where + "job " + std::to_string(row.id) + " belongs to no queue");
          const bool queued = row.state == JobState::kReady || row.state == JobState::kDelayed;
          if (row.holds_dedup && !queued) {
            bad.push_back(where + "job " + std::to_string(row.id) + " is " +
                          JobStateName(row.state) + " but holds a dedup entry");
          }
          if (row.holds_dedup && !row.dedup) {
            bad.push_back(where + "job " + std::to_string(row.id) +
                          " holds a dedup entry but was not pushed as dedup");
          }
        }
        // Counted by the state column when it decodes, as the transitions count.
        const SqlValue& st = r->at(i, 2);
        if (st.kind == SqlValue::Kind::kInt && st.i >= 0 && st.i <= 3) {
          QueueCounts& c = stored[q];
          (st.i == 0 ? c.ready : st.i == 1 ? c.claimed : st.i == 2 ? c.delayed : c.abandoned) += 1;
        }
        after = std::max(after, r->Int(i, 0));
      }
      if (r->size() < 10000) break;
    }
    for (const auto& [q, name] : names) {
      const QueueCounts have = stored.count(q) ? stored[q] : QueueCounts{};
      const QueueCounts said = counted[q];
      if (have != said) {
        bad.push_back(name + "counts say ready " + std::to_string(said.ready) + ", claimed " +
                      std::to_string(said.claimed) + ", delayed " + std::to_string(said.delayed) +
                      ", abandoned " + std::to_string(said.abandoned) + " but the jobs are " +
                      std::to_string(have.ready) + ", " + std::to_string(have.claimed) + ", " +
                      std::to_string(have.delayed) + ", " + std::to_string(have.abandoned) +
                      " (the ready index follows the counts)");
      }
    }
    auto types = tx.c().Query("SELECT name, job_order, claim_ttl_ms, max_tries, retries_allowed, "
                              "retention_ms, root_job_ttl_ms FROM jobstore_type",
                              std::span<const SqlParam>());
    if (!types.ok()) return types.status();
    for (size_t i = 0; i < types->size(); ++i) {
      // DecodeTypeSettings reads columns 0..5: shift by the name.
      SqlRows one(6);
      SqlValue* v = one.AddRow();
      for (size_t c = 0; c < 6; ++c) v[c] = types->at(i, c + 1);
      auto ts = DecodeTypeSettings(one, 0, types->Str(i, 0));
      if (!ts.ok()) bad.push_back(ts.status().message());
    }
    return Status::OK();
  });
  if (!s.ok()) return s;
  return bad;
}

Result<std::vector<QueueRef>> SqlBackend::ReadyQueues() {
  auto queues = Queues();
  if (!queues.ok()) return queues.status();
  std::vector<QueueRef> out;
  for (const QueueStats& q : *queues) {
    if (q.counts.ready > 0) out.push_back(q.queue);
  }
  return out;
}

Result<std::optional<QueueRef>> SqlBackend::PickReadyQueue(const ReadyFilter& filter) {
  auto ready = ReadyQueues();
  if (!ready.ok()) return ready.status();
  std::vector<QueueRef> allowed;
  for (const QueueRef& q : *ready) {
    if (filter.domain && q.domain != *filter.domain) continue;
    if (!filter.types.empty() &&
        std::find(filter.types.begin(), filter.types.end(), q.type) == filter.types.end()) {
      continue;
    }
    if (std::find(filter.exclude.begin(), filter.exclude.end(), q.type) != filter.exclude.end()) {
      continue;
    }
    allowed.push_back(q);
  }
  if (allowed.empty()) return std::optional<QueueRef>();
  return std::optional<QueueRef>(allowed[Random() % allowed.size()]);
}

Result<uint64_t> SqlBackend::ReadyEpoch() {
  // Look at the watcher once, so that a later wait compares against what is committed now.
  // A thread already waiting on it is watching for us.
  std::unique_lock<std::mutex> wl(watch_mu_, std::try_to_lock);
  if (wl.owns_lock()) {
    bool changed = false;
    Status s = watcher_->Wait(0, &changed);
    if (!s.ok()) return s;
    if (changed) Bump();
  }
  return epoch_.load();
}

Status SqlBackend::WaitForReady(uint64_t epoch, int64_t max_wait_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max<int64_t>(max_wait_ms, 0));
  // A watcher that only looks (SQLite) is looked at this often; one that blocks (LISTEN) is
  // waited on in slices this long, so a closing store is noticed.
  constexpr int64_t kSliceMs = 20;
  for (;;) {
    {
      std::lock_guard<std::mutex> l(epoch_mu_);
      if (epoch_.load() != epoch || closing_) return Status::OK();
    }
    const int64_t left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return Status::OK();
    const int64_t slice = std::min(left, kSliceMs);
    std::unique_lock<std::mutex> wl(watch_mu_, std::try_to_lock);
    if (wl.owns_lock() && watcher_->blocks()) {
      bool changed = false;
      Status s = watcher_->Wait(slice, &changed);
      if (!s.ok()) return s;
      if (changed) Bump();
      continue;
    }
    if (wl.owns_lock()) {
      bool changed = false;
      Status s = watcher_->Wait(0, &changed);
      if (!s.ok()) return s;
      if (changed) {
        Bump();
        continue;
      }
      wl.unlock();
    }
    std::unique_lock<std::mutex> l(epoch_mu_);
    epoch_cv_.wait_for(l, std::chrono::milliseconds(slice),
                       [&] { return epoch_.load() != epoch || closing_; });
  }
}

}  // namespace jobstore::sql
