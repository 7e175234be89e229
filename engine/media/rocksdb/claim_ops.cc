// Claim and what follows a claim: ack, release, touch. A claim's token is (deadline, nonce);
// the deadline locates its `C` key, the nonce proves it is the current claim.
#include <algorithm>
#include <map>

#include "keys.h"
#include "rocks_backend.h"

namespace jobstore {
Status RocksBackend::DropDedupEntriesOf(QueueState* q, JobId id, rocksdb::WriteBatch* batch) {
  const std::string prefix = keys::Prefix(keys::kDedup, q->domain_id);
  const std::string end = keys::PrefixEnd(prefix);
  rocksdb::Slice lo(prefix), hi(end);
  auto it = Scan(q->type->cf, &lo, &hi);
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    if (it->value().size() == 8 && keys::GetBE64(it->value().data()) == id) {
      batch->Delete(q->type->cf, it->key());
    }
  }
  if (!it->status().ok()) return Status::IOError("scanning the dedup index: " + it->status().ToString());
  return Status::OK();
}

Result<QueueState*> RocksBackend::QueueOfClaim(const QueueRef& ref) {
  auto q = GetQueue(ref, false);
  if (!q.ok()) return q.status();
  if (!*q) {
    return Status::NotFound("no queue '" + ref.type + "' in domain '" + ref.domain +
                            "'; check the type and domain");
  }
  return *q;
}

void RocksBackend::AcquireBusy(QueueState* q, const std::vector<JobId>& ids) {
  std::unique_lock<std::mutex> l(q->mu);
  for (JobId id : ids) {  // ids are sorted: concurrent callers never wait in a cycle
    q->busy_cv.wait(l, [&] { return q->busy.count(id) == 0; });
    q->busy.insert(id);
  }
}

bool RocksBackend::TryAcquireBusy(QueueState* q, JobId id) {
  std::lock_guard<std::mutex> l(q->mu);
  return q->busy.insert(id).second;
}

void RocksBackend::ReleaseBusy(QueueState* q, const std::vector<JobId>& ids) {
  std::lock_guard<std::mutex> l(q->mu);
  for (JobId id : ids) q->busy.erase(id);
  q->busy_cv.notify_all();
}

Status RocksBackend::LoadClaim(QueueState* q, const jobstore::Claim& claim, std::string* key,
                            StateEntry* entry) {
  *key = keys::TimedKey(keys::kClaimed, q->domain_id, claim.token.deadline_ms, claim.id);
  std::string v;
  Status s = Get(q->type->cf, *key, &v);
  if (s.ok()) {
    s = DecodeStateEntry(v, entry);
    if (!s.ok()) return s;
    if (entry->claim_nonce == claim.token.nonce) return Status::OK();
  } else if (!s.IsNotFound()) {
    return s;
  }
  s = Get(q->type->cf, keys::JobKey(q->domain_id, claim.id), &v);
  if (s.ok()) {
    return Status::StaleToken("job " + std::to_string(claim.id) + " of '" + q->type->name +
                              "' is no longer held by this claim (its lease expired and it was "
                              "reclaimed); do not ack it, the job will run again");
  }
  if (s.IsNotFound()) {
    return Status::NotFound("job " + std::to_string(claim.id) + " of '" + q->type->name +
                            "' in domain '" + q->domain + "' is not in the store (already acked?)");
  }
  return s;
}

// A claim in the making (PrepareClaim, FinishClaim): the ready keys it took from the queue's
// cursor, the jobs it hands out, and its queue's counter change.
struct RocksBackend::ClaimStep {
  QueueState* q = nullptr;
  std::vector<ReadyCursor::Entry> taken;
  std::vector<ClaimedJob> out;
  CounterDelta delta;
  std::string lowest_claimed;
};

