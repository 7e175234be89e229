// The in-memory medium. One mutex guards everything: every operation is a handful of map
// updates, so it is its own atomic step, and a store in memory is for jobs that need no
// durability, not for the last microsecond.
#include "memory_backend.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <tuple>

#include "jobstore/validation.h"

namespace jobstore {
namespace {

struct Job {
  JobSpec spec;  // type, domain, params, priority, release time, dedup, root fields
  std::string dedup_hash;
  int64_t enqueued_at_ms = 0;
  JobState state = JobState::kReady;
  uint32_t attempts = 0;
  // Ready order: rank (priority) then sequence; a job keeps its place when released or
  // reclaimed, and goes to the back when promoted or repushed.
  uint32_t rank = 0;
  uint64_t seq = 0;
  int64_t at_ms = 0;  // delayed: release time; claimed: deadline; abandoned: abandoned-at
  uint64_t nonce = 0;
  int64_t claimed_at_ms = 0;
  bool owns_dedup = false;
  std::string last_error;
};

using ReadyKey = std::tuple<uint32_t, uint64_t, JobId>;
using TimedKey = std::pair<int64_t, JobId>;

struct Queue {
  std::map<JobId, Job> jobs;
  std::set<ReadyKey> ready;
  std::set<TimedKey> claimed, delayed, abandoned;
  std::map<std::string, JobId> dedup;  // hash -> the queued job holding it
  std::map<std::string, int64_t> roots;  // signature -> newest root timestamp
  std::string root_cursor;               // maintenance walks registrations round-robin

  QueueCounts Counts() const { return {ready.size(), claimed.size(), delayed.size(), abandoned.size()}; }
};

uint32_t RankFor(Order order, int32_t priority) {
  // Ascending rank is the claim order: higher priority first under `priority`.
  return order == Order::kPriority ? static_cast<uint32_t>(kMaxPriority - priority) : 0;
}

// List cursors: the position of the last job listed, in fixed-width hex so that they compare
// as the positions do ("r" rank seq id for ready, "t" time id for the timed sets).
std::string Hex(uint64_t v, int digits) {
  std::string out(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) out[static_cast<size_t>(i)] = "0123456789abcdef"[v & 15];
  return out;
}

bool Unhex(std::string_view text, uint64_t* v) {
  *v = 0;
  for (char c : text) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    *v = (*v << 4) | static_cast<uint64_t>(d);
  }
  return true;
}

std::string CursorOf(const ReadyKey& k) {
  return "r" + Hex(std::get<0>(k), 8) + Hex(std::get<1>(k), 16) + Hex(std::get<2>(k), 16);
}

std::string CursorOf(const TimedKey& k) {
  return "t" + Hex(static_cast<uint64_t>(k.first) ^ (uint64_t{1} << 63), 16) + Hex(k.second, 16);
}

bool ParseCursor(const std::string& c, ReadyKey* k) {
  uint64_t rank, seq, id;
  if (c.size() != 41 || c[0] != 'r' || !Unhex(std::string_view(c).substr(1, 8), &rank) ||
      !Unhex(std::string_view(c).substr(9, 16), &seq) ||
      !Unhex(std::string_view(c).substr(25, 16), &id)) {
    return false;
  }
  *k = {static_cast<uint32_t>(rank), seq, id};
  return true;
}

bool ParseCursor(const std::string& c, TimedKey* k) {
  uint64_t t, id;
  if (c.size() != 33 || c[0] != 't' || !Unhex(std::string_view(c).substr(1, 16), &t) ||
      !Unhex(std::string_view(c).substr(17, 16), &id)) {
    return false;
  }
  *k = {static_cast<int64_t>(t ^ (uint64_t{1} << 63)), id};
  return true;
}

// One page of `set` after the position `cursor` names ("" = from the start).
template <typename Key, typename Describe>
Result<ListPage> Page(const std::set<Key>& set, const std::string& cursor, size_t limit,
                      Describe describe) {
  ListPage page;
  auto it = set.begin();
  if (!cursor.empty()) {
    Key after;
    if (!ParseCursor(cursor, &after)) {
      return Status::InvalidArgument("list cursor '" + Printable(cursor, 80) +
                                     "' does not belong to this queue and state; pass the "
                                     "next_cursor of the previous page");
    }
    it = set.upper_bound(after);
  }
  for (; it != set.end() && page.jobs.size() < limit; ++it) page.jobs.push_back(describe(*it));
  if (it != set.end()) page.next_cursor = CursorOf(*std::prev(it));
  return page;
}

class MemoryBackend final : public Backend {
 public:
  explicit MemoryBackend(std::string label) : label_(std::move(label)) {}
  ~MemoryBackend() override {
    std::lock_guard<std::mutex> l(mu_);
    shutdown_ = true;
    ready_cv_.notify_all();
  }

