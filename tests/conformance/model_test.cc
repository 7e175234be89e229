// Model-based test, on every medium: a randomised sequence of operations is applied to the store
// and to a plain model; after every step the per-queue counts and the ready index must agree, and
// regularly every job's state and the store's own invariant check.
#include <map>
#include <random>

#include "conformance/conformance.h"

namespace jobstore::testing {
namespace {

struct ModelJob {
  QueueRef queue;
  std::string params;
  JobState state = JobState::kReady;
  uint32_t attempts = 0;
  int64_t release_at = 0, deadline = 0, abandoned_at = 0;
  bool owns_dedup = false;
  Claim claim;
};

class ModelTest : public Conformance {
 protected:
  void SetUp() override {
    Conformance::SetUp();
    TypeSettings a;
    a.claim_ttl_ms = 100;
    a.max_tries = 2;
    a.retention_ms = 1000;
    ASSERT_TRUE(store_->SetTypeSettings("a", a).ok());
    TypeSettings b;
    b.order = Order::kPriority;
    b.claim_ttl_ms = 50;
    b.max_tries = 3;
    b.retries_allowed = false;
    b.retention_ms = 5000;
    ASSERT_TRUE(store_->SetTypeSettings("b", b).ok());
    settings_ = {{"a", a}, {"b", b}};
  }

  const TypeSettings& SettingsOf(const QueueRef& q) { return settings_.at(q.type); }

  QueueCounts ModelCounts(const QueueRef& q) const {
    QueueCounts c;
    for (const auto& [id, j] : jobs_) {
      if (!(j.queue == q)) continue;
      switch (j.state) {
        case JobState::kReady: ++c.ready; break;
        case JobState::kClaimed: ++c.claimed; break;
        case JobState::kDelayed: ++c.delayed; break;
        case JobState::kAbandoned: ++c.abandoned; break;
      }
    }
    return c;
  }

  void Push(std::mt19937_64& rng) {
    std::vector<JobSpec> batch;
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
      const QueueRef& q = queues_[rng() % queues_.size()];
      JobSpec j = Spec(q.type, "p" + std::to_string(rng() % 6), q.domain);
      j.dedup = rng() % 2;
      j.priority = static_cast<int32_t>(rng() % 3);
      if (rng() % 4 == 0) j.release_at_ms = clock_->NowMs() + 1 + static_cast<int64_t>(rng() % 200);
      batch.push_back(j);
    }
    auto r = store_->Push(batch);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (size_t i = 0; i < batch.size(); ++i) {
      const JobSpec& spec = batch[i];
      const QueueRef q{spec.domain, spec.type};
      // Model of dedup: dropped iff a queued job of the queue holds the same params' entry.
      bool dup = false;
      if (spec.dedup) {
        for (const auto& [id, j] : jobs_) {
          if (j.queue == q && j.params == spec.params && j.owns_dedup &&
              (j.state == JobState::kReady || j.state == JobState::kDelayed)) {
            dup = true;
            EXPECT_EQ(r->ids[i], id);
          }
        }
      }
      ASSERT_EQ(r->duplicate[i], dup) << "spec " << i << " " << spec.params;
      if (dup) continue;
      ModelJob m;
      m.queue = q;
      m.params = spec.params;
      m.owns_dedup = spec.dedup;
      if (spec.release_at_ms > clock_->NowMs()) {
        m.state = JobState::kDelayed;
        m.release_at = spec.release_at_ms;
      }
      ASSERT_TRUE(jobs_.emplace(r->ids[i], m).second) << "id reused";
    }
  }

  void ClaimSome(std::mt19937_64& rng) {
    const QueueRef& q = queues_[rng() % queues_.size()];
    const size_t n = 1 + rng() % 3;
    auto got = ClaimN(q, n);
    const QueueCounts before = ModelCounts(q);
    EXPECT_EQ(got.size(), std::min<uint64_t>(n, before.ready));
    for (auto& c : got) {
      auto it = jobs_.find(c.claim.id);
      ASSERT_NE(it, jobs_.end());
      ModelJob& j = it->second;
      ASSERT_EQ(j.state, JobState::kReady) << "claimed a job that was not ready";
      EXPECT_EQ(c.params, j.params);
      j.state = JobState::kClaimed;
      j.attempts++;
      EXPECT_EQ(c.attempts, j.attempts);
      j.owns_dedup = false;
      j.deadline = c.claim.token.deadline_ms;
      j.claim = c.claim;
    }
  }

