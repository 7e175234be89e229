// 4 producers and 4 consumers on several queues: every job acked exactly once, counts zero at
// the end, every invariant holding. Also run under TSan (scripts/test.sh).
#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "conformance/conformance.h"

namespace jobstore::testing {
namespace {

TEST_P(Conformance, FourProducersFourConsumersEveryJobAckedExactlyOnce) {
  constexpr int kProducers = 4, kConsumers = 4, kBatch = 100;
  const int full = std::getenv("JOBSTORE_CONCURRENCY_JOBS")
                       ? std::atoi(std::getenv("JOBSTORE_CONCURRENCY_JOBS"))
                       : 200'000;
  // A multiple of the producers' batches, scaled to the medium's speed.
  const int total = std::max(kProducers * kBatch,
                             static_cast<int>(full * GetParam().load) / (kProducers * kBatch) *
                                 (kProducers * kBatch));
  const std::vector<QueueRef> queues = {{"", "a"}, {"", "b"}, {"w2", "a"}, {"w3", "c"}};
  TypeSettings prio;
  prio.order = Order::kPriority;
  ASSERT_TRUE(store_->SetTypeSettings("c", prio).ok());

  std::atomic<int> produced{0};
  std::atomic<bool> producers_done{false};
  std::mutex seen_mu;
  std::unordered_set<JobId> pushed_ids, acked_ids;
  std::atomic<int> acked{0}, duplicate_acks{0}, errors{0};

  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      const int mine = total / kProducers;
      for (int done = 0; done < mine; done += kBatch) {
        std::vector<JobSpec> batch;
        for (int i = 0; i < kBatch && done + i < mine; ++i) {
          const QueueRef& q = queues[(p + i) % queues.size()];
          JobSpec j;
          j.type = q.type;
          j.domain = q.domain;
          j.params = std::to_string(p) + ":" + std::to_string(done + i);
          j.priority = i % 3;
          batch.push_back(std::move(j));
        }
        auto r = store_->Push(batch);
        if (!r.ok()) {
          ++errors;
          continue;
        }
        std::lock_guard<std::mutex> l(seen_mu);
        for (JobId id : r->ids) {
          if (!pushed_ids.insert(id).second) ++errors;
        }
        produced += static_cast<int>(batch.size());
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      size_t turn = c;
      while (true) {
        const QueueRef& q = queues[turn++ % queues.size()];
        auto jobs = store_->Claim(q, (turn % 2) ? 1 : 16);
        if (!jobs.ok()) {
          ++errors;
          continue;
        }
        if (jobs->empty()) {
          if (producers_done.load() && acked.load() == produced.load()) break;
          continue;
        }
        std::vector<Claim> claims;
        for (auto& j : *jobs) claims.push_back(j.claim);
        auto acks = store_->AckMany(claims);
        if (!acks.ok()) {
          ++errors;
          continue;
        }
        const std::vector<Status>& statuses = *acks;
        std::lock_guard<std::mutex> l(seen_mu);
        for (size_t i = 0; i < claims.size(); ++i) {
          if (!statuses[i].ok()) {
            ++errors;
            continue;
          }
          if (!acked_ids.insert(claims[i].id).second) ++duplicate_acks;
          ++acked;
        }
      }
    });
  }
  for (int p = 0; p < kProducers; ++p) threads[p].join();
  producers_done = true;
  for (size_t t = kProducers; t < threads.size(); ++t) threads[t].join();

  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(duplicate_acks.load(), 0);
  EXPECT_EQ(produced.load(), total);
  EXPECT_EQ(acked.load(), total);
  EXPECT_EQ(pushed_ids, acked_ids);
  for (const auto& q : queues) EXPECT_EQ(CountsOf(q), C(0, 0, 0, 0)) << q.domain << "/" << q.type;
  EXPECT_TRUE(Ready().empty());
  ExpectHealthy();
  if (!GetParam().persistent) return;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  for (const auto& q : queues) EXPECT_EQ(CountsOf(q), C(0, 0, 0, 0));
  ExpectHealthy();
}

TEST_P(Conformance, ReclaimRacesAckWithoutLosingOrDoublingJobs) {
  // Claims with a 1 ms TTL, a thread advancing time and running maintenance, and workers
  // acking: each job ends acked exactly once or still in the store, never both, never twice.
  TypeSettings ts;
  ts.claim_ttl_ms = 1;
  ts.max_tries = 1000;
  ASSERT_TRUE(store_->SetTypeSettings("r", ts).ok());
  const QueueRef q{"", "r"};
  const int kJobs = std::max(500, static_cast<int>(3000 * GetParam().load) / 500 * 500);
  std::vector<JobSpec> specs;
  for (int i = 0; i < kJobs; ++i) specs.push_back(Spec("r", std::to_string(i)));
  for (size_t i = 0; i < specs.size(); i += 500) {
    PushAll(std::vector<JobSpec>(specs.begin() + i, specs.begin() + i + 500));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0}, stale{0}, errors{0};
  std::mutex mu;
  std::unordered_set<JobId> acked_ids;
  std::thread reclaimer([&] {
    while (!stop.load()) {
      clock_->Advance(2);
      auto r = store_->Maintain();
      if (!r.ok()) ++errors;
    }
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&] {
      while (acked.load() < kJobs) {
        auto jobs = store_->Claim(q, 4);
        if (!jobs.ok()) {
          ++errors;
          continue;
        }
        for (auto& j : *jobs) {
          Status s = store_->Ack(j.claim);
          if (s.ok()) {
            std::lock_guard<std::mutex> l(mu);
            if (!acked_ids.insert(j.claim.id).second) ++errors;
            ++acked;
          } else if (s.IsStaleToken() || s.IsNotFound()) {
            ++stale;
          } else {
            ++errors;
          }
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  stop = true;
  reclaimer.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(acked.load(), kJobs);
  EXPECT_EQ(CountsOf(q), C(0, 0, 0, 0));
  ExpectHealthy();
}

}  // namespace
}  // namespace jobstore::testing
