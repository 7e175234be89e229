// The SQL medium's transactions: opening, queues and types, push, claim, ack, settle, touch.
// Maintenance and the per-job operations are in sql_maintain.cc, the reads in sql_inspect.cc.
#include "sql_backend.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <tuple>

#include "jobstore/validation.h"
#include "sql_schema.h"
#include "sql_statements.h"

namespace jobstore::sql {

uint64_t SqlBackend::Random() {
  std::lock_guard<std::mutex> l(rng_mu_);
  return rng_();
}

SqlBackend::SqlBackend(std::unique_ptr<SqlDatabase> db, const Options& options, size_t pool_size)
    : options_(options), pool_(std::make_unique<SqlPool>(std::move(db), pool_size)) {}

SqlBackend::~SqlBackend() {
  std::lock_guard<std::mutex> l(epoch_mu_);
  closing_ = true;
  epoch_cv_.notify_all();
}

Result<std::unique_ptr<SqlBackend>> SqlBackend::Open(std::unique_ptr<SqlDatabase> db,
                                                     const Options& options, size_t pool_size) {
  std::unique_ptr<SqlBackend> b(new SqlBackend(std::move(db), options, pool_size));
  Status s = EnsureSchema(*b->pool_, options.create_if_missing);
  if (!s.ok()) return s;
  auto watcher = b->pool_->database().Watch();
  if (!watcher.ok()) return watcher.status();
  b->watcher_ = std::move(watcher).value();

  Capabilities& c = b->capabilities_;
  const std::string where = b->pool_->database().Describe();
  c.push_atomicity = Capabilities::PushAtomicity::kWholeBatch;
  c.exact_counts = true;
  c.exact_ready_index = true;
  c.shared = true;
  if (std::string(b->pool_->dialect().name) == "sqlite") {
    c.medium = "sqlite";
    const bool synced = options.durability == Durability::kPowerLoss;
    c.push_durability = synced ? Capabilities::Durability::kPowerLoss
                               : Capabilities::Durability::kProcessCrash;
    c.note = where + ", WAL, synchronous=" + (synced ? "FULL" : "NORMAL") +
             " on push; processes on this machine can share it";
  } else {
    c.medium = "postgresql";
    c.push_durability = Capabilities::Durability::kServerConfig;
    c.note = where + "; pushes commit with synchronous_commit=on (they survive what the "
             "server's fsync setting makes them survive), claims and acks with "
             "synchronous_commit=off; shared by every machine that reaches the server";
  }
  return b;
}

// --- transactions -------------------------------------------------------------------------

void SqlBackend::Tx::Move(int64_t q, std::optional<JobState> from, std::optional<JobState> to,
                          int64_t n) {
  if (n == 0) return;
  Delta& d = deltas_[q];
  if (from) d.n[StateCode(*from)] -= n;
  if (to) {
    d.n[StateCode(*to)] += n;
    if (*to == JobState::kReady) readied_ = true;
  }
}

std::string SqlBackend::Tx::Trailing() const {
  std::string out;
  bool any = false;
  for (const auto& [q, d] : deltas_) {  // std::map: ascending queue id
    if (d.zero()) continue;
    out += any ? ", (" : "INSERT INTO jobstore_count (queue_id, slot, ready, claimed, delayed, "
                         "abandoned) VALUES (";
    any = true;
    // Integers only: nothing here comes from a caller as text.
    out += std::to_string(q) + ", " + std::to_string(c_.slot());
    for (int64_t v : d.n) out += ", " + std::to_string(v);
    out += ")";
  }
  if (any) {
    out += " ON CONFLICT (queue_id, slot) DO UPDATE SET "
           "ready = jobstore_count.ready + excluded.ready, "
           "claimed = jobstore_count.claimed + excluded.claimed, "
           "delayed = jobstore_count.delayed + excluded.delayed, "
           "abandoned = jobstore_count.abandoned + excluded.abandoned;";
  }
  if (readied_) out += d().notify_ready;
  return out;
}

Status SqlBackend::InTx(TxKind kind, const std::function<Status(Tx&)>& body) {
  constexpr int kTries = 5;
  for (int attempt = 1;; ++attempt) {
    auto lease = pool_->Acquire();
    if (!lease.ok()) return lease.status();
    SqlConnection& c = **lease;
    Status s = c.Begin(kind);
    if (!s.ok()) {
      // A pooled connection whose server went away: nothing was sent, try a fresh one.
      if (c.broken() && attempt < kTries) continue;
      return s;
    }
    Tx tx(c);
    s = body(tx);
    if (!s.ok()) {
      c.Rollback();
      // Busy: the database rolled back a deadlock or serialization failure; a connection lost
      // before COMMIT rolled back too. Either way nothing happened: run it again.
      if ((s.IsBusy() || (s.IsUnavailable() && c.broken())) && attempt < kTries) continue;
      return s;
    }
    s = c.Commit(tx.Trailing());
    if (s.ok()) {
      if (tx.readied()) Bump();
      return s;
    }
    // A failed COMMIT is never retried: it may have committed (the message says so).
    return s;
  }
}

Result<SqlRows> SqlBackend::Once(std::string_view sql, std::span<const SqlParam> params) {
  for (int attempt = 1;; ++attempt) {
    auto lease = pool_->Acquire();
    if (!lease.ok()) return lease.status();
    auto r = (*lease)->Query(sql, params);
    // Reads only: running one again is harmless.
    if (!r.ok() && (*lease)->broken() && attempt < 2) continue;
    return r;
  }
}

void SqlBackend::Bump() {
  std::lock_guard<std::mutex> l(epoch_mu_);
  epoch_.fetch_add(1);
  epoch_cv_.notify_all();
}

// --- queues and types ---------------------------------------------------------------------

Result<int64_t> SqlBackend::QueueId(const QueueRef& ref, bool create) {
  const auto key = std::make_pair(ref.domain, ref.type);
  {
    std::shared_lock<std::shared_mutex> l(queues_mu_);
    auto it = queue_ids_.find(key);
    if (it != queue_ids_.end()) return it->second;
  }
  const SqlParam names[] = {SqlParam::Text(ref.domain), SqlParam::Text(ref.type)};
  auto found = Once(kSelectQueueId, names);
  if (!found.ok()) return found.status();
  if (found->empty()) {
    if (!create) return int64_t{0};
    // Queues and types are never removed: one made for a push that then fails is harmless.
    // Durable, as the jobs that will point at it.
    const TypeSettings defaults;
    Status s = InTx(TxKind::kDurableWrite, [&](Tx& tx) -> Status {
      auto t = tx.c().Query(kInsertTypeIfMissing, TypeParams(ref.type, defaults));
      if (!t.ok()) return t.status();
      auto q = tx.c().Query(kInsertQueueIfMissing, names);
      return q.status();
    });
    if (!s.ok()) return s;
    found = Once(kSelectQueueId, names);
    if (!found.ok()) return found.status();
    if (found->empty()) return Status::Internal("queue '" + ref.type + "' vanished after creation");
  }
  const int64_t id = found->Int(0, 0);
  std::unique_lock<std::shared_mutex> l(queues_mu_);
  queue_ids_[key] = id;
  return id;
}

Result<int64_t> SqlBackend::QueueIdOfClaim(const QueueRef& ref) {
  auto q = QueueId(ref, false);
  if (!q.ok()) return q.status();
  if (*q == 0) {
    return Status::NotFound("no queue '" + ref.type + "' in domain '" + ref.domain +
                            "'; check the type and domain");
  }
  return *q;
}

Result<std::vector<int64_t>> SqlBackend::AllocIds(Tx& tx, size_t n) {
  std::vector<int64_t> ids;
  if (n == 0) return ids;
  auto r = tx.c().Query(tx.d().alloc_ids, {SqlParam::Int(static_cast<int64_t>(n))});
  if (!r.ok()) return r.status();
  ids.reserve(n);
  if (tx.d().ids_are_range) {
    if (r->size() != 1) return Status::Corruption("the store's id counter (jobstore_meta next_id) is missing");
    const int64_t end = r->Int(0, 0);
    for (int64_t id = end - static_cast<int64_t>(n); id < end; ++id) ids.push_back(id);
  } else {
    for (size_t i = 0; i < r->size(); ++i) ids.push_back(r->Int(i, 0));
  }
  if (ids.size() != n || ids.front() < 1) {
    return Status::Corruption("the store's id source returned " + std::to_string(ids.size()) +
                              " ids for " + std::to_string(n));
  }
  return ids;
}

Result<TypeSettings> SqlBackend::SettingsOf(SqlConnection& c, const std::string& type) {
  auto r = c.Query(kSelectType, {SqlParam::Text(type)});
  if (!r.ok()) return r.status();
  if (r->empty()) return TypeSettings{};
  return DecodeTypeSettings(*r, 0, type);
}

Result<TypeSettings> SqlBackend::GetTypeSettings(const std::string& type) {
  const SqlParam p[] = {SqlParam::Text(type)};
  auto r = Once(kSelectType, p);
  if (!r.ok()) return r.status();
  if (r->empty()) return TypeSettings{};
  return DecodeTypeSettings(*r, 0, type);
}

Status SqlBackend::SetTypeSettings(const std::string& type, const TypeSettings& settings) {
  return InTx(TxKind::kDurableWrite, [&](Tx& tx) -> Status {
    return tx.c().Query(kUpsertType, TypeParams(type, settings)).status();
  });
}

Result<std::vector<std::string>> SqlBackend::Types() {
  auto r = Once("SELECT name FROM jobstore_type", {});
  if (!r.ok()) return r.status();
  std::vector<std::string> out;
  for (size_t i = 0; i < r->size(); ++i) out.push_back(r->Str(i, 0));
  std::sort(out.begin(), out.end());  // bytewise, whatever the database's collation
  return out;
}

// --- push ---------------------------------------------------------------------------------

Result<PushResult> SqlBackend::Push(const std::vector<NewJob>& jobs, int64_t now) {
  const size_t n = jobs.size();
  std::vector<int64_t> qids(n);
  for (size_t i = 0; i < n; ++i) {
    auto q = QueueId({jobs[i].spec->domain, jobs[i].spec->type}, true);
    if (!q.ok()) return q.status();
    qids[i] = *q;
  }
  std::vector<int64_t> ranks(n);
  PushResult result;
  Status s = InTx(TxKind::kDurableWrite, [&](Tx& tx) -> Status {
    result = PushResult();
    result.ids.assign(n, 0);
    result.duplicate.assign(n, false);
    // The ready order is fixed at push from the type's order (as of this transaction).
    std::map<std::string, Order> orders;
    for (const NewJob& j : jobs) {
      if (orders.count(j.spec->type)) continue;
      auto ts = SettingsOf(tx.c(), j.spec->type);
      if (!ts.ok()) return ts.status();
      orders[j.spec->type] = ts->order;
    }
    for (size_t i = 0; i < n; ++i) {
      const JobSpec& spec = *jobs[i].spec;
      switch (orders[spec.type]) {
        case Order::kFifo: ranks[i] = 0; break;
        case Order::kPriority: ranks[i] = int64_t{kMaxPriority} - spec.priority; break;
        // MediaWiki's job_random: claims take the lowest, a lottery over the ready jobs.
        case Order::kRandom: ranks[i] = static_cast<int64_t>(Random() & 0x7fffffff); break;
      }
    }
    if (jobs[0].restore) return RestoreIn(tx, jobs, qids, ranks, &result);
    auto ids = AllocIds(tx, n);
    if (!ids.ok()) return ids.status();

    // Inserts `which` (indexes into jobs); the dedup jobs whose hash a queued job holds are
    // not inserted (the unique index decides, atomically) and are returned.
    auto insert = [&](const std::vector<size_t>& which, std::vector<size_t>* held) -> Status {
      for (size_t from = 0; from < which.size(); from += kChunk) {
        const size_t k = std::min(kChunk, which.size() - from);
        std::vector<SqlParam> params;
        params.reserve(k * kInsertJobParams);
        for (size_t r = 0; r < k; ++r) {
          const size_t i = which[from + r];
          const JobSpec& spec = *jobs[i].spec;
          const bool delayed = jobs[i].delayed;
          params.push_back(SqlParam::Int((*ids)[i]));
          params.push_back(SqlParam::Int(qids[i]));
          params.push_back(SqlParam::Int(StateCode(delayed ? JobState::kDelayed : JobState::kReady)));
          params.push_back(SqlParam::Int(ranks[i]));
          params.push_back(SqlParam::Int(delayed ? spec.release_at_ms : 0));
          params.push_back(SqlParam::Int(now));
          params.push_back(SqlParam::Int(spec.priority));
          params.push_back(SqlParam::Int(spec.release_at_ms));
          params.push_back(SqlParam::Int(spec.dedup ? 1 : 0));
          params.push_back(spec.dedup ? SqlParam::Blob(jobs[i].dedup_hash) : SqlParam::NullBlob());
          params.push_back(SqlParam::Text(spec.root_signature));
          params.push_back(SqlParam::Int(spec.root_timestamp_ms));
          params.push_back(SqlParam::Blob(spec.params));
        }
        auto r = tx.c().Query(InsertJobsSql(k), params);
        if (!r.ok()) return r.status();
        std::set<int64_t> inserted;
        for (size_t row = 0; row < r->size(); ++row) inserted.insert(r->Int(row, 0));
        for (size_t r2 = 0; r2 < k; ++r2) {
          const size_t i = which[from + r2];
          if (inserted.count((*ids)[i])) {
            result.ids[i] = static_cast<JobId>((*ids)[i]);
            tx.Move(qids[i], std::nullopt, jobs[i].delayed ? JobState::kDelayed : JobState::kReady);
            ++result.pushed;
          } else if (jobs[i].spec->dedup) {
            held->push_back(i);
          } else {
            return Status::Internal("job " + std::to_string((*ids)[i]) + " was not inserted");
          }
        }
      }
      return Status::OK();
    };
    std::vector<size_t> all(n), held;
    for (size_t i = 0; i < n; ++i) all[i] = i;
    Status st = insert(all, &held);
    // A duplicate's holder may be claimed (and give up its hash) between the insert and this
    // read on PostgreSQL: such a job is inserted after all, on the next round.
    for (int round = 0; st.ok() && !held.empty(); ++round) {
      if (round == 3) return Status::Busy("dedup entries kept changing under the push");
      std::vector<size_t> retry;
      for (size_t i : held) {
        const SqlParam p[] = {SqlParam::Int(qids[i]), SqlParam::Blob(jobs[i].dedup_hash)};
        auto h = tx.c().Query(kSelectDedupHolder, p);
        if (!h.ok()) return h.status();
        if (h->empty()) {
          retry.push_back(i);
        } else {
          result.ids[i] = static_cast<JobId>(h->Int(0, 0));
          result.duplicate[i] = true;
          ++result.duplicates;
        }
      }
      held.clear();
      if (!retry.empty()) st = insert(retry, &held);
    }
    if (!st.ok()) return st;
    for (size_t i = 0; i < n; ++i) {
      const JobSpec& spec = *jobs[i].spec;
      if (!spec.root_is_self || result.duplicate[i]) continue;
      Status reg = RegisterRoot(tx, qids[i], spec.root_signature, spec.root_timestamp_ms);
      if (!reg.ok()) return reg;
    }
    return Status::OK();
  });
  if (!s.ok()) return s;
  return result;
}

Status SqlBackend::RestoreIn(Tx& tx, const std::vector<NewJob>& jobs,
                             const std::vector<int64_t>& qids, const std::vector<int64_t>& ranks,
                             PushResult* result) {
  const size_t n = jobs.size();
  size_t fresh = 0;
  for (const NewJob& j : jobs) fresh += j.restore->id == 0;
  auto ids = AllocIds(tx, fresh);
  if (!ids.ok()) return ids.status();
  int64_t highest = 0;
  std::set<std::pair<int64_t, std::string>> hashes;  // taken in this batch
  for (size_t i = 0, next = 0; i < n; ++i) {
    const JobSpec& spec = *jobs[i].spec;
    const RestoredState& r = *jobs[i].restore;
    const int64_t id = r.id != 0 ? static_cast<int64_t>(r.id) : (*ids)[next++];
    if (r.id != 0) {
      // Ids are the table's key: one held by this queue was restored before; one held by
      // another queue cannot be taken.
      const SqlParam p[] = {SqlParam::Int(id)};
      auto held = tx.c().Query(kSelectJobQueue, p);
      if (!held.ok()) return held.status();
      if (!held->empty()) {
        if (held->Int(0, 0) != qids[i]) {
          return Status::InvalidArgument(
              "job id " + std::to_string(id) + " of '" + spec.type +
              "' is held by a job of another queue in this store; nothing was restored: "
              "restore with new ids (jobstore import --new-ids)");
        }
        result->ids[i] = r.id;
        result->duplicate[i] = true;
        ++result->duplicates;
        continue;
      }
      highest = std::max(highest, id);
    }
    bool owns = spec.dedup && r.state != JobState::kAbandoned &&
                hashes.emplace(qids[i], jobs[i].dedup_hash).second;
    if (owns) {
      const SqlParam p[] = {SqlParam::Int(qids[i]), SqlParam::Blob(jobs[i].dedup_hash)};
      auto h = tx.c().Query(kSelectDedupHolder, p);
      if (!h.ok()) return h.status();
      owns = h->empty();
    }
    const int64_t at = r.state == JobState::kDelayed     ? spec.release_at_ms
                       : r.state == JobState::kAbandoned ? r.abandoned_at_ms
                                                         : 0;
    const SqlParam p[] = {SqlParam::Int(id), SqlParam::Int(qids[i]),
                          SqlParam::Int(StateCode(r.state)), SqlParam::Int(ranks[i]),
                          SqlParam::Int(at), SqlParam::Int(r.attempts),
                          SqlParam::Int(r.claimed_at_ms), SqlParam::Int(r.enqueued_at_ms),
                          SqlParam::Int(spec.priority), SqlParam::Int(spec.release_at_ms),
                          SqlParam::Int(spec.dedup ? 1 : 0),
                          owns ? SqlParam::Blob(jobs[i].dedup_hash) : SqlParam::NullBlob(),
                          SqlParam::Text(spec.root_signature), SqlParam::Int(spec.root_timestamp_ms),
                          SqlParam::Text(r.last_error), SqlParam::Blob(spec.params)};
    auto w = tx.c().Query(kRestoreJob, p);
    if (!w.ok()) return w.status();
    tx.Move(qids[i], std::nullopt, r.state);
    result->ids[i] = static_cast<JobId>(id);
    ++result->pushed;
    if (spec.root_is_self) {
      Status reg = RegisterRoot(tx, qids[i], spec.root_signature, spec.root_timestamp_ms);
      if (!reg.ok()) return reg;
    }
  }
  if (highest > 0) {
    auto raised = tx.c().Query(tx.d().raise_ids, {SqlParam::Int(highest)});
    if (!raised.ok()) return raised.status();
  }
  return Status::OK();
}

// --- claims -------------------------------------------------------------------------------

Status SqlBackend::RegisterRoot(Tx& tx, int64_t q, const std::string& signature,
                                int64_t timestamp_ms) {
  const SqlParam p[] = {SqlParam::Int(q), SqlParam::Text(signature), SqlParam::Int(timestamp_ms)};
  auto r = tx.c().Query(kRegisterRoot, p);
  return r.ok() ? Status::OK() : r.status();
}

Status SqlBackend::MoveToAbandonedCorrupt(Tx& tx, int64_t q, int64_t id, const std::string& why,
                                          int64_t now) {
  const std::string error = ("corrupt record: " + why).substr(0, kMaxErrorBytes);
  const SqlParam p[] = {SqlParam::Int(now), SqlParam::Text(error), SqlParam::Int(id)};
  auto r = tx.c().Query(kAbandonCorrupt, p);
  if (!r.ok()) return r.status();
  return Status::OK();
}

Result<std::vector<ClaimedJob>> SqlBackend::Claim(const QueueRef& ref, size_t max_jobs,
                                                  int64_t now, int64_t deadline) {
  std::vector<ClaimedJob> out;
  auto qr = QueueId(ref, false);
  if (!qr.ok()) return qr.status();
  const int64_t q = *qr;
  if (q == 0) return out;
  Status s = InTx(TxKind::kWrite, [&](Tx& tx) -> Status {
    out.clear();
    // A nonce per claim and job: base + id, base fresh for every claim (so a reclaimed and
    // claimed-again job never gets its old token back).
    const int64_t base = static_cast<int64_t>(Random() >> 2) | 1;
    const SqlParam p[] = {SqlParam::Int(deadline), SqlParam::Int(base), SqlParam::Int(now),
                          SqlParam::Int(q), SqlParam::Int(static_cast<int64_t>(max_jobs))};
    const std::string sql = ClaimSql(tx.d());
    auto r = tx.c().Query(sql, p);
    if (!r.ok()) return r.status();
    // A dialect that claims a row per statement runs it again until the batch is full.
    while (tx.d().batch_rows == 1 && r->size() < max_jobs) {
      auto more = tx.c().Query(sql, p);
      if (!more.ok()) return more.status();
      if (more->empty()) break;
      for (size_t i = 0; i < more->size(); ++i) {
        SqlValue* row = r->AddRow();
        for (size_t c = 0; c < more->columns(); ++c) row[c] = more->at(i, c);
      }
    }
    std::vector<JobRow> rows;
    rows.reserve(r->size());
    for (size_t i = 0; i < r->size(); ++i) {
      JobRow row;
      Status ds = DecodeJobRow(*r, i, &row);
      if (!ds.ok()) {
        // Moved aside, never handed out; Check still reports what is wrong with it.
        if (row.id == 0) return ds;
        Status m = MoveToAbandonedCorrupt(tx, q, row.id, ds.message(), now);
        if (!m.ok()) return m;
        tx.Move(q, JobState::kReady, JobState::kAbandoned);
        continue;
      }
      rows.push_back(std::move(row));
    }
    std::sort(rows.begin(), rows.end(), [](const JobRow& a, const JobRow& b) {
      return std::tie(a.order_rank, a.seq) < std::tie(b.order_rank, b.seq);
    });
    tx.Move(q, JobState::kReady, JobState::kClaimed, static_cast<int64_t>(rows.size()));
    std::map<std::string, int64_t> newest;  // root signature -> newest timestamp seen
    for (JobRow& row : rows) {
      bool superseded = false;
      if (!row.root_signature.empty()) {
        auto known = newest.find(row.root_signature);
        if (known == newest.end()) {
          const SqlParam rp[] = {SqlParam::Int(q), SqlParam::Text(row.root_signature)};
          auto got = tx.c().Query(kSelectRoot, rp);
          if (!got.ok()) return got.status();
          known = newest.emplace(row.root_signature, got->empty() ? INT64_MIN : got->Int(0, 0)).first;
        }
        if (known->second > row.root_timestamp_ms) {
          superseded = true;
        } else if (known->second < row.root_timestamp_ms) {
          // Registered at claim too (MediaWiki's base queue): a newer root job claimed first
          // still supersedes the older ones claimed after it.
          known->second = row.root_timestamp_ms;
          Status reg = RegisterRoot(tx, q, row.root_signature, row.root_timestamp_ms);
          if (!reg.ok()) return reg;
        }
      }
      ClaimedJob job;
      job.claim = {ref, static_cast<JobId>(row.id), ClaimToken{row.at_ms, row.nonce}};
      job.params = std::move(row.params);
      job.attempts = row.attempts;
      job.priority = row.priority;
      job.enqueued_at_ms = row.enqueued_at_ms;
      job.root_signature = std::move(row.root_signature);
      job.root_timestamp_ms = row.root_timestamp_ms;
      job.superseded = superseded;
      out.push_back(std::move(job));
    }
    return Status::OK();
  });
  if (!s.ok()) return s;
  return out;
}

Status SqlBackend::NotHeld(SqlConnection& c, const jobstore::Claim& claim, int64_t q) {
  const SqlParam p[] = {SqlParam::Int(static_cast<int64_t>(claim.id)), SqlParam::Int(q)};
  auto r = c.Query(kSelectJobState, p);
  if (!r.ok()) return r.status();
  if (r->empty()) {
    return Status::NotFound("job " + std::to_string(claim.id) + " of '" + claim.queue.type +
                            "' in domain '" + claim.queue.domain +
                            "' is not in the store (already acked?)");
  }
  return Status::StaleToken("job " + std::to_string(claim.id) + " of '" + claim.queue.type +
                            "' is no longer held by this claim (its lease expired and it was "
                            "reclaimed); do not ack it, the job will run again");
}

Status SqlBackend::LoadClaim(Tx& tx, const jobstore::Claim& claim, int64_t q, JobRow* row) {
  const SqlParam p[] = {SqlParam::Int(static_cast<int64_t>(claim.id)), SqlParam::Int(q)};
  auto r = tx.c().Query(SelectJobForUpdateSql(tx.d()), p);
  if (!r.ok()) return r.status();
  if (r->empty()) return NotHeld(tx.c(), claim, q);
  Status ds = DecodeJobRow(*r, 0, row);
  if (!ds.ok()) return ds;
  if (row->state != JobState::kClaimed || row->at_ms != claim.token.deadline_ms ||
      row->nonce != claim.token.nonce) {
    return NotHeld(tx.c(), claim, q);
  }
  return Status::OK();
}

Result<std::vector<Status>> SqlBackend::Ack(const std::vector<jobstore::Claim>& claims) {
  std::vector<Status> result(claims.size());
  std::vector<int64_t> qids(claims.size(), 0);
  std::vector<size_t> valid;
  for (size_t i = 0; i < claims.size(); ++i) {
    auto q = QueueIdOfClaim(claims[i].queue);
    if (!q.ok()) {
      if (!q.status().IsNotFound()) return q.status();
      result[i] = q.status();
      continue;
    }
    qids[i] = *q;
    valid.push_back(i);
  }
  if (valid.empty()) return result;
  Status s = InTx(TxKind::kWrite, [&](Tx& tx) -> Status {
    const size_t chunk = tx.d().batch_rows;
    for (size_t from = 0; from < valid.size(); from += chunk) {
      const size_t k = std::min(chunk, valid.size() - from);
      std::vector<SqlParam> params;
      params.reserve(k * 4);
      for (size_t r = 0; r < k; ++r) {
        const jobstore::Claim& c = claims[valid[from + r]];
        params.push_back(SqlParam::Int(static_cast<int64_t>(c.id)));
        params.push_back(SqlParam::Int(qids[valid[from + r]]));
        params.push_back(SqlParam::Int(c.token.deadline_ms));
        params.push_back(SqlParam::Int(static_cast<int64_t>(c.token.nonce)));
      }
      auto r = tx.c().Query(AckSql(k), params);
      if (!r.ok()) return r.status();
      std::set<int64_t> gone;
      for (size_t row = 0; row < r->size(); ++row) gone.insert(r->Int(row, 0));
      for (size_t r2 = 0; r2 < k; ++r2) {
        const size_t i = valid[from + r2];
        if (gone.count(static_cast<int64_t>(claims[i].id))) {
          result[i] = Status::OK();
          tx.Move(qids[i], JobState::kClaimed, std::nullopt);
        } else {
          result[i] = NotHeld(tx.c(), claims[i], qids[i]);
          if (!result[i].IsNotFound() && !result[i].IsStaleToken()) return result[i];
        }
      }
    }
    return Status::OK();
  });
  if (!s.ok()) return s;
  return result;
}

Status SqlBackend::Place(Tx& tx, int64_t q,
                         const std::vector<std::pair<int64_t, Disposition>>& moves, int64_t now) {
  const size_t chunk = tx.d().batch_rows;
  for (size_t from = 0; from < moves.size(); from += chunk) {
    const size_t k = std::min(chunk, moves.size() - from);
    std::vector<std::string> errors(k);
    std::vector<SqlParam> params;
    params.reserve(k * 4 + 1);
    params.push_back(SqlParam::Int(q));
    for (size_t r = 0; r < k; ++r) {
      const auto& [id, d] = moves[from + r];
      JobState to = JobState::kReady;
      int64_t at = 0;
      if (d.to == Disposition::To::kDelayed) {
        to = JobState::kDelayed;
        at = d.release_at_ms;
      } else if (d.to == Disposition::To::kAbandoned) {
        to = JobState::kAbandoned;
        at = now;
      }
      errors[r] = d.error.substr(0, kMaxErrorBytes);
      params.push_back(SqlParam::Int(id));
      params.push_back(SqlParam::Int(StateCode(to)));
      params.push_back(SqlParam::Int(at));
      params.push_back(SqlParam::Text(errors[r]));
      tx.Move(q, JobState::kClaimed, to);
    }
    auto r = tx.c().Query(PlaceSql(k), params);
    if (!r.ok()) return r.status();
    if (r->size() != k) {
      return Status::Internal("moved " + std::to_string(r->size()) + " of " + std::to_string(k) +
                              " claimed jobs it holds");
    }
  }
  return Status::OK();
}

Status SqlBackend::Settle(const jobstore::Claim& claim, int64_t now, const DecideFn& decide) {
  auto q = QueueIdOfClaim(claim.queue);
  if (!q.ok()) return q.status();
  return InTx(TxKind::kWrite, [&](Tx& tx) -> Status {
    JobRow row;
    Status s = LoadClaim(tx, claim, *q, &row);  // the row is locked until commit
    if (!s.ok()) return s;
    return Place(tx, *q, {{row.id, decide(row.attempts)}}, now);
  });
}

Result<ClaimToken> SqlBackend::Touch(const jobstore::Claim& claim, int64_t deadline) {
  auto q = QueueIdOfClaim(claim.queue);
  if (!q.ok()) return q.status();
  Status s = InTx(TxKind::kWrite, [&](Tx& tx) -> Status {
    const SqlParam p[] = {SqlParam::Int(deadline), SqlParam::Int(static_cast<int64_t>(claim.id)),
                          SqlParam::Int(*q), SqlParam::Int(claim.token.deadline_ms),
                          SqlParam::Int(static_cast<int64_t>(claim.token.nonce))};
    auto r = tx.c().Query(kTouch, p);
    if (!r.ok()) return r.status();
    if (r->empty()) return NotHeld(tx.c(), claim, *q);
    return Status::OK();
  });
  if (!s.ok()) return s;
  // The nonce stays; the deadline is part of the token, so the old token is stale unless the
  // deadline did not move.
  return ClaimToken{deadline, claim.token.nonce};
}

}  // namespace jobstore::sql
