// Claim and what follows a claim: ack, release, touch. A claim's token is (deadline, nonce);
// the deadline locates its `C` key, the nonce proves it is the current claim.
#include <algorithm>
#include <map>

#include "keys.h"
#include "store_impl.h"
#include "jobstore/validation.h"

namespace jobstore {
namespace {

constexpr size_t kMaxClaimBatch = 10000;
constexpr size_t kMaxErrorBytes = 4096;

int64_t DeadlineFor(int64_t now, int64_t ttl_ms) {
  if (ttl_ms == 0 || now > INT64_MAX - ttl_ms) return INT64_MAX;
  return now + ttl_ms;
}

}  // namespace

Status StoreImpl::DropDedupEntriesOf(QueueState* q, JobId id, rocksdb::WriteBatch* batch) {
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

Result<QueueState*> StoreImpl::QueueOfClaim(const QueueRef& ref) {
  auto q = GetQueue(ref, false);
  if (!q.ok()) return q.status();
  if (!*q) {
    return Status::NotFound("no queue '" + ref.type + "' in domain '" + ref.domain +
                            "'; check the type and domain");
  }
  return *q;
}

void StoreImpl::AcquireBusy(QueueState* q, const std::vector<JobId>& ids) {
  std::unique_lock<std::mutex> l(q->mu);
  for (JobId id : ids) {  // ids are sorted: concurrent callers never wait in a cycle
    q->busy_cv.wait(l, [&] { return q->busy.count(id) == 0; });
    q->busy.insert(id);
  }
}

bool StoreImpl::TryAcquireBusy(QueueState* q, JobId id) {
  std::lock_guard<std::mutex> l(q->mu);
  return q->busy.insert(id).second;
}

void StoreImpl::ReleaseBusy(QueueState* q, const std::vector<JobId>& ids) {
  std::lock_guard<std::mutex> l(q->mu);
  for (JobId id : ids) q->busy.erase(id);
  q->busy_cv.notify_all();
}

Status StoreImpl::LoadClaim(QueueState* q, const jobstore::Claim& claim, std::string* key,
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

Result<std::vector<ClaimedJob>> StoreImpl::Claim(const QueueRef& ref, size_t max_jobs,
                                                 std::optional<int64_t> ttl_ms) {
  Status s = CheckWritable();
  if (s.ok()) s = ValidateQueue(ref);
  if (s.ok() && ttl_ms) s = ValidateTtl(*ttl_ms);
  if (s.ok() && max_jobs > kMaxClaimBatch) {
    s = Status::InvalidArgument("cannot claim " + std::to_string(max_jobs) +
                                " jobs at once; the limit is " + std::to_string(kMaxClaimBatch));
  }
  if (!s.ok()) return s;
  std::vector<ClaimedJob> out;
  auto qr = GetQueue(ref, false);
  if (!qr.ok()) return qr.status();
  QueueState* q = *qr;
  if (!q || max_jobs == 0) return out;

  std::shared_lock<std::shared_mutex> gate(gate_);
  const TypeSettings ts = q->type->Settings();
  const int64_t ttl = ttl_ms ? *ttl_ms : ts.claim_ttl_ms;
  rocksdb::ColumnFamilyHandle* cf = q->type->cf;

  std::vector<ReadyCursor::Entry> taken;
  {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const std::string upper = keys::PrefixEnd(keys::Prefix(keys::kReady, q->domain_id));
    auto scan = [&](const std::string& from, const ReadyCursor::Visitor& visit) {
      rocksdb::Slice up(upper);
      auto it = Scan(cf, nullptr, &up);
      for (it->Seek(from); it->Valid(); it->Next()) {
        if (!visit(it->key().ToStringView(), it->value().ToStringView())) break;
      }
    };
    std::lock_guard<std::mutex> l(q->mu);
    taken = q->ready_cursor.Take(max_jobs, ts.order == Order::kRandom, scan, rng);
  }
  if (taken.empty()) return out;

  std::vector<std::string> job_keys;
  for (const auto& t : taken) job_keys.push_back(keys::JobKey(q->domain_id, keys::IdOf(t.key)));
  std::vector<rocksdb::Slice> slices(job_keys.begin(), job_keys.end());
  std::vector<std::string> records(taken.size());
  std::vector<rocksdb::ColumnFamilyHandle*> cfs(taken.size(), cf);
  std::vector<rocksdb::Status> got = db_->MultiGet(rocksdb::ReadOptions(), cfs, slices, &records);

  const int64_t now = Now();
  const int64_t deadline = DeadlineFor(now, ttl);
  rocksdb::WriteBatch batch;
  CounterDelta delta;
  std::string lowest_claimed;
  std::map<std::string, uint64_t> batch_roots;  // newest root timestamp, this batch included
  for (size_t i = 0; i < taken.size(); ++i) {
    const JobId id = keys::IdOf(taken[i].key);
    batch.SingleDelete(cf, taken[i].key);
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
        s = DropDedupEntriesOf(q, id, &batch);
        if (!s.ok()) break;
      }
      StateEntry a;
      a.attempts = e.attempts;
      a.last_error = "corrupt record: " + ds.message();
      a.last_error_at_ms = now;
      a.abandoned_at_ms = now;
      batch.Put(cf, keys::TimedKey(keys::kAbandoned, q->domain_id, now, id), EncodeStateEntry(a));
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
        batch.Merge(cf, root_key, keys::BE64(ts));
      }
    }
    StateEntry c = e;
    c.attempts = e.attempts + 1;
    c.claim_nonce = NewNonce();
    c.claimed_at_ms = now;
    c.owns_dedup = false;
    const std::string ckey = keys::TimedKey(keys::kClaimed, q->domain_id, deadline, id);
    batch.Put(cf, ckey, EncodeStateEntry(c));
    if (lowest_claimed.empty()) lowest_claimed = ckey;
    if (e.owns_dedup) batch.Delete(cf, keys::DedupKey(q->domain_id, r.dedup_hash));
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
  if (s.ok()) {
    MergeCounters(&batch, q, delta);
    {
      // Before the write: once it commits, a reclaim may move these claims at any moment,
      // and it erases them from live_claims; an Add after it would leave a stale token.
      std::lock_guard<std::mutex> l(q->mu);
      for (const ClaimedJob& job : out) q->live_claims.Add(job.claim.id, job.claim.token);
    }
    s = Write(&batch, false);
  }
  {
    std::lock_guard<std::mutex> l(q->mu);
    if (!s.ok()) {
      for (const ClaimedJob& job : out) q->live_claims.Erase(job.claim.id);
    }
    q->ready_cursor.EndTake(taken, s.ok());
    if (s.ok() && !lowest_claimed.empty() && lowest_claimed < q->claimed_floor) {
      q->claimed_floor = lowest_claimed;
    }
  }
  if (!s.ok()) return s;
  ApplyCounters(q, delta);
  return out;
}

std::vector<Status> StoreImpl::AckMany(const std::vector<jobstore::Claim>& claims) {
  std::vector<Status> result(claims.size());
  Status w = CheckWritable();
  if (!w.ok()) {
    std::fill(result.begin(), result.end(), w);
    return result;
  }
  // Group by queue; a job named twice is refused rather than deadlocking on itself.
  std::map<QueueState*, std::vector<size_t>> by_queue;
  for (size_t i = 0; i < claims.size(); ++i) {
    auto q = QueueOfClaim(claims[i].queue);
    if (q.ok()) {
      by_queue[*q].push_back(i);
    } else {
      result[i] = q.status();
    }
  }
  std::shared_lock<std::shared_mutex> gate(gate_);
  std::vector<std::pair<QueueState*, std::vector<JobId>>> held;
  for (auto& [q, idx] : by_queue) {
    std::vector<JobId> ids;
    for (size_t i : idx) {
      if (std::find(ids.begin(), ids.end(), claims[i].id) != ids.end()) {
        result[i] = Status::InvalidArgument("job " + std::to_string(claims[i].id) +
                                            " is listed twice in one ack");
        continue;
      }
      ids.push_back(claims[i].id);
    }
    std::sort(ids.begin(), ids.end());
    AcquireBusy(q, ids);
    held.emplace_back(q, std::move(ids));
  }
  rocksdb::WriteBatch batch;
  std::map<QueueState*, CounterDelta> deltas;
  std::vector<size_t> acked;
  for (auto& [q, idx] : by_queue) {
    // A token this process handed out and nothing has moved since needs no read.
    std::vector<bool> live(idx.size());
    {
      std::lock_guard<std::mutex> l(q->mu);
      for (size_t k = 0; k < idx.size(); ++k) {
        const size_t i = idx[k];
        live[k] = result[i].ok() && q->live_claims.Take(claims[i].id, claims[i].token);
      }
    }
    for (size_t k = 0; k < idx.size(); ++k) {
      const size_t i = idx[k];
      if (!result[i].ok()) continue;
      std::string key;
      if (live[k]) {
        key = keys::TimedKey(keys::kClaimed, q->domain_id, claims[i].token.deadline_ms,
                             claims[i].id);
      } else {
        StateEntry e;
        result[i] = LoadClaim(q, claims[i], &key, &e);
        if (!result[i].ok()) continue;
      }
      batch.SingleDelete(q->type->cf, key);
      batch.SingleDelete(q->type->cf, keys::JobKey(q->domain_id, claims[i].id));
      --deltas[q].claimed;
      acked.push_back(i);
    }
  }
  if (!acked.empty()) {
    for (auto& [q, d] : deltas) MergeCounters(&batch, q, d);
    Status s = Write(&batch, false);
    if (s.ok()) {
      for (auto& [q, d] : deltas) ApplyCounters(q, d);
    } else {
      for (size_t i : acked) result[i] = s;
    }
  }
  for (auto& [q, ids] : held) ReleaseBusy(q, ids);
  return result;
}

Status StoreImpl::Ack(const jobstore::Claim& claim) { return AckMany({claim})[0]; }

Status StoreImpl::ChangeClaim(const jobstore::Claim& claim, const Status& arg_check,
                              const ClaimChange& change) {
  Status s = CheckWritable();
  if (s.ok()) s = ValidateQueue(claim.queue);
  if (s.ok()) s = arg_check;
  if (!s.ok()) return s;
  auto qr = QueueOfClaim(claim.queue);
  if (!qr.ok()) return qr.status();
  QueueState* q = *qr;

  std::shared_lock<std::shared_mutex> gate(gate_);
  AcquireBusy(q, {claim.id});
  std::string ckey;
  StateEntry e;
  s = LoadClaim(q, claim, &ckey, &e);
  if (s.ok()) s = change(q, ckey, e);
  ReleaseBusy(q, {claim.id});
  return s;
}

Status StoreImpl::Release(const jobstore::Claim& claim, int64_t delay_ms,
                          const std::string& error) {
  const Status arg_check =
      delay_ms >= 0 ? Status::OK()
                    : Status::InvalidArgument("release delay " + std::to_string(delay_ms) +
                                              " ms is negative; use 0 to make the job ready at once");
  return ChangeClaim(claim, arg_check, [&](QueueState* q, const std::string& ckey,
                                           const StateEntry& e) {
    const TypeSettings ts = q->type->Settings();
    const int64_t now = Now();
    const bool failed = !error.empty();
    StateEntry next = e;
    next.claim_nonce = 0;
    if (failed) {
      next.last_error = error.substr(0, kMaxErrorBytes);
      next.last_error_at_ms = now;
    }
    rocksdb::WriteBatch batch;
    rocksdb::ColumnFamilyHandle* cf = q->type->cf;
    batch.SingleDelete(cf, ckey);
    CounterDelta delta;
    delta.claimed = -1;
    std::vector<std::pair<std::string, std::string>> ready_insert;
    std::string delayed_key;
    if (failed && (!ts.retries_allowed || e.attempts >= ts.max_tries)) {
      next.abandoned_at_ms = now;
      batch.Put(cf, keys::TimedKey(keys::kAbandoned, q->domain_id, now, claim.id),
                EncodeStateEntry(next));
      delta.abandoned = 1;
    } else if (delay_ms > 0) {
      const int64_t release_at = now > INT64_MAX - delay_ms ? INT64_MAX : now + delay_ms;
      delayed_key = keys::TimedKey(keys::kDelayed, q->domain_id, release_at, claim.id);
      batch.Put(cf, delayed_key, EncodeStateEntry(next));
      delta.delayed = 1;
    } else {
      const std::string value = EncodeStateEntry(next);
      ready_insert.emplace_back(ReadyKeyFor(q, next, claim.id), value);
      batch.Put(cf, ready_insert[0].first, value);
      delta.ready = 1;
    }
    MergeCounters(&batch, q, delta);
    {
      std::lock_guard<std::mutex> l(q->mu);
      q->live_claims.Erase(claim.id);
    }
    BeginReadyInserts(q, ready_insert);
    Status s = Write(&batch, false);
    FinishReadyInserts(q, ready_insert, s.ok());
    if (s.ok()) {
      if (!delayed_key.empty()) {
        std::lock_guard<std::mutex> l(q->mu);
        if (delayed_key < q->delayed_floor) q->delayed_floor = delayed_key;
      }
      ApplyCounters(q, delta);
    }
    return s;
  });
}

Result<ClaimToken> StoreImpl::Touch(const jobstore::Claim& claim, std::optional<int64_t> ttl_ms) {
  ClaimToken token = claim.token;
  Status s = ChangeClaim(claim, ttl_ms ? ValidateTtl(*ttl_ms) : Status::OK(),
                         [&](QueueState* q, const std::string& ckey, const StateEntry& e) {
    const int64_t ttl = ttl_ms ? *ttl_ms : q->type->Settings().claim_ttl_ms;
    token.deadline_ms = DeadlineFor(Now(), ttl);
    if (token.deadline_ms == claim.token.deadline_ms) return Status::OK();
    // Write-once keys: the lease moves to a new key, the old one is single-deleted.
    const std::string nkey =
        keys::TimedKey(keys::kClaimed, q->domain_id, token.deadline_ms, claim.id);
    rocksdb::WriteBatch batch;
    batch.SingleDelete(q->type->cf, ckey);
    batch.Put(q->type->cf, nkey, EncodeStateEntry(e));
    {
      std::lock_guard<std::mutex> l(q->mu);
      q->live_claims.Erase(claim.id);
    }
    Status w = Write(&batch, false);
    if (w.ok()) {
      std::lock_guard<std::mutex> l(q->mu);
      if (nkey < q->claimed_floor) q->claimed_floor = nkey;
      q->live_claims.Add(claim.id, token);
    }
    return w;
  });
  if (!s.ok()) return s;
  return token;
}

}  // namespace jobstore
