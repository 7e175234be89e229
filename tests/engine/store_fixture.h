// A store on a temp directory with a manual clock, reopenable within a test.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "jobstore/store.h"
#include "support/temp_dir.h"

namespace jobstore::testing {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<ManualClock>(1'700'000'000'000);
    options_.clock = clock_;
    options_.durability = Durability::kProcessCrash;
    Reopen();
  }

  void Reopen() {
    store_.reset();
    auto s = Store::Open(dir_.Sub("store"), options_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s.value());
  }

  static JobSpec Spec(const std::string& type, const std::string& params,
                      const std::string& domain = "") {
    JobSpec j;
    j.type = type;
    j.domain = domain;
    j.params = params;
    return j;
  }

  std::vector<JobId> PushAll(const std::vector<JobSpec>& specs) {
    auto r = store_->Push(specs);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->ids : std::vector<JobId>{};
  }

  JobId Push1(const std::string& type, const std::string& params, const std::string& domain = "") {
    auto ids = PushAll({Spec(type, params, domain)});
    return ids.empty() ? 0 : ids[0];
  }

  std::vector<ClaimedJob> ClaimN(const QueueRef& q, size_t n, std::optional<int64_t> ttl = {}) {
    auto r = store_->Claim(q, n, ttl);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r.value()) : std::vector<ClaimedJob>{};
  }

  QueueCounts CountsOf(const QueueRef& q) {
    auto r = store_->Counts(q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : QueueCounts{};
  }

  void ExpectHealthy() {
    auto v = store_->Check();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    for (const auto& line : *v) ADD_FAILURE() << line;
  }

  MaintenanceReport MaintainOnce() {
    auto r = store_->Maintain();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : MaintenanceReport{};
  }

  static QueueCounts C(uint64_t ready, uint64_t claimed, uint64_t delayed, uint64_t abandoned) {
    return {ready, claimed, delayed, abandoned};
  }

  TempDir dir_;
  std::shared_ptr<ManualClock> clock_;
  Options options_;
  std::unique_ptr<Store> store_;
};

inline void PrintTo(const QueueCounts& c, std::ostream* os) {
  *os << "{ready " << c.ready << ", claimed " << c.claimed << ", delayed " << c.delayed
      << ", abandoned " << c.abandoned << "}";
}

}  // namespace jobstore::testing

namespace jobstore {
inline void PrintTo(const QueueCounts& c, std::ostream* os) { testing::PrintTo(c, os); }
}  // namespace jobstore