  Capabilities capabilities() const override {
    Capabilities c;
    c.medium = "memory";
    c.push_atomicity = Capabilities::PushAtomicity::kWholeBatch;
    c.exact_counts = true;
    c.exact_ready_index = true;
    c.push_durability = Capabilities::Durability::kNothing;
    c.shared = false;
    c.note = "in this process's memory" + (label_.empty() ? "" : " ('" + label_ + "')") +
             "; every job is lost when the process exits";
    return c;
  }

  Result<PushResult> Push(const std::vector<NewJob>& jobs, int64_t now) override {
    std::lock_guard<std::mutex> l(mu_);
    PushResult result;
    result.ids.resize(jobs.size());
    result.duplicate.assign(jobs.size(), false);
    bool readied = false;
    for (size_t i = 0; i < jobs.size(); ++i) {
      const JobSpec& spec = *jobs[i].spec;
      TypeSettings& ts = types_[spec.type];  // created on first use, with defaults
      Queue& q = queues_[{spec.domain, spec.type}];
      const RestoredState* restore = jobs[i].restore;
      const bool queued = !restore || restore->state != JobState::kAbandoned;
      auto holder = spec.dedup && queued ? q.dedup.find(jobs[i].dedup_hash) : q.dedup.end();
      const bool holds_hash = holder != q.dedup.end();
      if (holds_hash && !restore) {
        result.ids[i] = holder->second;
        result.duplicate[i] = true;
        ++result.duplicates;
        continue;
      }
      if (restore && restore->id != 0 && q.jobs.count(restore->id) > 0) {
        result.ids[i] = restore->id;  // restored before
        result.duplicate[i] = true;
        ++result.duplicates;
        continue;
      }
      const JobId id = restore && restore->id != 0 ? restore->id : next_id_++;
      next_id_ = std::max(next_id_, id + 1);
      Job& j = q.jobs[id];
      j.spec = spec;
      j.dedup_hash = jobs[i].dedup_hash;
      j.enqueued_at_ms = restore ? restore->enqueued_at_ms : now;
      j.rank = RankFor(ts.order, spec.priority);
      j.seq = id;
      j.owns_dedup = spec.dedup && queued && !holds_hash;
      if (j.owns_dedup) q.dedup[j.dedup_hash] = id;
      if (spec.root_is_self) {
        int64_t& newest = q.roots[spec.root_signature];
        newest = std::max(newest, spec.root_timestamp_ms);
      }
      if (restore) {
        j.attempts = restore->attempts;
        j.last_error = restore->last_error;
        j.claimed_at_ms = restore->claimed_at_ms;
      }
      if (restore && restore->state == JobState::kAbandoned) {
        Enter(q, id, j, JobState::kAbandoned, restore->abandoned_at_ms);
      } else if (jobs[i].delayed) {
        Enter(q, id, j, JobState::kDelayed, spec.release_at_ms);
      } else {
        Enter(q, id, j, JobState::kReady, 0);
        readied = true;
      }
      result.ids[i] = id;
      ++result.pushed;
    }
    if (readied) Bump();
    return result;
  }

