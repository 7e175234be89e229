// Maintenance (docs/DESIGN.md §7): each category seeks from its floor, so a pass costs what it
// moves, never the size of the queue.
#include <algorithm>
#include <chrono>

#include "keys.h"
#include "memtable_hint.h"
#include "rocks_backend.h"

namespace jobstore {
namespace {

std::string TimeBound(char tag, uint32_t domain, int64_t ms) {
  std::string k = keys::Prefix(tag, domain);
  keys::PutBE64(&k, keys::TimeKey(ms));
  return k;
}

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

// Up to `limit` rows of [from, upper). A read error is the answer, never a short list.
Result<std::vector<Row>> CollectRows(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                     const std::string& from, const std::string& upper,
                                     size_t limit) {
  std::vector<Row> rows;
  rocksdb::Slice up(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &up;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
  for (it->Seek(from); it->Valid() && rows.size() < limit; it->Next()) {
    rows.push_back({it->key().ToString(), it->value().ToString()});
  }
  if (!it->status().ok()) return Status::IOError("scanning for maintenance: " + it->status().ToString());
  return rows;
}

}  // namespace

Status RocksBackend::Maintain(const QueueRef& ref, const MaintenancePlan& plan,
                              MaintenanceReport* report) {
  auto qr = GetQueue(ref, false);
  if (!qr.ok()) return qr.status();
  QueueState* q = *qr;
  if (!q) return Status::OK();
  std::lock_guard<std::mutex> m(q->maintenance_mu);
  std::shared_lock<std::shared_mutex> gate(gate_);
  Status s;
  if (plan.promote) s = PromoteDue(q, plan, report);
  if (s.ok() && plan.reclaim) s = ReclaimExpired(q, plan, report);
  if (s.ok() && plan.prune_before_ms != INT64_MIN) s = PruneAbandoned(q, plan, report);
  if (s.ok() && plan.roots_before_ms != INT64_MIN) s = ExpireRoots(q, plan, report);
  return s;
}

Status RocksBackend::PromoteDue(QueueState* q, const MaintenancePlan& plan,
                                MaintenanceReport* report) {
  std::string floor;
  {
    std::lock_guard<std::mutex> l(q->mu);
    floor = q->delayed_floor;
  }
  auto rows = CollectRows(db_.get(), q->type->cf, floor,
                          TimeBound(keys::kDelayed, q->domain_id, plan.now_ms + 1), plan.limit);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status::OK();
  Transition t(this, q);
  uint64_t max_seq = 0;
  for (const Row& row : *rows) {
    const JobId id = keys::IdOf(row.key);
    StateEntry e;
    t.Leave(JobState::kDelayed, row.key);
    Status ds = DecodeStateEntry(row.value, &e);
    if (!ds.ok()) {
      Status dd = DropDedupEntriesOf(q, id, t.batch());
      if (!dd.ok()) return dd;
      StateEntry a;
      a.last_error = "corrupt record: " + ds.message();
      a.last_error_at_ms = plan.now_ms;
      t.EnterAbandoned(id, std::move(a), plan.now_ms);
      continue;
    }
    e.order_seq = NextSeq();  // a released delayed job queues behind what is already ready
    max_seq = std::max(max_seq, e.order_seq);
    t.EnterReady(id, e);
  }
  // Sequence numbers come from the id allocator: keep the high-water mark above them.
  if (max_seq) t.batch()->Merge(default_cf_, std::string(1, keys::kHighWater), keys::BE64(max_seq));
  const CounterDelta delta = t.delta();
  Status s = t.Commit(false);
  if (!s.ok()) return s;
  AdvanceFloor(q, &q->delayed_floor, floor, rows->back().key);
  report->promoted += static_cast<uint64_t>(delta.ready);
  report->abandoned += static_cast<uint64_t>(delta.abandoned);
  if (rows->size() == plan.limit) report->more = true;
  return Status::OK();
}

Status RocksBackend::ReclaimExpired(QueueState* q, const MaintenancePlan& plan,
                                    MaintenanceReport* report) {
  std::string floor;
  {
    std::lock_guard<std::mutex> l(q->mu);
    floor = q->claimed_floor;
  }
  // A claim expires once its deadline has passed: deadline < now.
  auto rows = CollectRows(db_.get(), q->type->cf, floor,
                          TimeBound(keys::kClaimed, q->domain_id, plan.now_ms), plan.limit);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status::OK();
  Transition t(this, q);
  std::vector<JobId> held;
  std::string last_done;
  bool blocked = false;
  for (const Row& row : *rows) {
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
    t.Leave(JobState::kClaimed, row.key);
    e.claim_nonce = 0;
    if (!ds.ok()) {
      Disposition corrupt{Disposition::To::kAbandoned, 0, "corrupt record: " + ds.message()};
      t.Enter(corrupt, id, std::move(e), plan.now_ms);
    } else {
      t.Enter(plan.on_expired(e.attempts), id, std::move(e), plan.now_ms);
    }
  }
  {
    std::lock_guard<std::mutex> l(q->mu);
    for (JobId id : held) q->live_claims.Erase(id);
  }
  const CounterDelta delta = t.delta();
  Status s = t.Commit(false);
  ReleaseBusy(q, held);
  if (!s.ok()) return s;
  if (!last_done.empty()) AdvanceFloor(q, &q->claimed_floor, floor, last_done);
  report->reclaimed += static_cast<uint64_t>(delta.ready + delta.delayed);
  report->abandoned += static_cast<uint64_t>(delta.abandoned);
  if (blocked || rows->size() == plan.limit) report->more = true;
  return Status::OK();
}

Status RocksBackend::PruneAbandoned(QueueState* q, const MaintenancePlan& plan,
                                    MaintenanceReport* report) {
  std::string floor;
  {
    std::lock_guard<std::mutex> l(q->mu);
    floor = q->abandoned_floor;
  }
  auto rows = CollectRows(db_.get(), q->type->cf, floor,
                          TimeBound(keys::kAbandoned, q->domain_id, plan.prune_before_ms),
                          plan.limit);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status::OK();
  rocksdb::WriteBatch batch;
  for (const Row& row : *rows) {
    batch.SingleDelete(q->type->cf, keys::JobKey(q->domain_id, keys::IdOf(row.key)));
  }
  // The abandoned entries themselves go as one range tombstone (the set is time-ordered).
  AddRangeDelete(&batch, q->type->cf, rows->front().key, keys::Successor(rows->back().key));
  CounterDelta delta;
  delta.abandoned = -static_cast<int64_t>(rows->size());
  MergeCounters(&batch, q, delta);
  Status s = Write(&batch, false);
  if (!s.ok()) return s;
  ApplyCounters(q, delta);
  AdvanceFloor(q, &q->abandoned_floor, floor, rows->back().key);
  report->pruned += rows->size();
  if (rows->size() == plan.limit) report->more = true;
  return Status::OK();
}

Status RocksBackend::ExpireRoots(QueueState* q, const MaintenancePlan& plan,
                                 MaintenanceReport* report) {
  const std::string prefix = keys::Prefix(keys::kRoot, q->domain_id);
  const std::string end = keys::PrefixEnd(prefix);
  std::string from;
  {
    std::lock_guard<std::mutex> l(q->mu);
    from = q->root_cursor;
  }
  auto rows = CollectRows(db_.get(), q->type->cf, from, end, plan.limit);
  if (!rows.ok()) return rows.status();
  rocksdb::WriteBatch batch;
  uint64_t expired = 0;
  for (const Row& row : *rows) {
    if (row.value.size() != 8) continue;
    const int64_t ts_ms = static_cast<int64_t>(keys::GetBE64(row.value.data()));
    if (ts_ms < plan.roots_before_ms) {
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
    q->root_cursor = rows->size() == plan.limit ? keys::Successor(rows->back().key) : prefix;
  }
  report->roots_expired += expired;
  if (rows->size() == plan.limit) report->more = true;
  return Status::OK();
}

Result<uint64_t> RocksBackend::RepushAbandoned(const QueueRef& ref) {
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
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return uint64_t{0};
  Transition t(this, q);
  uint64_t max_seq = 0;
  for (const Row& row : *rows) {
    StateEntry e;
    (void)DecodeStateEntry(row.value, &e);  // a corrupt entry still goes back; claim re-checks
    t.Leave(JobState::kAbandoned, row.key);
    const StateEntry r = Requeued(e);
    max_seq = std::max(max_seq, r.order_seq);
    t.EnterReady(keys::IdOf(row.key), r);
  }
  t.batch()->Merge(default_cf_, std::string(1, keys::kHighWater), keys::BE64(max_seq));
  Status s = t.Commit(options_.durability == Durability::kPowerLoss);
  if (!s.ok()) return s;
  return static_cast<uint64_t>(rows->size());
}

Status RocksBackend::Clear(const QueueRef& ref) {
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
  Status s = Write(&batch, options_.durability == Durability::kPowerLoss);
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
