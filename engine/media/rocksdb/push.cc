// Push: a batch of jobs of any queues, accepted whole or not at all.
#include <algorithm>
#include <map>

#include "keys.h"
#include "rocks_backend.h"

namespace jobstore {
namespace {

// Holds the dedup hashes a push is checking, so a concurrent push of the same job waits for
// the outcome instead of racing it (check and insert are atomic, unlike MediaWiki's DB queue).
class DedupLocks {
 public:
  ~DedupLocks() {
    for (auto& [q, hash] : held_) {
      std::lock_guard<std::mutex> l(q->mu);
      q->dedup_pending.erase(hash);
      q->dedup_cv.notify_all();
    }
  }
  // Acquire in a global order (the caller iterates a sorted map) so two pushers never wait on
  // each other in a cycle.
  void Acquire(QueueState* q, const std::string& hash) {
    std::unique_lock<std::mutex> l(q->mu);
    q->dedup_cv.wait(l, [&] { return q->dedup_pending.count(hash) == 0; });
    q->dedup_pending.insert(hash);
    held_.emplace_back(q, hash);
  }

 private:
  std::vector<std::pair<QueueState*, std::string>> held_;
};

}  // namespace

Result<PushResult> RocksBackend::Push(const std::vector<NewJob>& jobs, int64_t now) {
  const size_t n = jobs.size();
  PushResult result;
  result.ids.resize(n);
  result.duplicate.assign(n, false);
  if (n == 0) return result;

  // Resolve each distinct queue once: batches usually hold many jobs of few queues. A known
  // queue costs one lookup; the types and domains of new ones are created together (one
  // column-family creation, one synced write) before those queues are.
  std::map<std::pair<std::string_view, std::string_view>, QueueState*> resolved;
  for (const NewJob& job : jobs) {
    resolved.emplace(std::pair<std::string_view, std::string_view>(job.spec->type, job.spec->domain),
                     nullptr);
  }
  std::vector<std::string> new_types, new_domains;
  auto resolve = [&](bool create) -> Status {
    for (auto& [key, q] : resolved) {
      if (q) continue;
      auto r = GetQueue({std::string(key.second), std::string(key.first)}, create);
      if (!r.ok()) return r.status();
      q = *r;
      if (!q) {
        new_types.emplace_back(key.first);
        new_domains.emplace_back(key.second);
      }
    }
    return Status::OK();
  };
  Status s = resolve(false);
  if (s.ok() && !new_types.empty()) {
    s = EnsureTypes(new_types);
    if (s.ok()) s = EnsureDomains(new_domains);
    if (s.ok()) s = resolve(true);
  }
  if (!s.ok()) return s;
  std::vector<QueueState*> qs(n);
  for (size_t i = 0; i < n; ++i) qs[i] = resolved[{jobs[i].spec->type, jobs[i].spec->domain}];
  std::vector<QueueState*> distinct(qs);
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  // A restore (never mixed with a push: the policy sends one or the other) writes ids it was
  // given, so it runs alone: no push between its look at an id and its write takes that id.
  const bool restoring = jobs[0].restore != nullptr;
  std::shared_lock<std::shared_mutex> shared(gate_, std::defer_lock);
  std::unique_lock<std::shared_mutex> alone(gate_, std::defer_lock);
  if (restoring) {
    alone.lock();
  } else {
    shared.lock();
  }

  const JobId first = next_id_.fetch_add(n);
  // Restored ids: those a queue already holds are not written again (a second restore of one
  // backup adds nothing); the counter moves past the rest.
  std::vector<JobId> id_of(n);
  JobId highest = first + n - 1;
  for (size_t i = 0; i < n; ++i) {
    const RestoredState* r = jobs[i].restore;
    id_of[i] = r && r->id != 0 ? r->id : first + i;
    if (!r || r->id == 0) continue;
    std::string v;
    s = Get(qs[i]->type->cf, keys::JobKey(qs[i]->domain_id, r->id), &v);
    if (s.ok()) {
      result.ids[i] = r->id;
      result.duplicate[i] = true;
    } else if (!s.IsNotFound()) {
      return s;
    }
    highest = std::max(highest, r->id);
  }
  // Only a restore can pass the counter, and it holds the gate alone: nothing races this.
  if (next_id_.load() <= highest) next_id_.store(highest + 1);

  // Dedup against the queued jobs: the policy collapsed the batch, so each (queue, hash) is
  // here once. Locks are taken in (queue, hash) order so two pushers never wait in a cycle.
  // A restored job never drops as a duplicate: it takes the hash when it is free (the first
  // of the batch to want it) and is written without it otherwise; an abandoned one holds none.
  std::vector<bool> owns(n, false);
  std::map<std::pair<QueueState*, std::string_view>, size_t> dedup_of;
  for (size_t i = 0; i < n; ++i) {
    const RestoredState* r = jobs[i].restore;
    if (!jobs[i].spec->dedup || result.duplicate[i]) continue;
    if (r && r->state == JobState::kAbandoned) continue;
    owns[i] = dedup_of.emplace(std::make_pair(qs[i], std::string_view(jobs[i].dedup_hash)), i).second;
  }
  DedupLocks dedup_locks;
  for (const auto& [key, i] : dedup_of) {
    dedup_locks.Acquire(key.first, std::string(key.second));
    std::string v;
    s = Get(key.first->type->cf, keys::DedupKey(key.first->domain_id, key.second), &v);
    if (s.ok()) {
      if (v.size() != 8) return Status::Corruption("dedup index entry is damaged");
      owns[i] = false;
      if (!jobs[i].restore) {
        result.ids[i] = keys::GetBE64(v.data());
        result.duplicate[i] = true;
      }
    } else if (!s.IsNotFound()) {
      return s;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (!result.duplicate[i]) result.ids[i] = id_of[i];
  }

  rocksdb::WriteBatch batch;
  std::map<QueueState*, CounterDelta> deltas;
  std::map<QueueState*, std::vector<std::pair<std::string, std::string>>> ready_inserts;
  // Maintenance scans the timed sets from a floor below which it removed everything; a job
  // entering below it (delayed before it, or restored abandoned at an earlier time) lowers it.
  std::map<QueueState*, std::string> lowest_delayed, lowest_abandoned;
  std::map<QueueState*, Order> order_of;
  for (QueueState* q : distinct) order_of[q] = q->type->Settings().order;
  for (size_t i = 0; i < n; ++i) {
    if (result.duplicate[i]) {
      ++result.duplicates;
      continue;
    }
    ++result.pushed;
    const JobSpec& spec = *jobs[i].spec;
    QueueState* q = qs[i];
    const JobId id = id_of[i];
    const RestoredState* restore = jobs[i].restore;
    JobRecord r;
    r.params = spec.params;
    r.enqueued_at_ms = restore ? restore->enqueued_at_ms : now;
    r.priority = spec.priority;
    r.release_at_ms = spec.release_at_ms;
    r.dedup = spec.dedup;
    r.dedup_hash = jobs[i].dedup_hash;
    r.root_signature = spec.root_signature;
    r.root_timestamp_ms = spec.root_timestamp_ms;
    r.root_is_self = spec.root_is_self;
    batch.Put(q->type->cf, keys::JobKey(q->domain_id, id), EncodeJobRecord(r));

    StateEntry e;
    e.priority = spec.priority;
    e.order_rank = keys::RankFor(order_of[q], spec.priority);
    e.order_seq = id;
    e.owns_dedup = owns[i];
    if (restore) {
      e.attempts = restore->attempts;
      e.last_error = restore->last_error;
      e.claimed_at_ms = restore->claimed_at_ms;
      e.abandoned_at_ms = restore->abandoned_at_ms;
    }
    const std::string value = EncodeStateEntry(e);
    if (restore && restore->state == JobState::kAbandoned) {
      std::string key = keys::TimedKey(keys::kAbandoned, q->domain_id, restore->abandoned_at_ms, id);
      batch.Put(q->type->cf, key, value);
      auto& low = lowest_abandoned[q];
      if (low.empty() || key < low) low = key;
      ++deltas[q].abandoned;
    } else if (jobs[i].delayed) {
      std::string key = keys::TimedKey(keys::kDelayed, q->domain_id, spec.release_at_ms, id);
      batch.Put(q->type->cf, key, value);
      auto& low = lowest_delayed[q];
      if (low.empty() || key < low) low = key;
      ++deltas[q].delayed;
    } else {
      std::string key = ReadyKeyFor(q, e, id);
      batch.Put(q->type->cf, key, value);
      ready_inserts[q].emplace_back(std::move(key), value);
      ++deltas[q].ready;
    }
    if (owns[i]) {
      batch.Put(q->type->cf, keys::DedupKey(q->domain_id, jobs[i].dedup_hash), keys::BE64(id));
    }
    if (spec.root_is_self) {
      batch.Merge(q->type->cf, keys::RootKey(q->domain_id, spec.root_signature),
                  keys::BE64(keys::TimeKey(spec.root_timestamp_ms)));
    }
  }
  if (result.pushed == 0) return result;
  batch.Merge(default_cf_, std::string(1, keys::kHighWater), keys::BE64(highest));
  for (auto& [q, d] : deltas) MergeCounters(&batch, q, d);

  for (auto& [q, inserts] : ready_inserts) BeginReadyInserts(q, inserts);
  s = Write(&batch, options_.durability == Durability::kPowerLoss);
  for (auto& [q, inserts] : ready_inserts) FinishReadyInserts(q, inserts, s.ok());
  if (!s.ok()) return s;
  for (auto& [q, key] : lowest_delayed) {
    std::lock_guard<std::mutex> l(q->mu);
    if (key < q->delayed_floor) q->delayed_floor = key;
  }
  for (auto& [q, key] : lowest_abandoned) {
    std::lock_guard<std::mutex> l(q->mu);
    if (key < q->abandoned_floor) q->abandoned_floor = key;
  }
  for (auto& [q, d] : deltas) ApplyCounters(q, d);
  return result;
}

}  // namespace jobstore