  ModelJob* RandomClaimed(std::mt19937_64& rng) {
    std::vector<ModelJob*> claimed;
    for (auto& [id, j] : jobs_) {
      if (j.state == JobState::kClaimed) claimed.push_back(&j);
    }
    return claimed.empty() ? nullptr : claimed[rng() % claimed.size()];
  }

  void AckOne(std::mt19937_64& rng) {
    ModelJob* j = RandomClaimed(rng);
    if (!j) return;
    ASSERT_TRUE(store_->Ack(j->claim).ok());
    const JobId id = j->claim.id;
    EXPECT_TRUE(store_->Ack(j->claim).IsNotFound());
    jobs_.erase(id);
  }

  void ReleaseOne(std::mt19937_64& rng) {
    ModelJob* j = RandomClaimed(rng);
    if (!j) return;
    const bool failed = rng() % 2;
    const int64_t delay = rng() % 2 ? 0 : 1 + static_cast<int64_t>(rng() % 100);
    ASSERT_TRUE(store_->Release(j->claim, delay, failed ? "err" : "").ok());
    const TypeSettings& ts = SettingsOf(j->queue);
    if (failed && (!ts.retries_allowed || j->attempts >= ts.max_tries)) {
      j->state = JobState::kAbandoned;
      j->abandoned_at = clock_->NowMs();
    } else if (delay > 0) {
      j->state = JobState::kDelayed;
      j->release_at = clock_->NowMs() + delay;
    } else {
      j->state = JobState::kReady;
    }
  }

  void TouchOne(std::mt19937_64& rng) {
    ModelJob* j = RandomClaimed(rng);
    if (!j) return;
    auto t = store_->Touch(j->claim, 10 + static_cast<int64_t>(rng() % 100));
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    j->claim.token = *t;
    j->deadline = t->deadline_ms;
  }

  void MaintainAll() {
    auto r = store_->Maintain();
    ASSERT_TRUE(r.ok());
    const int64_t now = clock_->NowMs();
    uint64_t promoted = 0, reclaimed = 0, abandoned = 0, pruned = 0;
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      ModelJob& j = it->second;
      const TypeSettings& ts = SettingsOf(j.queue);
      if (j.state == JobState::kDelayed && j.release_at <= now) {
        j.state = JobState::kReady;
        ++promoted;
      } else if (j.state == JobState::kClaimed && j.deadline < now) {
        if (j.attempts < ts.max_tries) {
          j.state = JobState::kReady;
          ++reclaimed;
        } else {
          j.state = JobState::kAbandoned;
          j.abandoned_at = now;
          ++abandoned;
        }
      } else if (j.state == JobState::kAbandoned && j.abandoned_at < now - ts.retention_ms) {
        it = jobs_.erase(it);
        ++pruned;
        continue;
      }
      ++it;
    }
    EXPECT_EQ(r->promoted, promoted);
    EXPECT_EQ(r->reclaimed, reclaimed);
    EXPECT_EQ(r->abandoned, abandoned);
    EXPECT_EQ(r->pruned, pruned);
  }

  void Repush(std::mt19937_64& rng) {
    const QueueRef& q = queues_[rng() % queues_.size()];
    auto moved = store_->RepushAbandoned(q);
    ASSERT_TRUE(moved.ok());
    uint64_t expect = 0;
    for (auto& [id, j] : jobs_) {
      if (j.queue == q && j.state == JobState::kAbandoned) {
        j.state = JobState::kReady;
        j.attempts = 0;
        ++expect;
      }
    }
    EXPECT_EQ(*moved, expect);
  }

