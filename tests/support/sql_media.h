// The SQL media for tests: SQLite in a scratch file, and PostgreSQL in a fresh schema of one
// server per test process (started on first use, stopped at exit). Each instance can also run
// raw SQL on its store, for tests that tamper with rows or the schema.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "conformance/conformance.h"
#include "support/postgres_server.h"
#include "support/temp_dir.h"

namespace jobstore::testing {

// A store of a SQL medium, and a way to reach its tables behind its back.
class SqlInstance : public MediumInstance {
 public:
  virtual std::string address() const = 0;
  Result<std::unique_ptr<Store>> Open(const Options& options) override {
    return Store::Open(address(), options);
  }
  // Runs `sql` (statements without results) on the store's database.
  virtual Status Exec(const std::string& sql) = 0;
};

class SqliteInstance final : public SqlInstance {
 public:
  explicit SqliteInstance(std::string path) : path_(std::move(path)) {}
  std::string address() const override { return "sqlite:" + path_; }
  Status Exec(const std::string& sql) override {
    sqlite3* db = nullptr;
    if (sqlite3_open(path_.c_str(), &db) != SQLITE_OK) {
      sqlite3_close(db);
      return Status::IOError("cannot open " + path_);
    }
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string msg = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    return rc == SQLITE_OK ? Status::OK() : Status::IOError("'" + sql + "': " + msg);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The process's PostgreSQL server, started on first use; its directory is removed at exit.
inline PostgresServer& SharedPostgres() {
  struct Holder {
    TempDir dir;
    std::unique_ptr<PostgresServer> server;
    ~Holder() { server.reset(); }  // stop before the directory goes
  };
  static Holder* holder = [] {
    auto* h = new Holder;
    h->server = std::make_unique<PostgresServer>(h->dir.Sub("pg"), PostgresServer::Config{});
    Status s = h->server->Start();
    if (!s.ok()) {
      std::fprintf(stderr, "cannot start the test PostgreSQL: %s\n", s.ToString().c_str());
      std::abort();
    }
    static std::unique_ptr<Holder> owner(h);  // destroyed at exit
    return h;
  }();
  return *holder->server;
}

class PostgresInstance final : public SqlInstance {
 public:
  // A fresh schema in `server` (the shared one when null).
  explicit PostgresInstance(PostgresServer* server = nullptr)
      : server_(server ? server : &SharedPostgres()) {
    static std::atomic<int> next{0};
    schema_ = "t" + std::to_string(::getpid()) + "_" + std::to_string(next++);
    Status s = server_->Sql("CREATE SCHEMA " + schema_);
    if (!s.ok()) ADD_FAILURE() << s.ToString();
  }
  std::string address() const override { return server_->Url(schema_); }
  Status Exec(const std::string& sql) override {
    return server_->Sql("SET search_path TO " + schema_ + "; " + sql);
  }
  const std::string& schema() const { return schema_; }

 private:
  PostgresServer* server_;
  std::string schema_;
};

// A transaction per call (and, on PostgreSQL, a round trip per statement) makes the SQL media
// slower than RocksDB: the stress tests run a tenth of the volume on them.
inline Medium SqliteMedium() {
  return {.name = "Sqlite",
          .persistent = true,
          .make = [](const std::string& dir) -> std::unique_ptr<MediumInstance> {
            return std::make_unique<SqliteInstance>(dir + "/jobs.db");
          },
          .load = 0.1};
}

inline Medium PostgresMedium() {
  return {.name = "Postgres",
          .persistent = true,
          .make = [](const std::string&) -> std::unique_ptr<MediumInstance> {
            return std::make_unique<PostgresInstance>();
          },
          .load = 0.1};
}

}  // namespace jobstore::testing
