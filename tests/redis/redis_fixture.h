// The fixture of the Redis medium's tests: a redis-server of the test's own, a manual clock,
// stores opened by prefix, and a raw connection to look at the keys.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "jobstore/store.h"
#include "support/redis_server.h"
#include "support/temp_dir.h"

namespace jobstore::testing {

class RedisTest : public ::testing::Test {
 protected:
  // The server's persistence; a test class overrides it.
  virtual RedisConfig Config() const { return {}; }

  void SetUp() override {
    server_ = std::make_unique<RedisServer>(dir_.Sub("redis"), Config());
    ASSERT_TRUE(server_->Start()) << server_->error();
    clock_ = std::make_shared<ManualClock>(1'700'000'000'000);
    options_.clock = clock_;
    options_.durability = Durability::kProcessCrash;
  }
  void TearDown() override { server_.reset(); }

  std::unique_ptr<Store> Open(const std::string& prefix = "t", int db = 0) {
    return OpenAt(server_->Address(prefix, db));
  }
  std::unique_ptr<Store> OpenAt(const std::string& address) {
    auto s = Store::Open(address, options_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  static JobSpec Spec(const std::string& type, const std::string& params,
                      const std::string& domain = "") {
    JobSpec j;
    j.type = type;
    j.domain = domain;
    j.params = params;
    return j;
  }

  static std::vector<JobId> PushAll(Store& store, const std::vector<JobSpec>& specs) {
    auto r = store.Push(specs);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->ids : std::vector<JobId>{};
  }

  static std::vector<ClaimedJob> ClaimN(Store& store, const QueueRef& q, size_t n,
                                        std::optional<int64_t> ttl = {}) {
    auto r = store.Claim(q, n, ttl);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : std::vector<ClaimedJob>{};
  }

  static QueueCounts CountsOf(Store& store, const QueueRef& q) {
    auto r = store.Counts(q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : QueueCounts{};
  }

  static std::vector<std::string> Violations(Store& store) {
    auto r = store.Check();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<std::string>{"check failed"};
  }

  static void ExpectHealthy(Store& store) {
    for (const std::string& line : Violations(store)) ADD_FAILURE() << line;
  }

  static QueueCounts C(uint64_t ready, uint64_t claimed, uint64_t delayed, uint64_t abandoned) {
    return {ready, claimed, delayed, abandoned};
  }

  // A raw connection to the server (a new one each call: the server may have restarted).
  std::unique_ptr<RawRedis> Raw() const {
    auto raw = std::make_unique<RawRedis>(server_->socket());
    EXPECT_TRUE(raw->ok());
    return raw;
  }

  TempDir dir_;
  std::unique_ptr<RedisServer> server_;
  std::shared_ptr<ManualClock> clock_;
  Options options_;
};

inline void PrintTo(const QueueCounts& c, std::ostream* os) {
  *os << "{ready " << c.ready << ", claimed " << c.claimed << ", delayed " << c.delayed
      << ", abandoned " << c.abandoned << "}";
}

}  // namespace jobstore::testing

namespace jobstore {
inline void PrintTo(const QueueCounts& c, std::ostream* os) { testing::PrintTo(c, os); }
}  // namespace jobstore