  // ClaimAny takes from any ready queue the filter allows until its batch is full.
  void ClaimAnySome(std::mt19937_64& rng) {
    ReadyFilter filter;
    if (rng() % 2) filter.domain = rng() % 2 ? "" : "wiki2";
    const size_t n = 1 + rng() % 4;
    uint64_t allowed_ready = 0;
    for (const QueueRef& q : queues_) {
      if (!filter.domain || q.domain == *filter.domain) allowed_ready += ModelCounts(q).ready;
    }
    auto got = store_->ClaimAny(filter, n);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->size(), std::min<uint64_t>(n, allowed_ready));
    for (auto& c : *got) {
      auto it = jobs_.find(c.claim.id);
      ASSERT_NE(it, jobs_.end());
      ModelJob& j = it->second;
      ASSERT_TRUE(j.queue == c.claim.queue) << "job " << c.claim.id << " from the wrong queue";
      if (filter.domain) {
        EXPECT_EQ(c.claim.queue.domain, *filter.domain);
      }
      ASSERT_EQ(j.state, JobState::kReady) << "claimed a job that was not ready";
      j.state = JobState::kClaimed;
      j.attempts++;
      EXPECT_EQ(c.attempts, j.attempts);
      j.owns_dedup = false;
      j.deadline = c.claim.token.deadline_ms;
      j.claim = c.claim;
    }
  }

  void DeleteOne(std::mt19937_64& rng) {
    if (jobs_.empty()) return;
    auto it = std::next(jobs_.begin(), static_cast<long>(rng() % jobs_.size()));
    const JobId id = it->first;
    const ModelJob j = it->second;
    ASSERT_TRUE(store_->DeleteJob(j.queue, id).ok());
    jobs_.erase(it);
    EXPECT_TRUE(store_->DeleteJob(j.queue, id).IsNotFound());
    EXPECT_TRUE(store_->Inspect(j.queue, id).status().IsNotFound());
    // A deleted claim's token is gone with it.
    if (j.state == JobState::kClaimed) {
      EXPECT_TRUE(store_->Ack(j.claim).IsNotFound());
    }
  }

  void RetryOne(std::mt19937_64& rng) {
    std::vector<std::pair<JobId, ModelJob*>> abandoned, others;
    for (auto& [id, j] : jobs_) {
      (j.state == JobState::kAbandoned ? abandoned : others).emplace_back(id, &j);
    }
    if (!others.empty()) {
      const auto& [id, j] = others[rng() % others.size()];
      EXPECT_TRUE(store_->RetryJob(j->queue, id).IsInvalidArgument()) << "job " << id;
    }
    if (abandoned.empty()) return;
    const auto& [id, j] = abandoned[rng() % abandoned.size()];
    ASSERT_TRUE(store_->RetryJob(j->queue, id).ok());
    j->state = JobState::kReady;
    j->attempts = 0;
  }

  void ClearOne(std::mt19937_64& rng) {
    const QueueRef& q = queues_[rng() % queues_.size()];
    ASSERT_TRUE(store_->Clear(q).ok());
    std::erase_if(jobs_, [&](const auto& kv) { return kv.second.queue == q; });
  }

  void Compare(bool deep) {
    std::vector<QueueRef> ready;
    for (const QueueRef& q : queues_) {
      const QueueCounts m = ModelCounts(q);
      ASSERT_EQ(CountsOf(q), m) << q.domain << "/" << q.type;
      if (m.ready > 0) ready.push_back(q);
    }
    std::sort(ready.begin(), ready.end(), [](const QueueRef& a, const QueueRef& b) {
      return std::tie(a.domain, a.type) < std::tie(b.domain, b.type);
    });
    ASSERT_EQ(Ready(), ready);
    if (!deep) return;
    ExpectHealthy();
    for (const auto& [id, j] : jobs_) {
      auto info = store_->Inspect(j.queue, id);
      ASSERT_TRUE(info.ok()) << id << ": " << info.status().ToString();
      ASSERT_EQ(info->state, j.state) << "job " << id;
      ASSERT_EQ(info->attempts, j.attempts) << "job " << id;
    }
  }

  std::map<std::string, TypeSettings> settings_;
  std::vector<QueueRef> queues_ = {{"", "a"}, {"", "b"}, {"wiki2", "a"}, {"wiki2", "b"}};
  std::map<JobId, ModelJob> jobs_;
};

TEST_P(ModelTest, RandomOperationsMatchTheModel) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    for (int step = 0; step < 800; ++step) {
      const int op = static_cast<int>(rng() % 100);
      if (op < 28) Push(rng);
      else if (op < 43) ClaimSome(rng);
      else if (op < 48) ClaimAnySome(rng);
      else if (op < 58) AckOne(rng);
      else if (op < 66) ReleaseOne(rng);
      else if (op < 71) TouchOne(rng);
      else if (op < 83) clock_->Advance(1 + static_cast<int64_t>(rng() % 80));
      else if (op < 91) MaintainAll();
      else if (op < 94) Repush(rng);
      else if (op < 96) DeleteOne(rng);
      else if (op < 97) RetryOne(rng);
      else if (op < 98) ClearOne(rng);
      else if (GetParam().persistent) Reopen();  // a medium that keeps nothing starts over
      else MaintainAll();
      if (HasFatalFailure()) return;
      Compare(step % 50 == 0);
      if (HasFatalFailure()) return;
    }
    Compare(true);
  }
}

INSTANTIATE_TEST_SUITE_P(Media, ModelTest, ::testing::ValuesIn(RegisteredMedia()), MediumName);

}  // namespace
}  // namespace jobstore::testing