  Result<std::vector<ClaimedJob>> Claim(const QueueRef& ref, size_t max_jobs, int64_t now,
                                        int64_t deadline) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<ClaimedJob> out;
    Queue* q = Find(ref);
    if (!q) return out;
    const bool random = Settings(ref.type).order == Order::kRandom;
    std::vector<ReadyKey> picked;
    // As the RocksDB medium: `random` picks among the first max_jobs + 32 ready jobs.
    for (auto it = q->ready.begin();
         it != q->ready.end() && picked.size() < max_jobs + (random ? kRandomWindow : 0); ++it) {
      picked.push_back(*it);
    }
    if (random) std::shuffle(picked.begin(), picked.end(), rng_);
    if (picked.size() > max_jobs) picked.resize(max_jobs);
    for (const ReadyKey& key : picked) {
      const JobId id = std::get<2>(key);
      Job& j = q->jobs.at(id);
      Leave(*q, id, j);
      ++j.attempts;
      j.nonce = NewNonce();
      j.claimed_at_ms = now;
      if (j.owns_dedup) {
        q->dedup.erase(j.dedup_hash);
        j.owns_dedup = false;
      }
      Enter(*q, id, j, JobState::kClaimed, deadline);
      bool superseded = false;
      if (!j.spec.root_signature.empty()) {
        auto [it, inserted] = q->roots.emplace(j.spec.root_signature, j.spec.root_timestamp_ms);
        if (it->second > j.spec.root_timestamp_ms) {
          superseded = true;
        } else {
          it->second = j.spec.root_timestamp_ms;  // a newer root seen at claim registers too
        }
      }
      ClaimedJob c;
      c.claim = {ref, id, ClaimToken{deadline, j.nonce}};
      c.params = j.spec.params;
      c.attempts = j.attempts;
      c.priority = j.spec.priority;
      c.enqueued_at_ms = j.enqueued_at_ms;
      c.root_signature = j.spec.root_signature;
      c.root_timestamp_ms = j.spec.root_timestamp_ms;
      c.superseded = superseded;
      out.push_back(std::move(c));
    }
    return out;
  }

