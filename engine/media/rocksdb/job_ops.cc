// Operations on one job by id, for operators and tools: delete it in any state, retry an
// abandoned one. State keys are ordered by time or rank, not id, so both find the job with a
// scan of its queue (FindState): a tool's path, never a worker's.
#include <thread>

#include "keys.h"
#include "rocks_backend.h"

namespace jobstore {
namespace {

// A job found between two states (a concurrent move) or being claimed this instant is looked
// up again; each look is a scan, and such races last one write, so a few suffice.
constexpr int kMaxLookups = 100;

Status Missing(const QueueRef& ref, JobId id) {
  return Status::NotFound("job " + std::to_string(id) + " is not in queue '" + ref.type +
                          "' of domain '" + ref.domain + "'");
}

}  // namespace

Status RocksBackend::DeleteJob(const QueueRef& ref, JobId id) {
  auto qr = GetQueue(ref, false);
  if (!qr.ok()) return qr.status();
  QueueState* q = *qr;
  if (!q) return Missing(ref, id);
  // Maintenance, repush and retry move delayed and abandoned jobs: none runs meanwhile. Claimed
  // jobs are held by their busy mark below, ready ones hidden from claims.
  std::lock_guard<std::mutex> m(q->maintenance_mu);
  std::shared_lock<std::shared_mutex> gate(gate_);
  const std::string job_key = keys::JobKey(q->domain_id, id);
  for (int lookup = 0; lookup < kMaxLookups; ++lookup) {
    if (lookup > 0) std::this_thread::yield();
    std::string record;
    Status s = Get(q->type->cf, job_key, &record);
    if (s.IsNotFound()) return Missing(ref, id);
    if (!s.ok()) return s;
    JobState state;
    std::string key, value;
    s = FindState(q, id, &state, &key, &value);
    if (s.IsNotFound()) continue;  // moving between states, or stateless: look again
    if (!s.ok()) return s;

    if (state == JobState::kClaimed) {
      AcquireBusy(q, {id});
      std::string now_there;
      s = Get(q->type->cf, key, &now_there);
      if (!s.ok()) {
        ReleaseBusy(q, {id});
        if (s.IsNotFound()) continue;  // acked, released or reclaimed meanwhile
        return s;
      }
      std::lock_guard<std::mutex> l(q->mu);
      q->live_claims.Erase(id);
    } else if (state == JobState::kReady) {
      std::lock_guard<std::mutex> l(q->mu);
      if (!q->ready_cursor.Hide(key)) continue;  // a claim is taking it this instant
    }
    StateEntry e;
    const bool entry_ok = DecodeStateEntry(value, &e).ok();
    JobRecord r;
    const bool record_ok = DecodeJobRecord(record, &r).ok();
    Transition t(this, q);
    t.Leave(state, key);
    t.batch()->SingleDelete(q->type->cf, job_key);
    if (!entry_ok || !record_ok) {
      s = DropDedupEntriesOf(q, id, t.batch());
    } else if (e.owns_dedup) {
      t.batch()->Delete(q->type->cf, keys::DedupKey(q->domain_id, r.dedup_hash));
    }
    if (s.ok()) s = t.Commit(options_.durability == Durability::kPowerLoss);
    if (state == JobState::kReady) {
      std::lock_guard<std::mutex> l(q->mu);
      q->ready_cursor.EndInsert(key, value, /*committed=*/!s.ok());
    }
    if (state == JobState::kClaimed) ReleaseBusy(q, {id});
    return s;
  }
  return Status::Busy("job " + std::to_string(id) + " of '" + ref.type +
                      "' kept moving between states while it was being deleted; try again");
}

Status RocksBackend::RetryJob(const QueueRef& ref, JobId id) {
  auto qr = GetQueue(ref, false);
  if (!qr.ok()) return qr.status();
  QueueState* q = *qr;
  if (!q) return Missing(ref, id);
  // Only maintenance (pruning), repush and delete move abandoned jobs: none runs meanwhile.
  std::lock_guard<std::mutex> m(q->maintenance_mu);
  std::shared_lock<std::shared_mutex> gate(gate_);
  std::string record;
  Status s = Get(q->type->cf, keys::JobKey(q->domain_id, id), &record);
  if (s.IsNotFound()) return Missing(ref, id);
  if (!s.ok()) return s;
  JobState state;
  std::string key, value;
  for (int lookup = 0; lookup < kMaxLookups; ++lookup) {
    s = FindState(q, id, &state, &key, &value);
    if (!s.IsNotFound()) break;
  }
  if (!s.ok()) return s;
  if (state != JobState::kAbandoned) {
    return Status::InvalidArgument("job " + std::to_string(id) + " of '" + ref.type + "' is " +
                                   JobStateName(state) +
                                   ", not abandoned; only an abandoned job can be retried");
  }
  StateEntry e;
  (void)DecodeStateEntry(value, &e);  // a corrupt entry still goes back; claim re-checks
  Transition t(this, q);
  t.Leave(JobState::kAbandoned, key);
  const StateEntry ready = Requeued(e);
  t.EnterReady(id, ready);
  t.batch()->Merge(default_cf_, std::string(1, keys::kHighWater), keys::BE64(ready.order_seq));
  return t.Commit(options_.durability == Durability::kPowerLoss);
}

}  // namespace jobstore
