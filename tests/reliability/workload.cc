#include "reliability/workload.h"

#include <algorithm>
#include <sstream>

namespace jobstore::testing {

namespace {
constexpr int64_t kDayMs = 24LL * 3600 * 1000;

TypeSettings MakeSettings(Order order, uint32_t max_tries, bool retries) {
  TypeSettings s;
  s.order = order;
  s.claim_ttl_ms = kDayMs;  // claims never expire inside one round
  s.max_tries = max_tries;
  s.retries_allowed = retries;
  s.retention_ms = 15 * kDayMs;
  return s;
}
}  // namespace

const std::vector<WorkloadType>& WorkloadTypes() {
  static const std::vector<WorkloadType> types = {
      {"fifo", MakeSettings(Order::kFifo, 3, true)},
      {"prio", MakeSettings(Order::kPriority, 2, true)},
      {"rand", MakeSettings(Order::kRandom, 3, false)},
  };
  return types;
}

const std::vector<std::string>& WorkloadDomains() {
  static const std::vector<std::string> domains = {"", "wiki-a", "wiki.b"};
  return domains;
}

const std::vector<QueueRef>& WorkloadQueues() {
  static const std::vector<QueueRef> queues = [] {
    std::vector<QueueRef> q;
    for (auto& t : WorkloadTypes()) {
      for (auto& d : WorkloadDomains()) q.push_back({d, t.name});
    }
    return q;
  }();
  return queues;
}

int QueueIndex(const QueueRef& queue) {
  auto& qs = WorkloadQueues();
  auto it = std::find(qs.begin(), qs.end(), queue);
  return it == qs.end() ? -1 : static_cast<int>(it - qs.begin());
}

const TypeSettings& SettingsOf(int queue_index) {
  return WorkloadTypes()[queue_index / WorkloadDomains().size()].settings;
}

Workload::Workload(Store& store, ManualClock& clock, uint64_t seed, Emit emit,
                   std::function<bool()> stop)
    : store_(store), clock_(clock), rng_(seed), emit_(std::move(emit)), stop_(std::move(stop)) {}

int64_t Workload::Rand(int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
}

// Reports the result of the operation in flight, unless it failed or the power went off.
Status Workload::Finish(const Status& s, const std::string& result) {
  if (stop_ && stop_()) {
    stopped_ = true;
    return Status::OK();
  }
  if (!s.ok()) {
    emit_("F " + s.ToString());
    return s;
  }
  emit_(result);
  ++ops_;
  return Status::OK();
}

Status Workload::Configure() {
  emit_("B S");
  Status s;
  for (auto& t : WorkloadTypes()) {
    s = store_.SetTypeSettings(t.name, t.settings);
    if (!s.ok()) break;
  }
  return Finish(s, "S");
}

std::string Workload::RandomParams() {
  size_t n = Rand(0, 9) == 0 ? static_cast<size_t>(Rand(1000, 6000)) : Rand(0, 120);
  std::string p(n, '\0');
  for (auto& c : p) c = static_cast<char>(Rand(0, 255));  // any bytes, NULs included
  return p;
}

Status Workload::Push() {
  size_t n = Rand(1, 8);
  int64_t now = clock_.NowMs();
  std::vector<JobSpec> specs;
  std::vector<int> queues;
  std::string begin = "B P";
  for (size_t i = 0; i < n; ++i) {
    int q = static_cast<int>(Rand(0, WorkloadQueues().size() - 1));
    JobSpec spec;
    spec.type = WorkloadQueues()[q].type;
    spec.domain = WorkloadQueues()[q].domain;
    spec.priority = static_cast<int32_t>(Rand(-5, 5));
    if (Rand(0, 6) == 0) {
      spec.dedup = true;
      spec.params = "dd-" + std::to_string(Rand(0, 3));
    } else {
      spec.params = RandomParams();
    }
    if (Rand(0, 6) == 0) spec.release_at_ms = now + Rand(1, 3000);
    specs.push_back(std::move(spec));
    queues.push_back(q);
    begin += " " + std::to_string(q);
  }
  emit_(begin);
  auto r = store_.Push(specs);
  if (!r.ok()) return Finish(r.status(), "");
  std::ostringstream out;
  out << "P " << r->ids.size();
  for (size_t i = 0; i < r->ids.size(); ++i) {
    out << " " << queues[i] << " " << r->ids[i] << " " << (r->duplicate[i] ? 1 : 0);
  }
  approx_jobs_ += static_cast<int64_t>(r->pushed);
  return Finish(Status::OK(), out.str());
}

Status Workload::ClaimSome() {
  int q = static_cast<int>(Rand(0, WorkloadQueues().size() - 1));
  size_t n = Rand(1, 8);
  std::optional<int64_t> ttl;
  if (Rand(0, 1) == 0) ttl = kDayMs + Rand(0, 1000);
  emit_("B C " + std::to_string(q) + " " + std::to_string(n));
  auto r = store_.Claim(WorkloadQueues()[q], n, ttl);
  if (!r.ok()) return Finish(r.status(), "");
  std::ostringstream out;
  out << "C " << q << " " << r->size();
  for (auto& job : *r) {
    out << " " << job.claim.id << " " << job.claim.token.nonce << " "
        << job.claim.token.deadline_ms << " " << job.attempts;
  }
  Status s = Finish(Status::OK(), out.str());
  if (s.ok() && !stopped_) {
    for (auto& job : *r) held_.push_back(std::move(job));
  }
  return s;
}

// Removes a random held claim from held_ and returns its index in a scratch slot (the last).
size_t Workload::TakeHeld() {
  size_t i = Rand(0, held_.size() - 1);
  std::swap(held_[i], held_.back());
  return held_.size() - 1;
}

Status Workload::AckOne() {
  ClaimedJob job = held_[TakeHeld()];
  held_.pop_back();
  int q = QueueIndex(job.claim.queue);
  std::string tail = std::to_string(q) + " " + std::to_string(job.claim.id);
  emit_("B A " + tail);
  return Finish(store_.Ack(job.claim), "A " + tail);
}

Status Workload::AckMany() {
  size_t n = std::min<size_t>(held_.size(), Rand(2, 6));
  std::vector<Claim> claims;
  std::string begin = "B M";
  for (size_t i = 0; i < n; ++i) {
    claims.push_back(held_[TakeHeld()].claim);
    held_.pop_back();
    begin += " " + std::to_string(QueueIndex(claims.back().queue)) + " " +
             std::to_string(claims.back().id);
  }
  emit_(begin);
  auto acked = store_.AckMany(claims);
  // A failure of the whole call says nothing of what it did: a served store's owner may have
  // committed the acks and died before answering. So it stays in flight ("F"), never "M 0".
  if (!acked.ok()) return Finish(acked.status(), "");
  const std::vector<Status>& results = *acked;
  std::ostringstream out;
  size_t ok = 0;
  Status first_error;
  for (size_t i = 0; i < results.size() && i < claims.size(); ++i) {
    if (results[i].ok()) {
      ++ok;
    } else if (first_error.ok()) {
      first_error = results[i];
    }
  }
  if (results.size() != claims.size()) {
    first_error = Status::Corruption("AckMany returned " + std::to_string(results.size()) +
                                     " statuses for " + std::to_string(claims.size()));
  }
  out << "M " << ok;
  for (size_t i = 0; i < results.size() && i < claims.size(); ++i) {
    if (results[i].ok()) out << " " << QueueIndex(claims[i].queue) << " " << claims[i].id;
  }
  approx_jobs_ -= static_cast<int64_t>(ok);
  // The acks that succeeded are reported even when others failed.
  Status s = Finish(Status::OK(), out.str());
  if (s.ok() && !stopped_ && !first_error.ok()) {
    emit_("F " + first_error.ToString());
    return first_error;
  }
  return s;
}

Status Workload::ReleaseOne() {
  ClaimedJob job = held_[TakeHeld()];
  held_.pop_back();
  int q = QueueIndex(job.claim.queue);
  int64_t delay = Rand(0, 2) == 0 ? Rand(1, 2000) : 0;
  std::string error = Rand(0, 1) == 0 ? "boom" : "";
  const TypeSettings& ts = SettingsOf(q);
  bool abandon = !error.empty() && (!ts.retries_allowed || job.attempts >= ts.max_tries);
  std::string tail = std::to_string(q) + " " + std::to_string(job.claim.id);
  emit_("B L " + tail);
  return Finish(store_.Release(job.claim, delay, error).status(), "L " + tail + (abandon ? " A" : " Q"));
}

Status Workload::TouchOne() {
  ClaimedJob& job = held_[Rand(0, held_.size() - 1)];
  int q = QueueIndex(job.claim.queue);
  std::string tail = std::to_string(q) + " " + std::to_string(job.claim.id);
  emit_("B T " + tail);
  auto r = store_.Touch(job.claim, kDayMs);
  if (!r.ok()) return Finish(r.status(), "");
  Status s = Finish(Status::OK(), "T " + tail + " " + std::to_string(r->nonce) + " " +
                                      std::to_string(r->deadline_ms));
  if (s.ok() && !stopped_) job.claim.token = *r;
  return s;
}

Status Workload::Repush() {
  int q = static_cast<int>(Rand(0, WorkloadQueues().size() - 1));
  emit_("B X " + std::to_string(q));
  auto r = store_.RepushAbandoned(WorkloadQueues()[q]);
  if (!r.ok()) return Finish(r.status(), "");
  return Finish(Status::OK(), "X " + std::to_string(q) + " " + std::to_string(*r));
}

Status Workload::DoMaintain() {
  emit_("B E");
  auto r = store_.Maintain();
  return Finish(r.ok() ? Status::OK() : r.status(), "E");
}

Status Workload::Run(size_t n) {
  for (size_t i = 0; i < n && !stopped_; ++i) {
    if (i % 64 == 0) {
      approx_jobs_ = 0;
      auto queues = store_.Queues();
      if (queues.ok()) {
        for (auto& qs : *queues) approx_jobs_ += static_cast<int64_t>(qs.counts.total());
      }
    }
    clock_.Advance(Rand(0, 20));
    int push_weight = approx_jobs_ > 1500 ? 5 : 30;
    int claim_weight = held_.size() > 150 ? 2 : 25;
    int held_weight = held_.empty() ? 0 : 1;
    // weights: push, claim, ack, ackmany, release, touch, repush, maintain
    int w[8] = {push_weight, claim_weight, 18 * held_weight, 8 * held_weight,
                9 * held_weight, 5 * held_weight, 2, 4};
    int total = 0;
    for (int x : w) total += x;
    int pick = static_cast<int>(Rand(0, total - 1));
    int op = 0;
    while (pick >= w[op]) pick -= w[op++];
    Status s;
    switch (op) {
      case 0: s = Push(); break;
      case 1: s = ClaimSome(); break;
      case 2: s = AckOne(); break;
      case 3: s = AckMany(); break;
      case 4: s = ReleaseOne(); break;
      case 5: s = TouchOne(); break;
      case 6: s = Repush(); break;
      default: s = DoMaintain(); break;
    }
    if (!s.ok()) return s;
  }
  return Status::OK();
}

}  // namespace jobstore::testing