Status RocksBackend::PrepareClaim(const QueueRef& ref, size_t max_jobs, int64_t now,
                                  int64_t deadline, rocksdb::WriteBatch* batch, ClaimStep* step) {
  QueueState* q = step->q;
  const Order order = q->type->Settings().order;
  rocksdb::ColumnFamilyHandle* cf = q->type->cf;

  {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const std::string upper = keys::PrefixEnd(keys::Prefix(keys::kReady, q->domain_id));
    Status scanned;
    auto scan = [&](const std::string& from, const ReadyCursor::Visitor& visit) {
      rocksdb::Slice up(upper);
      auto it = Scan(cf, nullptr, &up);
      for (it->Seek(from); it->Valid(); it->Next()) {
        if (!visit(it->key().ToStringView(), it->value().ToStringView())) break;
      }
      if (!it->status().ok()) {
        scanned = Status::IOError("scanning the ready jobs of '" + q->type->name +
                                  "': " + it->status().ToString());
      }
    };
    std::lock_guard<std::mutex> l(q->mu);
    step->taken = q->ready_cursor.Take(max_jobs, order == Order::kRandom, scan, rng);
    // A scan cut short by a read error saw a prefix of the range: what it took is still a
    // valid claim, but nothing was taken means the error is the answer.
    if (step->taken.empty() && !scanned.ok()) return scanned;
  }
  const std::vector<ReadyCursor::Entry>& taken = step->taken;
  if (taken.empty()) return Status::OK();

  std::vector<std::string> job_keys;
  for (const auto& t : taken) job_keys.push_back(keys::JobKey(q->domain_id, keys::IdOf(t.key)));
  std::vector<rocksdb::Slice> slices(job_keys.begin(), job_keys.end());
  std::vector<std::string> records(taken.size());
  std::vector<rocksdb::ColumnFamilyHandle*> cfs(taken.size(), cf);
  std::vector<rocksdb::Status> got = db_->MultiGet(rocksdb::ReadOptions(), cfs, slices, &records);

  Status s;
  CounterDelta& delta = step->delta;
  std::vector<ClaimedJob>& out = step->out;
  std::map<std::string, uint64_t> batch_roots;  // newest root timestamp, this batch included
  for (size_t i = 0; i < taken.size(); ++i) {
    const JobId id = keys::IdOf(taken[i].key);
    batch->SingleDelete(cf, taken[i].key);
    --delta.ready;
    if (got[i].IsNotFound()) continue;  // a ready entry without a job: drop the dangling entry
    if (!got[i].ok()) {
      s = Status::IOError("reading job " + std::to_string(id) + ": " + got[i].ToString());
      break;
    }
    StateEntry e;
    JobRecord r;
    Status ds = DecodeStateEntry(taken[i].value, &e);
    const bool entry_ok = ds.ok();
    if (ds.ok()) ds = DecodeJobRecord(records[i], &r);
    if (!ds.ok()) {
      // Corrupt: moved aside to abandoned with the error, never handed out.
      if (!entry_ok || e.owns_dedup) {
        s = DropDedupEntriesOf(q, id, batch);
        if (!s.ok()) break;
      }
      StateEntry a;
      a.attempts = e.attempts;
      a.last_error = "corrupt record: " + ds.message();
      a.last_error_at_ms = now;
      a.abandoned_at_ms = now;
      batch->Put(cf, keys::TimedKey(keys::kAbandoned, q->domain_id, now, id), EncodeStateEntry(a));
      ++delta.abandoned;
      continue;
    }
    bool superseded = false;
    if (!r.root_signature.empty()) {
      const uint64_t ts = keys::TimeKey(r.root_timestamp_ms);
      const std::string root_key = keys::RootKey(q->domain_id, r.root_signature);
      auto known = batch_roots.find(root_key);
      if (known == batch_roots.end()) {
        std::string v;
        Status rs = Get(cf, root_key, &v);
        if (!rs.ok() && !rs.IsNotFound()) {
          s = rs;
          break;
        }
        known = batch_roots.emplace(root_key, rs.ok() && v.size() == 8 ? keys::GetBE64(v.data()) : 0)
                    .first;
      }
      if (known->second > ts) {
        superseded = true;
      } else if (known->second < ts) {
        // Registered at claim as well (MediaWiki's base queue): a newer root job seen first
        // still supersedes older ones claimed later.
        known->second = ts;
        batch->Merge(cf, root_key, keys::BE64(ts));
      }
    }
    StateEntry c = e;
    c.attempts = e.attempts + 1;
    c.claim_nonce = NewNonce();
    c.claimed_at_ms = now;
    c.owns_dedup = false;
    const std::string ckey = keys::TimedKey(keys::kClaimed, q->domain_id, deadline, id);
    batch->Put(cf, ckey, EncodeStateEntry(c));
    if (step->lowest_claimed.empty()) step->lowest_claimed = ckey;
    if (e.owns_dedup) batch->Delete(cf, keys::DedupKey(q->domain_id, r.dedup_hash));
    ++delta.claimed;

    ClaimedJob job;
    job.claim = {ref, id, ClaimToken{deadline, c.claim_nonce}};
    job.params = std::move(r.params);
    job.attempts = c.attempts;
    job.priority = r.priority;
    job.enqueued_at_ms = r.enqueued_at_ms;
    job.root_signature = std::move(r.root_signature);
    job.root_timestamp_ms = r.root_timestamp_ms;
    job.superseded = superseded;
    out.push_back(std::move(job));
  }
  if (!s.ok()) return s;
  MergeCounters(batch, q, step->delta);
  // Before the write: once it commits, a reclaim may move these claims at any moment, and it
  // erases them from live_claims; an Add after it would leave a stale token.
  std::lock_guard<std::mutex> l(q->mu);
  for (const ClaimedJob& job : out) q->live_claims.Add(job.claim.id, job.claim.token);
  return Status::OK();
}

