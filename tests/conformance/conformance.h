// The conformance suite: the contract (jobstore/store.h) as tests, run on every storage medium.
//
// A medium joins with one file in media/ that registers a Medium (how to make a fresh store of
// it, whether a reopen keeps what was stored):
//
//   const RegisterMedium kMemory({.name = "Memory", .persistent = false, .make = ...});
//
// and one line in tests/conformance/CMakeLists.txt (jobstore_add_conformance(memory
// media/memory.cc)), which makes a test binary of the whole suite on that medium. Suites:
// Conformance (every medium), DurableConformance (persistent media: a reopen sees what was
// stored). Tests use the helpers below; time comes from the manual clock, which every medium
// takes "now" from, so no test sleeps.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jobstore/store.h"
#include "support/temp_dir.h"

namespace jobstore::testing {

// One store of a medium under test. Open may be called again (after the last store it returned
// was destroyed) to reopen the same store: a persistent medium then sees what was stored.
class MediumInstance {
 public:
  virtual ~MediumInstance() = default;
  virtual Result<std::unique_ptr<Store>> Open(const Options& options) = 0;
};

struct Medium {
  std::string name;         // the instantiation's name: "RocksDb", "Memory", "Redis", ...
  bool persistent = false;  // a reopen keeps what was stored (DurableConformance runs)
  // A fresh, empty store of the medium, with `scratch_dir` (created, removed after the test)
  // for whatever files it needs.
  std::function<std::unique_ptr<MediumInstance>(const std::string& scratch_dir)> make;
  // The share of the stress tests' volume this medium runs (a network round trip per call
  // makes a remote medium slower than an embedded one; the interleavings stay the same).
  double load = 1.0;
  // The store's policy layer runs in this process, so Options::observer is told its
  // transitions (the Observed suite runs). False for a client of a store served by another
  // process: the owner's observer is told what every client does.
  bool policy_here = true;
};

inline std::string MediumName(const ::testing::TestParamInfo<Medium>& info) {
  return info.param.name;
}
inline void PrintTo(const Medium& m, std::ostream* os) { *os << m.name; }

// The media of this test binary (registered at static initialisation, instantiated after).
inline std::vector<Medium>& RegisteredMedia() {
  static std::vector<Medium> media;
  return media;
}
inline std::vector<Medium> PersistentMedia() {
  std::vector<Medium> out;
  for (const Medium& m : RegisteredMedia()) {
    if (m.persistent) out.push_back(m);
  }
  return out;
}
inline std::vector<Medium> ObservedMedia() {
  std::vector<Medium> out;
  for (const Medium& m : RegisteredMedia()) {
    if (m.policy_here) out.push_back(m);
  }
  return out;
}
struct RegisterMedium {
  explicit RegisterMedium(Medium m) { RegisteredMedia().push_back(std::move(m)); }
};

// A MediumInstance that opens one address.
class AddressInstance : public MediumInstance {
 public:
  explicit AddressInstance(std::string address) : address_(std::move(address)) {}
  Result<std::unique_ptr<Store>> Open(const Options& options) override {
    return Store::Open(address_, options);
  }

 private:
  std::string address_;
};

// The fixture of every conformance test: a fresh store of the medium, a manual clock.
class Conformance : public ::testing::TestWithParam<Medium> {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<ManualClock>(1'700'000'000'000);
    options_.clock = clock_;
    options_.durability = Durability::kProcessCrash;
    instance_ = GetParam().make(dir_.path());
    ASSERT_TRUE(instance_ != nullptr);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    instance_.reset();
  }

  // Closes the store and opens it again with options_ (on a medium that is not persistent,
  // the new store is empty).
  void Reopen() {
    store_.reset();
    auto s = instance_->Open(options_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
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
    return r.ok() ? std::move(r).value() : std::vector<ClaimedJob>{};
  }

  QueueCounts CountsOf(const QueueRef& q) {
    auto r = store_->Counts(q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : QueueCounts{};
  }

  std::vector<QueueRef> Ready() {
    auto r = store_->ReadyQueues();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<QueueRef>{};
  }

  std::optional<QueueRef> Pick(const ReadyFilter& filter = {}) {
    auto r = store_->PickReadyQueue(filter);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::nullopt;
  }

  std::vector<QueueStats> QueuesOf() {
    auto r = store_->Queues();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<QueueStats>{};
  }

  std::vector<JobInfo> ListAll(const QueueRef& q, JobState state) {
    std::vector<JobInfo> out;
    std::string cursor;
    do {
      auto page = store_->List(q, state, cursor, 1000);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      for (JobInfo& j : page->jobs) out.push_back(std::move(j));
      cursor = page->next_cursor;
    } while (!cursor.empty());
    return out;
  }

  void ExpectOk(const Status& s) { EXPECT_TRUE(s.ok()) << s.ToString(); }

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
  std::unique_ptr<MediumInstance> instance_;
  std::unique_ptr<Store> store_;
};

// The tests that reopen the store and expect what was stored: persistent media only.
class DurableConformance : public Conformance {};

inline void PrintTo(const QueueCounts& c, std::ostream* os) {
  *os << "{ready " << c.ready << ", claimed " << c.claimed << ", delayed " << c.delayed
      << ", abandoned " << c.abandoned << "}";
}

inline void PrintTo(const QueueRef& q, std::ostream* os) {
  *os << "{domain '" << q.domain << "', type '" << q.type << "'}";
}

}  // namespace jobstore::testing

namespace jobstore {
inline void PrintTo(const QueueCounts& c, std::ostream* os) { testing::PrintTo(c, os); }
inline void PrintTo(const QueueRef& q, std::ostream* os) { testing::PrintTo(q, os); }
}  // namespace jobstore
