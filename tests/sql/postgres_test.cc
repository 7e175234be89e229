// PostgreSQL under load and under failure: many claimers over few connections, a SIGKILLed
// server mid-stream, connection loss and reconnection, a COMMIT whose outcome is unknown; and
// a config routing types to RocksDB, SQLite and PostgreSQL at once, drained by the runner.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "jobstore/config.h"
#include "jobstore/registry.h"
#include "jobstore/runner.h"
#include "postgres_connection.h"
#include "sql_store.h"
#include "support/sql_media.h"

namespace jobstore::testing {
namespace {

using sql::NewPostgresDatabase;
using sql::OpenSql;

Options TestOptions(std::shared_ptr<Clock> clock = nullptr) {
  Options o;
  o.clock = clock ? clock : std::make_shared<ManualClock>();
  return o;
}

// A store over `url` with at most `connections` connections.
std::unique_ptr<Store> OpenWithPool(const std::string& url, size_t connections,
                                    const Options& options) {
  auto db = NewPostgresDatabase(url, options);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) return nullptr;
  auto s = OpenSql(std::move(db).value(), options, connections);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

// 8 threads over 2 stores (two machines, as far as the server can tell) of 2 connections each:
// 4 threads share a store's 2 connections, so threads queue for connections while the claims
// of the two stores meet in the table. A producer pushes while they drain; every job is acked
// exactly once, and the counts end at zero.
TEST(PostgresTest, EightThreadsOverTwoStoresOfTwoConnectionsAckEveryJobOnce) {
#ifdef JOBSTORE_SANITIZED
  constexpr int kJobs = 4'000;
#else
  constexpr int kJobs = 20'000;
#endif
  constexpr int kBatch = 250;
  PostgresInstance db;
  const Options options = TestOptions();
  std::unique_ptr<Store> stores[2] = {OpenWithPool(db.address(), 2, options),
                                      OpenWithPool(db.address(), 2, options)};
  ASSERT_TRUE(stores[0] && stores[1]);
  const QueueRef q{"", "work"};
  std::mutex mu;
  std::set<JobId> pushed;
  std::map<JobId, int> acked;
  std::atomic<bool> pushing{true};
  std::atomic<int> errors{0};
  std::thread producer([&] {
    for (int done = 0; done < kJobs; done += kBatch) {
      std::vector<JobSpec> batch;
      for (int i = 0; i < kBatch; ++i) {
        batch.push_back({.type = "work", .params = std::to_string(done + i)});
      }
      auto r = stores[done / kBatch % 2]->Push(batch);
      if (!r.ok()) {
        ADD_FAILURE() << r.status().ToString();
        ++errors;
        continue;
      }
      std::lock_guard<std::mutex> l(mu);
      pushed.insert(r->ids.begin(), r->ids.end());
    }
    pushing = false;
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < 8; ++t) {
    workers.emplace_back([&, t] {
      Store& s = *stores[t % 2];
      std::mt19937 rng(t);
      for (;;) {
        const bool more_coming = pushing.load();
        auto epoch = s.ReadyEpoch();
        if (!epoch.ok()) {
          ADD_FAILURE() << epoch.status().ToString();
          ++errors;
          return;
        }
        auto got = s.Claim(q, 1 + rng() % 8);
        if (!got.ok()) {
          ADD_FAILURE() << got.status().ToString();
          ++errors;
          return;
        }
        if (got->empty()) {
          if (!more_coming) return;
          // Idle workers wait for a push (NOTIFY) instead of polling the server.
          if (!s.WaitForReady(*epoch, 100).ok()) ++errors;
          continue;
        }
        std::vector<jobstore::Claim> claims;
        for (auto& c : *got) claims.push_back(c.claim);
        auto done = s.AckMany(claims);
        if (!done.ok()) {
          ++errors;
          return;
        }
        std::lock_guard<std::mutex> l(mu);
        for (size_t i = 0; i < claims.size(); ++i) {
          if (!(*done)[i].ok()) ++errors;
          ++acked[claims[i].id];
        }
      }
    });
  }
  producer.join();
  for (auto& w : workers) w.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(pushed.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(acked.size(), static_cast<size_t>(kJobs));
  for (const auto& [id, times] : acked) {
    ASSERT_EQ(times, 1) << "job " << id;
    ASSERT_TRUE(pushed.count(id)) << "job " << id;
  }
  auto counts = stores[0]->Counts(q);
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->total(), 0u);
  auto check = stores[1]->Check();
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->empty()) << (*check)[0];
}

// The server is SIGKILLed (postmaster and every backend) while producers push and a worker
// claims and acks; it restarts with fsync on. Every push that returned OK is there, or was
// acked by the worker; the store is healthy; it reconnects by itself.
TEST(PostgresTest, KillNineMidStreamKeepsEveryAcknowledgedPush) {
  TempDir dir;
  PostgresServer server(dir.Sub("pg"), {.fsync = true});
  ASSERT_TRUE(server.Start().ok());
  ASSERT_TRUE(server.Sql("CREATE SCHEMA crash").ok());
  const Options options = TestOptions();
  auto opened = Store::Open(server.Url("crash"), options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Store> store = std::move(opened).value();
  const QueueRef q{"", "work"};

  std::mutex mu;
  std::set<JobId> acknowledged, acked;
  std::atomic<int> unknown{0}, other_errors{0}, ok_pushes{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int p = 0; p < 3; ++p) {
    threads.emplace_back([&, p] {
      for (int n = 0; !stop; ++n) {
        std::vector<JobSpec> batch;
        for (int i = 0; i < 10; ++i) {
          batch.push_back({.type = "work", .params = std::to_string(p) + ":" + std::to_string(n)});
        }
        auto r = store->Push(batch);
        if (r.ok()) {
          ++ok_pushes;
          std::lock_guard<std::mutex> l(mu);
          acknowledged.insert(r->ids.begin(), r->ids.end());
        } else if (r.status().IsTransient()) {
          if (r.status().message().find("may or may not") != std::string::npos) ++unknown;
        } else {
          ++other_errors;
        }
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop) {
      auto got = store->Claim(q, 5);
      if (!got.ok() || got->empty()) continue;
      for (auto& c : *got) {
        if (store->Ack(c.claim).ok()) {
          std::lock_guard<std::mutex> l(mu);
          acked.insert(c.claim.id);
        }
      }
    }
  });
  // Mid-stream: once a good number of pushes have been acknowledged.
  while (ok_pushes.load() < 150) std::this_thread::yield();
  server.Kill9();
  const int before_restart = ok_pushes.load();
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  // Back: the pool reconnects after its backoff, and pushes are acknowledged again.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ok_pushes.load() < before_restart + 50 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::yield();
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(other_errors.load(), 0);
  EXPECT_GE(ok_pushes.load(), before_restart + 50) << "the store did not reconnect";

  for (JobId id : acknowledged) {
    if (acked.count(id)) continue;
    auto info = store->Inspect(q, id);
    ASSERT_TRUE(info.ok()) << "acknowledged job " << id << " is gone: " << info.status().ToString();
  }
  auto check = store->Check();
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_TRUE(check->empty()) << (*check)[0];
  std::printf("acknowledged %zu jobs, acked %zu, %d pushes of unknown outcome\n",
              acknowledged.size(), acked.size(), unknown.load());
}

// Wraps a real connection, killing the server just as COMMIT is sent.
class KillAtCommit final : public sql::SqlConnection {
 public:
  KillAtCommit(std::unique_ptr<sql::SqlConnection> c, PostgresServer* server, std::atomic<bool>* armed)
      : SqlConnection(c->slot()), c_(std::move(c)), server_(server), armed_(armed) {}
  const sql::SqlDialect& dialect() const override { return c_->dialect(); }
  Status Begin(sql::TxKind k) override { return c_->Begin(k); }
  Status Commit(std::string_view trailing) override {
    if (armed_->exchange(false)) server_->Kill9();
    return c_->Commit(trailing);
  }
  void Rollback() override { c_->Rollback(); }
  Result<sql::SqlRows> Query(std::string_view sql, std::span<const sql::SqlParam> p) override {
    return c_->Query(sql, p);
  }
  Status Exec(std::string_view sql) override { return c_->Exec(sql); }
  bool broken() const override { return c_->broken(); }

 private:
  std::unique_ptr<sql::SqlConnection> c_;
  PostgresServer* server_;
  std::atomic<bool>* armed_;
};

class KillAtCommitDatabase final : public sql::SqlDatabase {
 public:
  KillAtCommitDatabase(std::unique_ptr<sql::SqlDatabase> db, PostgresServer* server,
                       std::atomic<bool>* armed)
      : db_(std::move(db)), server_(server), armed_(armed) {}
  const sql::SqlDialect& dialect() const override { return db_->dialect(); }
  Result<std::unique_ptr<sql::SqlConnection>> Connect() override {
    auto c = db_->Connect();
    if (!c.ok()) return c.status();
    return std::unique_ptr<sql::SqlConnection>(
        std::make_unique<KillAtCommit>(std::move(c).value(), server_, armed_));
  }
  Result<std::unique_ptr<sql::ChangeWatcher>> Watch() override { return db_->Watch(); }
  std::string Describe() const override { return db_->Describe(); }

 private:
  std::unique_ptr<sql::SqlDatabase> db_;
  PostgresServer* server_;
  std::atomic<bool>* armed_;
};

// Connection loss: calls fail with Unavailable (never hang, never report success) while the
// server is down; a COMMIT cut off is reported as of unknown outcome; once the server is back
// the same store works again without being reopened.
TEST(PostgresTest, ConnectionLossIsUnavailableThenReconnects) {
  TempDir dir;
  PostgresServer server(dir.Sub("pg"), {});
  ASSERT_TRUE(server.Start().ok());
  const Options options = TestOptions();
  std::atomic<bool> armed{false};
  auto pg = NewPostgresDatabase(server.Url(), options);
  ASSERT_TRUE(pg.ok());
  auto opened = OpenSql(std::make_unique<KillAtCommitDatabase>(std::move(pg).value(), &server, &armed),
                        options, 2);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  const QueueRef q{"", "work"};
  ASSERT_TRUE(store.Push({{.type = "work", .params = "before"}}).ok());

  armed = true;
  auto cut = store.Push({{.type = "work", .params = "cut"}});
  ASSERT_FALSE(cut.ok());
  EXPECT_TRUE(cut.status().IsUnavailable()) << cut.status().ToString();
  EXPECT_NE(cut.status().message().find("may or may not have committed"), std::string::npos)
      << cut.status().ToString();
  EXPECT_EQ(cut.status().message().find("password"), std::string::npos);

  // Down: every call is Unavailable, promptly.
  const auto start = std::chrono::steady_clock::now();
  auto down = store.Push({{.type = "work", .params = "down"}});
  EXPECT_TRUE(down.status().IsUnavailable()) << down.status().ToString();
  EXPECT_TRUE(store.Counts(q).status().IsUnavailable());
  EXPECT_TRUE(store.Claim(q, 1).status().IsUnavailable());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));

  ASSERT_TRUE(server.Start().ok());
  Result<PushResult> back = Status::Unavailable("not tried");
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!back.ok() && std::chrono::steady_clock::now() < give_up) {
    back = store.Push({{.type = "work", .params = "after"}});
    if (!back.ok()) {
      EXPECT_TRUE(back.status().IsUnavailable()) << back.status().ToString();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the pool's backoff
    }
  }
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  auto counts = store.Counts(q);
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->ready, 2u);  // "before" and "after"; the cut push never reached COMMIT
  auto check = store.Check();
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->empty());
}

