// Read-only views: listings, single-job inspection and the invariant check.
#include <map>

#include "keys.h"
#include "rocks_backend.h"

namespace jobstore {
namespace {

char TagOf(JobState state) {
  switch (state) {
    case JobState::kReady: return keys::kReady;
    case JobState::kClaimed: return keys::kClaimed;
    case JobState::kDelayed: return keys::kDelayed;
    case JobState::kAbandoned: return keys::kAbandoned;
  }
  return keys::kReady;
}

constexpr JobState kStates[] = {JobState::kReady, JobState::kClaimed, JobState::kDelayed,
                                JobState::kAbandoned};

}  // namespace

Result<JobInfo> RocksBackend::Describe(QueueState* q, JobState state, std::string_view key,
                                    std::string_view value) {
  JobInfo info;
  info.queue = q->ref();
  info.id = keys::IdOf(key);
  info.state = state;
  StateEntry e;
  Status s = DecodeStateEntry(value, &e);
  if (!s.ok()) {
    info.corrupt = true;
    info.last_error = s.message();
  }
  info.attempts = e.attempts;
  info.priority = e.priority;
  info.claimed_at_ms = e.claimed_at_ms;
  info.abandoned_at_ms = e.abandoned_at_ms;
  if (s.ok()) info.last_error = e.last_error;
  if (state == JobState::kClaimed) {
    info.deadline_ms = keys::TimeOf(key);
    info.claim_token = {info.deadline_ms, e.claim_nonce};
  }
  if (state == JobState::kDelayed) info.release_at_ms = keys::TimeOf(key);
  std::string v;
  s = Get(q->type->cf, keys::JobKey(q->domain_id, info.id), &v);
  if (s.IsNotFound()) {
    info.corrupt = true;
    info.last_error = "job record is missing";
    return info;
  }
  if (!s.ok()) return s;
  JobRecord r;
  s = DecodeJobRecord(v, &r);
  if (!s.ok()) {
    info.corrupt = true;
    info.last_error = s.message();
    return info;
  }
  info.params = std::move(r.params);
  info.enqueued_at_ms = r.enqueued_at_ms;
  if (state != JobState::kDelayed) info.release_at_ms = r.release_at_ms;
  info.root_signature = std::move(r.root_signature);
  info.root_timestamp_ms = r.root_timestamp_ms;
  info.dedup = r.dedup;
  return info;
}

Result<ListPage> RocksBackend::List(const QueueRef& ref, JobState state,
                                   const std::string& cursor, size_t limit) {
  ListPage page;
  auto qr = GetQueue(ref, false);
  if (!qr.ok()) return qr.status();
  QueueState* q = *qr;
  if (!q) return page;
  const std::string prefix = keys::Prefix(TagOf(state), q->domain_id);
  std::string from = prefix;
  if (!cursor.empty()) {
    std::string raw;
    if (!keys::Unhex(cursor, &raw) || raw.compare(0, prefix.size(), prefix) != 0) {
      return Status::InvalidArgument("list cursor '" + cursor +
                                     "' does not belong to this queue and state; pass the "
                                     "next_cursor of the previous page");
    }
    from = keys::Successor(raw);
  }
  const std::string end = keys::PrefixEnd(prefix);
  rocksdb::Slice lo(prefix), hi(end);
  auto it = Scan(q->type->cf, &lo, &hi);
  for (it->Seek(from); it->Valid(); it->Next()) {
    if (page.jobs.size() == limit) break;
    auto info = Describe(q, state, it->key().ToStringView(), it->value().ToStringView());
    if (!info.ok()) return info.status();
    page.jobs.push_back(std::move(*info));
    from = it->key().ToString();
  }
  if (!it->status().ok()) {
    return Status::IOError("listing the " + std::string(JobStateName(state)) + " jobs of '" +
                           ref.type + "': " + it->status().ToString());
  }
  if (page.jobs.size() == limit && it->Valid()) page.next_cursor = keys::Hex(from);
  return page;
}

Status RocksBackend::FindState(QueueState* q, JobId id, JobState* state, std::string* key,
                               std::string* value) {
  for (JobState st : kStates) {
    const std::string prefix = keys::Prefix(TagOf(st), q->domain_id);
    const std::string end = keys::PrefixEnd(prefix);
    rocksdb::Slice lo(prefix), hi(end);
    auto it = Scan(q->type->cf, &lo, &hi);
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      if (keys::IdOf(it->key().ToStringView()) == id) {
        *state = st;
        *key = it->key().ToString();
        *value = it->value().ToString();
        return Status::OK();
      }
    }
    if (!it->status().ok()) {
      return Status::IOError("looking for job " + std::to_string(id) + ": " +
                             it->status().ToString());
    }
  }
  return Status::NotFound("job " + std::to_string(id) + " has no state");
}

Result<JobInfo> RocksBackend::Inspect(const QueueRef& ref, JobId id) {
  auto qr = GetQueue(ref, false);
  if (!qr.ok()) return qr.status();
  QueueState* q = *qr;
  const auto missing = Status::NotFound("job " + std::to_string(id) + " is not in queue '" +
                                        ref.type + "' of domain '" + ref.domain + "'");
  if (!q) return missing;
  std::string v;
  Status s = Get(q->type->cf, keys::JobKey(q->domain_id, id), &v);
  if (s.IsNotFound()) return missing;
  if (!s.ok()) return s;
  JobState state;
  std::string key, value;
  s = FindState(q, id, &state, &key, &value);
  if (s.IsNotFound()) {
    return Status::Corruption("job " + std::to_string(id) + " has a record but no state");
  }
  if (!s.ok()) return s;
  return Describe(q, state, key, value);
}