  Result<std::vector<Status>> Ack(const std::vector<jobstore::Claim>& claims) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<Status> result;
    result.reserve(claims.size());
    for (const jobstore::Claim& c : claims) {
      Queue* q = nullptr;
      Job* j = nullptr;
      Status s = Held(c, &q, &j);
      if (s.ok()) {
        Leave(*q, c.id, *j);
        q->jobs.erase(c.id);
      }
      result.push_back(std::move(s));
    }
    return result;
  }

  Status Settle(const jobstore::Claim& claim, int64_t now, const DecideFn& decide) override {
    std::lock_guard<std::mutex> l(mu_);
    Queue* q = nullptr;
    Job* j = nullptr;
    Status s = Held(claim, &q, &j);
    if (!s.ok()) return s;
    Leave(*q, claim.id, *j);
    j->nonce = 0;
    Place(*q, claim.id, *j, decide(j->attempts), now);
    return Status::OK();
  }

  Result<ClaimToken> Touch(const jobstore::Claim& claim, int64_t deadline) override {
    std::lock_guard<std::mutex> l(mu_);
    Queue* q = nullptr;
    Job* j = nullptr;
    Status s = Held(claim, &q, &j);
    if (!s.ok()) return s;
    if (deadline == j->at_ms) return claim.token;
    Leave(*q, claim.id, *j);
    j->nonce = NewNonce();
    Enter(*q, claim.id, *j, JobState::kClaimed, deadline);
    return ClaimToken{deadline, j->nonce};
  }

  Result<uint64_t> RepushAbandoned(const QueueRef& ref) override {
    std::lock_guard<std::mutex> l(mu_);
    Queue* q = Find(ref);
    if (!q) return uint64_t{0};
    const std::set<TimedKey> abandoned = q->abandoned;
    for (const TimedKey& key : abandoned) Requeue(*q, key.second, q->jobs.at(key.second));
    if (!abandoned.empty()) Bump();
    return static_cast<uint64_t>(abandoned.size());
  }

  Status RetryJob(const QueueRef& ref, JobId id) override {
    std::lock_guard<std::mutex> l(mu_);
    Job* j = nullptr;
    Queue* q = FindJob(ref, id, &j);
    if (!q) return Missing(ref, id);
    if (j->state != JobState::kAbandoned) {
      return Status::InvalidArgument("job " + std::to_string(id) + " of '" + ref.type + "' is " +
                                     JobStateName(j->state) +
                                     ", not abandoned; only an abandoned job can be retried");
    }
    Requeue(*q, id, *j);
    Bump();
    return Status::OK();
  }

  Status DeleteJob(const QueueRef& ref, JobId id) override {
    std::lock_guard<std::mutex> l(mu_);
    Job* j = nullptr;
    Queue* q = FindJob(ref, id, &j);
    if (!q) return Missing(ref, id);
    Leave(*q, id, *j);
    if (j->owns_dedup) q->dedup.erase(j->dedup_hash);
    q->jobs.erase(id);
    return Status::OK();
  }

  Status Clear(const QueueRef& ref) override {
    std::lock_guard<std::mutex> l(mu_);
    Queue* q = Find(ref);
    if (!q) return Status::OK();
    std::map<std::string, int64_t> roots = std::move(q->roots);  // registrations outlive jobs
    *q = Queue();
    q->roots = std::move(roots);
    return Status::OK();
  }

  Status Maintain(const QueueRef& ref, const MaintenancePlan& plan,
                  MaintenanceReport* report) override {
    std::lock_guard<std::mutex> l(mu_);
    Queue* q = Find(ref);
    if (!q) return Status::OK();
    const int64_t now = plan.now_ms;
    if (plan.promote) {
      size_t n = 0;
      while (!q->delayed.empty() && q->delayed.begin()->first <= now) {
        if (n == plan.limit) {
          report->more = true;
          break;
        }
        const JobId id = q->delayed.begin()->second;
        Job& j = q->jobs.at(id);
        Leave(*q, id, j);
        j.seq = next_id_++;  // promoted jobs queue behind the ready ones
        Enter(*q, id, j, JobState::kReady, 0);
        ++report->promoted;
        ++n;
      }
      if (n > 0) Bump();
    }
    if (plan.reclaim) {
      size_t n = 0;
      bool readied = false;
      while (!q->claimed.empty() && q->claimed.begin()->first < now) {
        if (n == plan.limit) {
          report->more = true;
          break;
        }
        const JobId id = q->claimed.begin()->second;
        Job& j = q->jobs.at(id);
        Leave(*q, id, j);
        j.nonce = 0;
        const Disposition d = plan.on_expired(j.attempts);
        Place(*q, id, j, d, now);
        if (d.to == Disposition::To::kAbandoned) {
          ++report->abandoned;
        } else {
          ++report->reclaimed;
          readied = true;
        }
        ++n;
      }
      if (readied) Bump();
    }
    if (plan.prune_before_ms != INT64_MIN) {
      size_t n = 0;
      while (!q->abandoned.empty() && q->abandoned.begin()->first < plan.prune_before_ms) {
        if (n == plan.limit) {
          report->more = true;
          break;
        }
        const JobId id = q->abandoned.begin()->second;
        q->abandoned.erase(q->abandoned.begin());
        q->jobs.erase(id);
        ++report->pruned;
        ++n;
      }
    }
    if (plan.roots_before_ms != INT64_MIN) {
      size_t n = 0;
      auto it = q->roots.lower_bound(q->root_cursor);
      while (it != q->roots.end() && n < plan.limit) {
        if (it->second < plan.roots_before_ms) {
          it = q->roots.erase(it);
          ++report->roots_expired;
        } else {
          ++it;
        }
        ++n;
      }
      if (it == q->roots.end()) {
        q->root_cursor.clear();
      } else {
        q->root_cursor = it->first;
        report->more = true;
      }
    }
    return Status::OK();
  }

  Result<QueueCounts> Counts(const QueueRef& ref) override {
    std::lock_guard<std::mutex> l(mu_);
    Queue* q = Find(ref);
    return q ? q->Counts() : QueueCounts{};
  }

  Result<std::vector<QueueStats>> Queues() override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<QueueStats> out;
    for (const auto& [key, q] : queues_) out.push_back({{key.first, key.second}, q.Counts(), ""});
    return out;  // the map's order is (domain, type)
  }

  Result<ListPage> List(const QueueRef& ref, JobState state, const std::string& cursor,
                        size_t limit) override {
    std::lock_guard<std::mutex> l(mu_);
    Queue* q = Find(ref);
    if (!q) return ListPage{};
    if (state == JobState::kReady) {
      return Page(q->ready, cursor, limit, [&](const ReadyKey& k) {
        return Describe(ref, std::get<2>(k), q->jobs.at(std::get<2>(k)));
      });
    }
    const std::set<TimedKey>& set = state == JobState::kClaimed   ? q->claimed
                                    : state == JobState::kDelayed ? q->delayed
                                                                  : q->abandoned;
    return Page(set, cursor, limit,
                [&](const TimedKey& k) { return Describe(ref, k.second, q->jobs.at(k.second)); });
  }

  Result<JobInfo> Inspect(const QueueRef& ref, JobId id) override {
    std::lock_guard<std::mutex> l(mu_);
    Job* j = nullptr;
    if (!FindJob(ref, id, &j)) return Missing(ref, id);
    return Describe(ref, id, *j);
  }

  Result<std::vector<std::string>> Check() override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> bad;
    for (const auto& [key, q] : queues_) {
      const std::string where = "queue '" + key.second + "' domain '" + key.first + "': ";
      size_t in_sets = q.ready.size() + q.claimed.size() + q.delayed.size() + q.abandoned.size();
      if (in_sets != q.jobs.size()) {
        bad.push_back(where + std::to_string(q.jobs.size()) + " jobs but " +
                      std::to_string(in_sets) + " state entries");
      }
      for (const auto& [id, j] : q.jobs) {
        const bool listed =
            j.state == JobState::kReady     ? q.ready.count({j.rank, j.seq, id}) > 0
            : j.state == JobState::kClaimed ? q.claimed.count({j.at_ms, id}) > 0
            : j.state == JobState::kDelayed ? q.delayed.count({j.at_ms, id}) > 0
                                            : q.abandoned.count({j.at_ms, id}) > 0;
        if (!listed) {
          bad.push_back(where + "job " + std::to_string(id) + " is " + JobStateName(j.state) +
                        " but not in that state's set");
        }
      }
      for (const auto& [hash, id] : q.dedup) {
        auto it = q.jobs.find(id);
        const bool queued = it != q.jobs.end() && it->second.owns_dedup &&
                            (it->second.state == JobState::kReady ||
                             it->second.state == JobState::kDelayed);
        if (!queued) {
          bad.push_back(where + "dedup entry points at job " + std::to_string(id) +
                        ", which is not a queued job holding it");
        }
      }
    }
    return bad;
  }

  Result<std::vector<QueueRef>> ReadyQueues() override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<QueueRef> out;
    for (const auto& [key, q] : queues_) {
      if (!q.ready.empty()) out.push_back({key.first, key.second});
    }
    return out;
  }

  Result<std::optional<QueueRef>> PickReadyQueue(const ReadyFilter& filter) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<QueueRef> allowed;
    for (const auto& [key, q] : queues_) {
      if (q.ready.empty()) continue;
      if (filter.domain && key.first != *filter.domain) continue;
      if (!filter.types.empty() &&
          std::find(filter.types.begin(), filter.types.end(), key.second) == filter.types.end()) {
        continue;
      }
      if (std::find(filter.exclude.begin(), filter.exclude.end(), key.second) !=
          filter.exclude.end()) {
        continue;
      }
      allowed.push_back({key.first, key.second});
    }
    if (allowed.empty()) return std::optional<QueueRef>();
    std::uniform_int_distribution<size_t> pick(0, allowed.size() - 1);
    return std::optional<QueueRef>(allowed[pick(rng_)]);
  }

  Result<uint64_t> ReadyEpoch() override {
    std::lock_guard<std::mutex> l(mu_);
    return epoch_;
  }

  Status WaitForReady(uint64_t epoch, int64_t max_wait_ms) override {
    std::unique_lock<std::mutex> l(mu_);
    ready_cv_.wait_for(l, std::chrono::milliseconds(std::max<int64_t>(max_wait_ms, 0)),
                       [&] { return epoch_ != epoch || shutdown_; });
    return Status::OK();
  }

  Result<TypeSettings> GetTypeSettings(const std::string& type) override {
    std::lock_guard<std::mutex> l(mu_);
    return Settings(type);
  }

  Status SetTypeSettings(const std::string& type, const TypeSettings& settings) override {
    std::lock_guard<std::mutex> l(mu_);
    types_[type] = settings;
    return Status::OK();
  }

  Result<std::vector<std::string>> Types() override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const auto& [name, ts] : types_) out.push_back(name);
    return out;
  }

 private:
  static constexpr size_t kRandomWindow = 32;

  static Status Missing(const QueueRef& ref, JobId id) {
    return Status::NotFound("job " + std::to_string(id) + " is not in queue '" + ref.type +
                            "' of domain '" + ref.domain + "'");
  }

  TypeSettings Settings(const std::string& type) const {
    auto it = types_.find(type);
    return it == types_.end() ? TypeSettings{} : it->second;
  }

  Queue* Find(const QueueRef& ref) {
    auto it = queues_.find({ref.domain, ref.type});
    return it == queues_.end() ? nullptr : &it->second;
  }

  Queue* FindJob(const QueueRef& ref, JobId id, Job** job) {
    Queue* q = Find(ref);
    if (!q) return nullptr;
    auto it = q->jobs.find(id);
    if (it == q->jobs.end()) return nullptr;
    *job = &it->second;
    return q;
  }

  // The claimed job `claim` names, when its token is current.
  Status Held(const jobstore::Claim& claim, Queue** queue, Job** job) {
    Queue* q = Find(claim.queue);
    if (!q) {
      return Status::NotFound("no queue '" + claim.queue.type + "' in domain '" +
                              claim.queue.domain + "'; check the type and domain");
    }
    auto it = q->jobs.find(claim.id);
    if (it == q->jobs.end()) {
      return Status::NotFound("job " + std::to_string(claim.id) + " of '" + claim.queue.type +
                              "' in domain '" + claim.queue.domain +
                              "' is not in the store (already acked?)");
    }
    Job& j = it->second;
    if (j.state != JobState::kClaimed || j.nonce != claim.token.nonce ||
        j.at_ms != claim.token.deadline_ms) {
      return Status::StaleToken("job " + std::to_string(claim.id) + " of '" + claim.queue.type +
                                "' is no longer held by this claim (its lease expired and it "
                                "was reclaimed); do not ack it, the job will run again");
    }
    *queue = q;
    *job = &j;
    return Status::OK();
  }

  void Enter(Queue& q, JobId id, Job& j, JobState state, int64_t at_ms) {
    j.state = state;
    j.at_ms = at_ms;
    switch (state) {
      case JobState::kReady: q.ready.insert({j.rank, j.seq, id}); break;
      case JobState::kClaimed: q.claimed.insert({at_ms, id}); break;
      case JobState::kDelayed: q.delayed.insert({at_ms, id}); break;
      case JobState::kAbandoned: q.abandoned.insert({at_ms, id}); break;
    }
  }

  void Leave(Queue& q, JobId id, const Job& j) {
    switch (j.state) {
      case JobState::kReady: q.ready.erase({j.rank, j.seq, id}); break;
      case JobState::kClaimed: q.claimed.erase({j.at_ms, id}); break;
      case JobState::kDelayed: q.delayed.erase({j.at_ms, id}); break;
      case JobState::kAbandoned: q.abandoned.erase({j.at_ms, id}); break;
    }
  }

  // Where a Disposition sends a job that left its claim.
  void Place(Queue& q, JobId id, Job& j, const Disposition& d, int64_t now) {
    if (!d.error.empty()) j.last_error = d.error;
    switch (d.to) {
      case Disposition::To::kReady:
        Enter(q, id, j, JobState::kReady, 0);
        Bump();
        break;
      case Disposition::To::kDelayed: Enter(q, id, j, JobState::kDelayed, d.release_at_ms); break;
      case Disposition::To::kAbandoned: Enter(q, id, j, JobState::kAbandoned, now); break;
    }
  }

  // An abandoned job back to ready: attempts reset, behind the jobs already ready.
  void Requeue(Queue& q, JobId id, Job& j) {
    Leave(q, id, j);
    j.attempts = 0;
    j.seq = next_id_++;
    Enter(q, id, j, JobState::kReady, 0);
  }

  JobInfo Describe(const QueueRef& ref, JobId id, const Job& j) const {
    JobInfo info;
    info.queue = ref;
    info.id = id;
    info.state = j.state;
    info.params = j.spec.params;
    info.attempts = j.attempts;
    info.priority = j.spec.priority;
    info.enqueued_at_ms = j.enqueued_at_ms;
    info.release_at_ms = j.state == JobState::kDelayed ? j.at_ms : j.spec.release_at_ms;
    if (j.state == JobState::kClaimed) {
      info.deadline_ms = j.at_ms;
      info.claim_token = {j.at_ms, j.nonce};
    }
    info.claimed_at_ms = j.claimed_at_ms;
    if (j.state == JobState::kAbandoned) info.abandoned_at_ms = j.at_ms;
    info.last_error = j.last_error;
    info.root_signature = j.spec.root_signature;
    info.root_timestamp_ms = j.spec.root_timestamp_ms;
    info.dedup = j.spec.dedup;
    return info;
  }

  void Bump() {
    ++epoch_;
    ready_cv_.notify_all();
  }

  uint64_t NewNonce() { return rng_(); }

  const std::string label_;
  std::mutex mu_;
  std::condition_variable ready_cv_;
  std::map<std::string, TypeSettings> types_;
  std::map<std::pair<std::string, std::string>, Queue> queues_;  // (domain, type)
  JobId next_id_ = 1;
  uint64_t epoch_ = 0;
  bool shutdown_ = false;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

std::unique_ptr<Backend> NewMemoryBackend(const std::string& label) {
  return std::make_unique<MemoryBackend>(label);
}

}  // namespace jobstore