TEST(PostgresTest, BadAddressesAreRefusedWithoutSecrets) {
  auto bad = Store::Open("postgresql://user:hunter2@/db?nosuchoption=1", TestOptions());
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalidArgument()) << bad.status().ToString();
  EXPECT_EQ(bad.status().message().find("hunter2"), std::string::npos) << bad.status().ToString();
  TempDir dir;
  auto nobody = Store::Open("postgresql://jobstore:hunter2@/postgres?host=" + dir.path() +
                                "&connect_timeout=2",
                            TestOptions());
  ASSERT_FALSE(nobody.ok());
  EXPECT_TRUE(nobody.status().IsUnavailable()) << nobody.status().ToString();
  EXPECT_EQ(nobody.status().message().find("hunter2"), std::string::npos);
}

class CountingJob : public Job {
 public:
  explicit CountingJob(std::atomic<int>* runs) : runs_(runs) {}
  Status Run(JobContext&) override {
    ++*runs_;
    return Status::OK();
  }

 private:
  std::atomic<int>* runs_;
};

// A config with types on RocksDB, SQLite and PostgreSQL at once: pushes go to each type's
// medium, and one runner drains them all through the routed store.
TEST(PostgresTest, RoutingOverRocksDbSqliteAndPostgresTheRunnerDrainsAll) {
  TempDir dir;
  PostgresInstance pg;
  const std::string json = R"({"backends": {"rocks": ")" + dir.Sub("rocks") +
                           R"(", "lite": "sqlite:)" + dir.Sub("jobs.db") + R"(", "pg": ")" +
                           pg.address() +
                           R"("}, "types": {"default": "rocks", "mail": "lite", "index": "pg"}})";
  auto config = StoreConfig::Parse(json, "test config");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto opened = OpenConfig(*config, TestOptions(SystemClock()));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  std::vector<JobSpec> specs;
  const char* types[] = {"mail", "index", "thumb"};
  for (int i = 0; i < 90; ++i) specs.push_back({.type = types[i % 3], .params = std::to_string(i)});
  ASSERT_TRUE(store.Push(specs).ok());
  auto queues = store.Queues();
  ASSERT_TRUE(queues.ok());
  std::map<std::string, std::string> backend_of;
  for (const QueueStats& s : *queues) {
    backend_of[s.queue.type] = s.backend;
    EXPECT_EQ(s.counts.ready, 30u) << s.queue.type;
  }
  EXPECT_EQ(backend_of, (std::map<std::string, std::string>{
                            {"index", "pg"}, {"mail", "lite"}, {"thumb", "rocks"}}));
  std::atomic<int> runs[3] = {0, 0, 0};
  JobRegistry registry;
  for (int t = 0; t < 3; ++t) {
    ASSERT_TRUE(registry.Register(types[t], [&runs, t](const ClaimedJob&) -> Result<std::unique_ptr<Job>> {
      return std::unique_ptr<Job>(std::make_unique<CountingJob>(&runs[t]));
    }).ok());
  }
  RunnerOptions ro;
  ro.threads = 3;
  RunReport report = Runner(&store, &registry, ro).Run();
  EXPECT_EQ(report.reason, StopReason::kNoneReady) << report.status.ToString();
  EXPECT_EQ(report.succeeded, 90u);
  for (auto& r : runs) EXPECT_EQ(r.load(), 30);
  queues = store.Queues();
  ASSERT_TRUE(queues.ok());
  for (const QueueStats& s : *queues) EXPECT_EQ(s.counts.total(), 0u) << s.queue.type;
  auto check = store.Check();
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->empty());
}

}  // namespace
}  // namespace jobstore::testing