void RocksBackend::FinishClaim(ClaimStep* step, bool prepared, const Status& written) {
  if (step->taken.empty()) return;  // took nothing, so nothing to give back or count
  QueueState* q = step->q;
  const bool committed = prepared && written.ok();
  {
    std::lock_guard<std::mutex> l(q->mu);
    if (prepared && !committed) {
      for (const ClaimedJob& job : step->out) q->live_claims.Erase(job.claim.id);
    }
    q->ready_cursor.EndTake(step->taken, committed);
    if (committed && !step->lowest_claimed.empty() && step->lowest_claimed < q->claimed_floor) {
      q->claimed_floor = step->lowest_claimed;
    }
  }
  if (committed) ApplyCounters(q, step->delta);
}

Result<std::vector<ClaimedJob>> RocksBackend::Claim(const QueueRef& ref, size_t max_jobs,
                                                    int64_t now, int64_t deadline) {
  auto qr = GetQueue(ref, false);
  if (!qr.ok()) return qr.status();
  if (!*qr || max_jobs == 0) return std::vector<ClaimedJob>{};
  std::shared_lock<std::shared_mutex> gate(gate_);
  ClaimStep step;
  step.q = *qr;
  rocksdb::WriteBatch batch;
  Status s = PrepareClaim(ref, max_jobs, now, deadline, &batch, &step);
  const bool prepared = s.ok();
  if (prepared && !step.taken.empty()) s = Write(&batch, false);
  FinishClaim(&step, prepared, s);
  if (!s.ok()) return s;
  return std::move(step.out);
}

// An ack in the making (PrepareAck, FinishAck): the jobs it holds busy, the claims whose keys
// it removes, and the counter change of each queue.
struct RocksBackend::AckStep {
  std::map<QueueState*, std::vector<size_t>> by_queue;  // indices into the claims
  std::vector<std::pair<QueueState*, std::vector<JobId>>> held;
  std::map<QueueState*, CounterDelta> deltas;
  std::vector<size_t> acked;  // indices into the claims
};

// Before the gate: groups the claims by queue (the policy made the ids distinct).
void RocksBackend::GroupAcks(const std::vector<jobstore::Claim>& claims, AckStep* step,
                             std::vector<Status>* result) {
  for (size_t i = 0; i < claims.size(); ++i) {
    auto q = QueueOfClaim(claims[i].queue);
    if (q.ok()) {
      step->by_queue[*q].push_back(i);
    } else {
      (*result)[i] = q.status();
    }
  }
}

void RocksBackend::PrepareAck(const std::vector<jobstore::Claim>& claims,
                              rocksdb::WriteBatch* batch, AckStep* step,
                              std::vector<Status>* result) {
  for (auto& [q, idx] : step->by_queue) {
    std::vector<JobId> ids;
    ids.reserve(idx.size());
    for (size_t i : idx) ids.push_back(claims[i].id);
    std::sort(ids.begin(), ids.end());
    AcquireBusy(q, ids);
    step->held.emplace_back(q, std::move(ids));
  }
  for (auto& [q, idx] : step->by_queue) {
    // A token this process handed out and nothing has moved since needs no read.
    std::vector<bool> live(idx.size());
    {
      std::lock_guard<std::mutex> l(q->mu);
      for (size_t k = 0; k < idx.size(); ++k) {
        const size_t i = idx[k];
        live[k] = q->live_claims.Take(claims[i].id, claims[i].token);
      }
    }
    for (size_t k = 0; k < idx.size(); ++k) {
      const size_t i = idx[k];
      std::string key;
      if (live[k]) {
        key = keys::TimedKey(keys::kClaimed, q->domain_id, claims[i].token.deadline_ms,
                             claims[i].id);
      } else {
        StateEntry e;
        (*result)[i] = LoadClaim(q, claims[i], &key, &e);
        if (!(*result)[i].ok()) continue;
      }
      batch->SingleDelete(q->type->cf, key);
      batch->SingleDelete(q->type->cf, keys::JobKey(q->domain_id, claims[i].id));
      --step->deltas[q].claimed;
      step->acked.push_back(i);
    }
  }
  for (auto& [q, d] : step->deltas) MergeCounters(batch, q, d);
}