Result<std::vector<std::string>> RocksBackend::Check() {
  std::vector<std::string> bad;
  // One snapshot for every read, so the keys and the persisted counters are from one moment.
  // (A secondary has no snapshots, but it does not change between refreshes either.)
  const rocksdb::Snapshot* snap = secondary_ ? nullptr : db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  for (QueueState* q : AllQueues()) {
    const std::string where = "queue '" + q->type->name + "' domain '" + q->domain + "': ";
    rocksdb::ColumnFamilyHandle* cf = q->type->cf;
    auto scan = [&](char tag, const std::function<void(std::string_view, std::string_view)>& fn) {
      const std::string prefix = keys::Prefix(tag, q->domain_id);
      const std::string end = keys::PrefixEnd(prefix);
      rocksdb::Slice lo(prefix), hi(end);
      rocksdb::ReadOptions r = ro;
      r.iterate_lower_bound = &lo;
      r.iterate_upper_bound = &hi;
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(r, cf));
      for (it->Seek(prefix); it->Valid(); it->Next()) {
        fn(it->key().ToStringView(), it->value().ToStringView());
      }
      if (!it->status().ok()) bad.push_back(where + "read failed: " + it->status().ToString());
    };
    std::map<JobId, std::string> records;  // id -> dedup hash ("" if none)
    scan(keys::kJob, [&](std::string_view k, std::string_view v) {
      const JobId id = keys::IdOf(k);
      JobRecord r;
      Status s = DecodeJobRecord(v, &r);
      if (!s.ok()) bad.push_back(where + "job " + std::to_string(id) + ": " + s.message());
      records[id] = r.dedup_hash;
      if (id >= next_id_.load()) {
        bad.push_back(where + "job " + std::to_string(id) + " is above the id high-water mark");
      }
    });
    std::map<JobId, std::vector<JobState>> states;
    std::map<JobId, bool> owns;
    int64_t counted[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; ++i) {
      const JobState st = kStates[i];
      scan(TagOf(st), [&](std::string_view k, std::string_view v) {
        const size_t want = st == JobState::kReady ? keys::kReadyKeySize : keys::kTimedKeySize;
        if (k.size() != want) {
          bad.push_back(where + "malformed " + JobStateName(st) + " key");
          return;
        }
        const JobId id = keys::IdOf(k);
        ++counted[i];
        states[id].push_back(st);
        StateEntry e;
        Status s = DecodeStateEntry(v, &e);
        if (!s.ok()) bad.push_back(where + "job " + std::to_string(id) + " " + JobStateName(st) + " entry: " + s.message());
        if (e.owns_dedup) owns[id] = true;
        if (!records.count(id)) {
          bad.push_back(where + JobStateName(st) + " entry for job " + std::to_string(id) +
                        " has no job record");
        }
      });
    }
    for (const auto& [id, hash] : records) {
      auto it = states.find(id);
      const size_t n = it == states.end() ? 0 : it->second.size();
      if (n != 1) {
        bad.push_back(where + "job " + std::to_string(id) + " is in " + std::to_string(n) +
                      " states (must be exactly 1)");
      }
    }
    scan(keys::kDedup, [&](std::string_view k, std::string_view v) {
      const JobId id = v.size() == 8 ? keys::GetBE64(v.data()) : 0;
      auto st = states.find(id);
      const bool queued = st != states.end() && st->second.size() == 1 &&
                          (st->second[0] == JobState::kReady || st->second[0] == JobState::kDelayed);
      if (!queued || !owns.count(id)) {
        bad.push_back(where + "dedup entry points at job " + std::to_string(id) +
                      ", which is not a queued job holding it");
      }
    });
    std::string v;
    CounterDelta persisted;
    rocksdb::Status rs = db_->Get(ro, cf, keys::CountsKey(q->domain_id), &v);
    if (rs.ok()) {
      Status s = DecodeCounters(v, &persisted);
      if (!s.ok()) bad.push_back(where + s.message());
    } else if (!rs.IsNotFound()) {
      bad.push_back(where + "counters unreadable: " + rs.ToString());
    }
    // Ready and claimed are persisted as their sum (records.h): the ready count read as Open
    // reads it is wrong whenever the sum is.
    const CounterDelta read = CountsFromPersisted(persisted, counted[1]);
    const int64_t stored[4] = {read.ready, read.claimed, read.delayed, read.abandoned};
    const QueueCounts mem = q->Counts();
    const uint64_t in_memory[4] = {mem.ready, mem.claimed, mem.delayed, mem.abandoned};
    for (int i = 0; i < 4; ++i) {
      if (stored[i] != counted[i]) {
        bad.push_back(where + JobStateName(kStates[i]) + " count is " + std::to_string(stored[i]) +
                      " but " + std::to_string(counted[i]) + " entries are stored");
      }
      if (static_cast<int64_t>(in_memory[i]) != counted[i] && !secondary_) {
        bad.push_back(where + "in-memory " + JobStateName(kStates[i]) + " count is " +
                      std::to_string(in_memory[i]) + " but " + std::to_string(counted[i]) +
                      " entries are stored");
      }
    }
    bool indexed = false;
    for (const QueueRef& r : ready_index_.List()) indexed |= r == q->ref();
    if (indexed != (counted[0] > 0)) {
      bad.push_back(where + "ready index says " + (indexed ? "ready" : "not ready") + " but " +
                    std::to_string(counted[0]) + " ready entries are stored");
    }
  }
  if (snap) db_->ReleaseSnapshot(snap);
  return bad;
}

}  // namespace jobstore
