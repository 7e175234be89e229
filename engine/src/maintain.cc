// Maintenance (DESIGN.md §7): each category seeks from its floor, so a pass costs what it
// moves, never the size of the queue.
#include <algorithm>
#include <chrono>

#include "keys.h"
#include "memtable_hint.h"
#include "store_impl.h"

namespace jobstore {
namespace {

std::string TimeBound(char tag, uint32_t domain, int64_t ms) {
  std::string k = keys::Prefix(tag, domain);
  keys::PutBE64(&k, keys::TimeKey(ms));
  return k;
}

constexpr int64_t kRootSweepIntervalMs = 60'000;

struct Row {
  std::string key, value;
};

// Advances a floor past the rows a pass removed, unless a concurrent insert lowered it below
// where the pass started.
void AdvanceFloor(QueueState* q, std::string* floor, const std::string& started_at,
                  const std::string& last_removed) {
  std::lock_guard<std::mutex> l(q->mu);
  if (*floor == started_at) *floor = keys::Successor(last_removed);
}

std::vector<Row> CollectRows(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                             const std::string& from, const std::string& upper, size_t limit) {
  std::vector<Row> rows;
  rocksdb::Slice up(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &up;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
  for (it->Seek(from); it->Valid() && rows.size() < limit; it->Next()) {
    rows.push_back({it->key().ToString(), it->value().ToString()});
  }
  return rows;
}

}  // namespace

Result<MaintenanceReport> StoreImpl::Maintain() {
  Status s = CheckWritable();
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> l(maintain_mu_);
  MaintenanceReport report;
  const int64_t now = Now();
  for (QueueState* q : AllQueues()) {
    s = MaintainQueue(q, now, &report);
    if (!s.ok()) return s;
  }
  return report;
}

Status StoreImpl::MaintainQueue(QueueState* q, int64_t now, MaintenanceReport* report) {
  std::lock_guard<std::mutex> m(q->maintenance_mu);
  std::shared_lock<std::shared_mutex> gate(gate_);
  // Exact counts let an idle queue cost no RocksDB seek at all.
  const QueueCounts c = q->Counts();
  Status s;
  if (c.delayed > 0) s = PromoteDue(q, now, report);
  if (s.ok() && c.claimed > 0) s = ReclaimExpired(q, now, report);
  if (s.ok() && c.abandoned > 0) s = PruneAbandoned(q, now, report);
  // Root registrations are few and expire in weeks: sweep them at most once a minute.
  if (s.ok() && now >= q->next_root_sweep_ms) {
    s = ExpireRoots(q, now, report);
    q->next_root_sweep_ms = now + kRootSweepIntervalMs;
  }
  return s;
}

Status StoreImpl::PromoteDue(QueueState* q, int64_t now, MaintenanceReport* report) {
  std::string floor;
  {
    std::lock_guard<std::mutex> l(q->mu);
    floor = q->delayed_floor;
  }
  const size_t limit = options_.maintenance_batch;
  auto rows = CollectRows(db_.get(), q->type->cf, floor,
                          TimeBound(keys::kDelayed, q->domain_id, now + 1), limit);
  if (rows.empty()) return Status::OK();
  rocksdb::WriteBatch batch;
  CounterDelta delta;
  std::vector<std::pair<std::string, std::string>> inserts;
  uint64_t max_seq = 0;
  for (const Row& row : rows) {
    const JobId id = keys::IdOf(row.key);
    StateEntry e;
    batch.SingleDelete(q->type->cf, row.key);
    --delta.delayed;
    Status ds = DecodeStateEntry(row.value, &e);
    if (!ds.ok()) {
      Status dd = DropDedupEntriesOf(q, id, &batch);
      if (!dd.ok()) return dd;
      StateEntry a;
      a.last_error = "corrupt record: " + ds.message();
      a.abandoned_at_ms = a.last_error_at_ms = now;
      batch.Put(q->type->cf, keys::TimedKey(keys::kAbandoned, q->domain_id, now, id),
                EncodeStateEntry(a));
      ++delta.abandoned;
      continue;
    }
    e.order_seq = NextSeq();  // a released delayed job queues behind what is already ready
    max_seq = std::max(max_seq, e.order_seq);
    const std::string value = EncodeStateEntry(e);
    inserts.emplace_back(ReadyKeyFor(q, e, id), value);
    batch.Put(q->type->cf, inserts.back().first, value);
    ++delta.ready;
  }
  // Sequence numbers come from the id allocator: keep the high-water mark above them.
  if (max_seq) batch.Merge(default_cf_, std::string(1, keys::kHighWater), keys::BE64(max_seq));
  MergeCounters(&batch, q, delta);
  BeginReadyInserts(q, inserts);
  Status s = Write(&batch, false);
  FinishReadyInserts(q, inserts, s.ok());
  if (!s.ok()) return s;
  ApplyCounters(q, delta);
  AdvanceFloor(q, &q->delayed_floor, floor, rows.back().key);
  report->promoted += inserts.size();
  report->abandoned += static_cast<uint64_t>(delta.abandoned);
  if (rows.size() == limit) report->more = true;
  return Status::OK();
}

Status StoreImpl::ReclaimExpired(QueueState* q, int64_t now, MaintenanceReport* report) {
  std::string floor;
  {
    std::lock_guard<std::mutex> l(q->mu);
    floor = q->claimed_floor;
  }
  const size_t limit = options_.maintenance_batch;
  // A claim expires once its deadline has passed: deadline < now.
  auto rows = CollectRows(db_.get(), q->type->cf, floor,
                          TimeBound(keys::kClaimed, q->domain_id, now), limit);
  if (rows.empty()) return Status::OK();
  const TypeSettings ts = q->type->Settings();
  rocksdb::WriteBatch batch;
  CounterDelta delta;
  std::vector<std::pair<std::string, std::string>> inserts;
  std::vector<JobId> held;
  std::string last_done;
  bool blocked = false;
  for (const Row& row : rows) {
    const JobId id = keys::IdOf(row.key);
    // An ack, release or touch of this job is in progress: leave it to the next pass.
    if (!TryAcquireBusy(q, id)) {
      blocked = true;
      break;
    }
    held.push_back(id);
    last_done = row.key;
    std::string value;
    Status gs = Get(q->type->cf, row.key, &value);  // re-read: it may be gone since the scan
    if (gs.IsNotFound()) continue;
    if (!gs.ok()) {
      ReleaseBusy(q, held);
      return gs;
    }
    StateEntry e;
    Status ds = DecodeStateEntry(value, &e);
    batch.SingleDelete(q->type->cf, row.key);
    --delta.claimed;
    e.claim_nonce = 0;
    if (ds.ok() && e.attempts < ts.max_tries) {
      const std::string v = EncodeStateEntry(e);
      inserts.emplace_back(ReadyKeyFor(q, e, id), v);
      batch.Put(q->type->cf, inserts.back().first, v);
      ++delta.ready;
    } else {
      if (!ds.ok()) e.last_error = "corrupt record: " + ds.message();
      if (ds.ok()) e.last_error = "claim expired after " + std::to_string(e.attempts) + " attempts";
      e.last_error_at_ms = now;
      e.abandoned_at_ms = now;
      batch.Put(q->type->cf, keys::TimedKey(keys::kAbandoned, q->domain_id, now, id),
                EncodeStateEntry(e));
      ++delta.abandoned;
    }
  }
  Status s = Status::OK();
  if (!delta.empty()) {
    MergeCounters(&batch, q, delta);
    {
      std::lock_guard<std::mutex> l(q->mu);
      for (JobId id : held) q->live_claims.Erase(id);
    }
    BeginReadyInserts(q, inserts);
    s = Write(&batch, false);
    FinishReadyInserts(q, inserts, s.ok());
    if (s.ok()) ApplyCounters(q, delta);
  }
  ReleaseBusy(q, held);
  if (!s.ok()) return s;
  if (!last_done.empty()) AdvanceFloor(q, &q->claimed_floor, floor, last_done);
  report->reclaimed += inserts.size();
  report->abandoned += static_cast<uint64_t>(delta.abandoned);
  if (blocked || rows.size() == limit) report->more = true;
  return Status::OK();
}

Status StoreImpl::PruneAbandoned(QueueState* q, int64_t now, MaintenanceReport* report) {
  const TypeSettings ts = q->type->Settings();
  if (now - ts.retention_ms <= 0) return Status::OK();
  std::string floor;
  {
    std::lock_guard<std::mutex> l(q->mu);
    floor = q->abandoned_floor;
  }
  const size_t limit = options_.maintenance_batch;
  auto rows = CollectRows(db_.get(), q->type->cf, floor,
                          TimeBound(keys::kAbandoned, q->domain_id, now - ts.retention_ms), limit);
  if (rows.empty()) return Status::OK();
  rocksdb::WriteBatch batch;
  for (const Row& row : rows) {
    batch.SingleDelete(q->type->cf, keys::JobKey(q->domain_id, keys::IdOf(row.key)));
  }
  // The abandoned entries themselves go as one range tombstone (the set is time-ordered).
  AddRangeDelete(&batch, q->type->cf, rows.front().key, keys::Successor(rows.back().key));
  CounterDelta delta;
  delta.abandoned = -static_cast<int64_t>(rows.size());
  MergeCounters(&batch, q, delta);
  Status s = Write(&batch, false);
  if (!s.ok()) return s;
  ApplyCounters(q, delta);
  AdvanceFloor(q, &q->abandoned_floor, floor, rows.back().key);
  report->pruned += rows.size();
  if (rows.size() == limit) report->more = true;
  return Status::OK();
}

Status StoreImpl::ExpireRoots(QueueState* q, int64_t now, MaintenanceReport* report) {
  const TypeSettings ts = q->type->Settings();
  const std::string prefix = keys::Prefix(keys::kRoot, q->domain_id);
  const std::string end = keys::PrefixEnd(prefix);
  std::string from;
  {
    std::lock_guard<std::mutex> l(q->mu);
    from = q->root_cursor;
  }
  const size_t limit = options_.maintenance_batch;
  auto rows = CollectRows(db_.get(), q->type->cf, from, end, limit);
  rocksdb::WriteBatch batch;
  uint64_t expired = 0;
  for (const Row& row : rows) {
    if (row.value.size() != 8) continue;
    const int64_t ts_ms = static_cast<int64_t>(keys::GetBE64(row.value.data()));
    if (ts_ms < now - ts.root_job_ttl_ms) {
      batch.Delete(q->type->cf, row.key);
      ++expired;
    }
  }
  if (expired > 0) {
    Status s = Write(&batch, false);
    if (!s.ok()) return s;
  }
  {
    // Registrations are not time-ordered, so the cursor walks them round-robin.
    std::lock_guard<std::mutex> l(q->mu);
    q->root_cursor = rows.size() == limit ? keys::Successor(rows.back().key) : prefix;
  }
  report->roots_expired += expired;
  if (rows.size() == limit) report->more = true;
  return Status::OK();
}

void StoreImpl::MaintenanceLoop() {
  std::unique_lock<std::mutex> l(thread_mu_);
  while (!stopping_) {
    thread_cv_.wait_for(l, std::chrono::milliseconds(options_.maintenance_interval_ms),
                        [&] { return stopping_; });
    if (stopping_) break;
    l.unlock();
    // Keep going while a pass reports more, up to a bound, so a backlog drains promptly.
    for (int pass = 0; pass < 16 && !IsReadOnly(); ++pass) {
      auto r = Maintain();
      if (!r.ok() || !r->more) break;
    }
    l.lock();
  }
}

Result<uint64_t> StoreImpl::RepushAbandoned(const QueueRef& ref) {
  Status s = CheckWritable();
  if (!s.ok()) return s;
  auto qr = GetQueue(ref, false);
  if (!qr.ok()) return qr.status();
  QueueState* q = *qr;
  if (!q) return uint64_t{0};
  std::lock_guard<std::mutex> m(q->maintenance_mu);
  std::shared_lock<std::shared_mutex> gate(gate_);
  std::string floor;
  {
    std::lock_guard<std::mutex> l(q->mu);
    floor = q->abandoned_floor;
  }
  auto rows = CollectRows(db_.get(), q->type->cf, floor,
                          keys::PrefixEnd(keys::Prefix(keys::kAbandoned, q->domain_id)), SIZE_MAX);
  if (rows.empty()) return uint64_t{0};
  rocksdb::WriteBatch batch;
  std::vector<std::pair<std::string, std::string>> inserts;
  uint64_t max_seq = 0;
  for (const Row& row : rows) {
    StateEntry e;
    (void)DecodeStateEntry(row.value, &e);  // a corrupt entry still goes back; claim re-checks
    StateEntry r;
    r.priority = e.priority;
    r.order_rank = e.order_rank;
    r.order_seq = NextSeq();
    max_seq = std::max(max_seq, r.order_seq);
    const std::string v = EncodeStateEntry(r);
    batch.SingleDelete(q->type->cf, row.key);
    inserts.emplace_back(ReadyKeyFor(q, r, keys::IdOf(row.key)), v);
    batch.Put(q->type->cf, inserts.back().first, v);
  }
  batch.Merge(default_cf_, std::string(1, keys::kHighWater), keys::BE64(max_seq));
  CounterDelta delta;
  delta.abandoned = -static_cast<int64_t>(rows.size());
  delta.ready = static_cast<int64_t>(rows.size());
  MergeCounters(&batch, q, delta);
  BeginReadyInserts(q, inserts);
  s = Write(&batch, options_.durability == Durability::kPowerLoss);
  FinishReadyInserts(q, inserts, s.ok());
  if (!s.ok()) return s;
  ApplyCounters(q, delta);
  return static_cast<uint64_t>(rows.size());
}

Status StoreImpl::Clear(const QueueRef& ref) {
  Status s = CheckWritable();
  if (!s.ok()) return s;
  auto qr = GetQueue(ref, false);
  if (!qr.ok()) return qr.status();
  QueueState* q = *qr;
  if (!q) return Status::OK();
  std::lock_guard<std::mutex> m(q->maintenance_mu);
  std::unique_lock<std::shared_mutex> gate(gate_);
  rocksdb::WriteBatch batch;
  for (char tag : {keys::kJob, keys::kReady, keys::kClaimed, keys::kDelayed, keys::kAbandoned,
                   keys::kDedup}) {
    const std::string p = keys::Prefix(tag, q->domain_id);
    AddRangeDelete(&batch, q->type->cf, p, keys::PrefixEnd(p));
  }
  batch.Put(q->type->cf, keys::CountsKey(q->domain_id), EncodeCounters({}));
  s = Write(&batch, options_.durability == Durability::kPowerLoss);
  if (!s.ok()) return s;
  {
    std::lock_guard<std::mutex> l(q->mu);
    q->ready_cursor.Reset();
    q->live_claims.Clear();
    q->delayed_floor = keys::Prefix(keys::kDelayed, q->domain_id);
    q->claimed_floor = keys::Prefix(keys::kClaimed, q->domain_id);
    q->abandoned_floor = keys::Prefix(keys::kAbandoned, q->domain_id);
  }
  q->ready.store(0);
  q->claimed.store(0);
  q->delayed.store(0);
  q->abandoned.store(0);
  ready_index_.Refresh(q);
  return Status::OK();
}

}  // namespace jobstore