void RocksBackend::FinishAck(AckStep* step, const Status& written, std::vector<Status>* result) {
  if (written.ok()) {
    for (auto& [q, d] : step->deltas) ApplyCounters(q, d);
  } else {
    for (size_t i : step->acked) (*result)[i] = written;
  }
  for (auto& [q, ids] : step->held) ReleaseBusy(q, ids);
}

Result<std::vector<Status>> RocksBackend::Ack(const std::vector<jobstore::Claim>& claims) {
  std::vector<Status> result(claims.size());
  AckStep step;
  GroupAcks(claims, &step, &result);
  std::shared_lock<std::shared_mutex> gate(gate_);
  rocksdb::WriteBatch batch;
  PrepareAck(claims, &batch, &step, &result);
  Status s;
  if (!step.acked.empty()) s = Write(&batch, false);
  FinishAck(&step, s, &result);
  return result;
}

// Both steps in one batch: a worker's ack of the jobs it ran and its claim of the next cost
// one write instead of two. A claim that cannot be prepared (a read error) is rolled out of the
// batch and the acks are written alone, as the two calls would have done.
Result<AckedThenClaimed> RocksBackend::AckThenClaim(const std::vector<jobstore::Claim>& done,
                                                    const QueueRef& ref, size_t max_jobs,
                                                    int64_t now, int64_t deadline) {
  auto qr = GetQueue(ref, false);
  AckedThenClaimed out;
  out.acked.resize(done.size());
  AckStep ack;
  GroupAcks(done, &ack, &out.acked);
  std::shared_lock<std::shared_mutex> gate(gate_);
  rocksdb::WriteBatch batch;
  PrepareAck(done, &batch, &ack, &out.acked);
  ClaimStep claim;
  claim.q = qr.ok() ? *qr : nullptr;
  Status prepared = qr.status();  // a queue that cannot be looked up fails the claim alone
  if (claim.q && max_jobs > 0) {
    batch.SetSavePoint();
    prepared = PrepareClaim(ref, max_jobs, now, deadline, &batch, &claim);
    if (!prepared.ok()) (void)batch.RollbackToSavePoint();
  }
  Status s;
  if (!ack.acked.empty() || (prepared.ok() && !claim.taken.empty())) s = Write(&batch, false);
  FinishAck(&ack, s, &out.acked);
  FinishClaim(&claim, prepared.ok(), s);
  if (!prepared.ok()) {
    out.claimed = prepared;
  } else if (!s.ok()) {
    out.claimed = s;
  } else {
    out.claimed = std::move(claim.out);
  }
  return out;
}

Status RocksBackend::ChangeClaim(const jobstore::Claim& claim, const ClaimChange& change) {
  auto qr = QueueOfClaim(claim.queue);
  if (!qr.ok()) return qr.status();
  QueueState* q = *qr;

  std::shared_lock<std::shared_mutex> gate(gate_);
  AcquireBusy(q, {claim.id});
  std::string ckey;
  StateEntry e;
  Status s = LoadClaim(q, claim, &ckey, &e);
  if (s.ok()) s = change(q, ckey, e);
  ReleaseBusy(q, {claim.id});
  return s;
}

Status RocksBackend::Settle(const jobstore::Claim& claim, int64_t now, const DecideFn& decide) {
  return ChangeClaim(claim, [&](QueueState* q, const std::string& ckey, const StateEntry& e) {
    const Disposition to = decide(e.attempts);
    StateEntry next = e;
    next.claim_nonce = 0;
    Transition t(this, q);
    t.Leave(JobState::kClaimed, ckey);
    t.Enter(to, claim.id, next, now);
    {
      std::lock_guard<std::mutex> l(q->mu);
      q->live_claims.Erase(claim.id);
    }
    return t.Commit(false);
  });
}

Result<ClaimToken> RocksBackend::Touch(const jobstore::Claim& claim, int64_t deadline) {
  ClaimToken token = claim.token;
  Status s = ChangeClaim(claim, [&](QueueState* q, const std::string& ckey, const StateEntry& e) {
    token.deadline_ms = deadline;
    if (token.deadline_ms == claim.token.deadline_ms) return Status::OK();
    // Write-once keys: the lease moves to a new key, the old one is single-deleted.
    Transition t(this, q);
    t.Leave(JobState::kClaimed, ckey);
    t.EnterClaimed(claim.id, e, token.deadline_ms);
    {
      std::lock_guard<std::mutex> l(q->mu);
      q->live_claims.Erase(claim.id);
    }
    Status w = t.Commit(false);
    if (w.ok()) {
      std::lock_guard<std::mutex> l(q->mu);
      q->live_claims.Add(claim.id, token);
    }
    return w;
  });
  if (!s.ok()) return s;
  return token;
}

}  // namespace jobstore
