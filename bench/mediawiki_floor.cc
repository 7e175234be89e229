#include "mediawiki_floor.h"

#include <libpq-fe.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>
#include <vector>

#include "jobstore/address.h"

namespace jobstore::bench {
namespace {

constexpr const char* kType = "floorJob";

// MediaWiki's job_sha1: SHA-1 of the dedup info (here the params), 32 characters.
std::string Sha1Of(const std::string& params) {
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(params.data()), params.size(), d);
  char hex[41];
  for (int i = 0; i < SHA_DIGEST_LENGTH; ++i) std::snprintf(hex + 2 * i, 3, "%02x", d[i]);
  return std::string(hex, 32);
}

// TS_MW: 14 digits, YYYYMMDDHHMMSS.
std::string MwTimestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm;
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

std::string Token() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

uint32_t JobRandom() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return rng() & 0x7fffffff;  // MAX_JOB_RANDOM
}

// A pool of connections of type C: each worker borrows one for an operation.
template <typename C>
class Connections {
 public:
  template <typename Make>
  Status Borrow(Make make, std::unique_ptr<C>* out) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!idle_.empty()) {
        *out = std::move(idle_.back());
        idle_.pop_back();
        return Status::OK();
      }
    }
    return make(out);
  }
  void Return(std::unique_ptr<C> c) {
    std::lock_guard<std::mutex> l(mu_);
    idle_.push_back(std::move(c));
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<C>> idle_;
};

// --- SQLite -------------------------------------------------------------------------------

struct Lite {
  sqlite3* db = nullptr;
  sqlite3_stmt *select = nullptr, *claim = nullptr, *ack = nullptr;
  ~Lite() {
    sqlite3_finalize(select);
    sqlite3_finalize(claim);
    sqlite3_finalize(ack);
    sqlite3_close_v2(db);
  }
};

// Busy past the busy timeout, or refused at once to break a lock cycle (a reader that wants to
// write while another writer waits for it): the statement rolled back and is run again.
bool Busy(int rc) { return rc == SQLITE_BUSY || rc == SQLITE_LOCKED; }

Status LiteError(sqlite3* db, const char* what) {
  return Status::IOError(std::string("mediawiki floor (sqlite) ") + what + ": " + sqlite3_errmsg(db));
}

class SqliteFloor final : public Floor {
 public:
  explicit SqliteFloor(std::string path) : path_(std::move(path)) {}

  // Creates the table, and the connections up front (as each MediaWiki process has its own):
  // preparing statements needs the schema, which a busy database withholds.
  Status Init(int connections) {
    std::remove(path_.c_str());
    std::vector<std::unique_ptr<Lite>> made(static_cast<size_t>(connections));
    for (int i = 0; i < connections; ++i) {
      Status s = Make(&made[static_cast<size_t>(i)], i == 0);
      if (!s.ok()) return s;
    }
    for (auto& c : made) pool_.Return(std::move(c));
    return Status::OK();
  }

  Status Push(const std::vector<std::string>& payloads, std::vector<uint64_t>* ids) override {
    std::unique_ptr<Lite> c;
    Status s = pool_.Borrow([&](std::unique_ptr<Lite>* o) { return Make(o, false); }, &c);
    if (!s.ok()) return s;
    std::string sql =
        "INSERT INTO job (job_cmd, job_namespace, job_title, job_timestamp, job_params, "
        "job_random, job_attempts, job_token, job_token_timestamp, job_sha1) VALUES ";
    for (size_t i = 0; i < payloads.size(); ++i) sql += i ? ", (?, -1, '', ?, ?, ?, 0, '', NULL, ?)" : "(?, -1, '', ?, ?, ?, 0, '', NULL, ?)";
    sql += " RETURNING job_id";
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(c->db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return LiteError(c->db, "push");
    const std::string ts = MwTimestamp();
    std::vector<std::string> sha(payloads.size());
    int p = 1;
    for (size_t i = 0; i < payloads.size(); ++i) {
      sha[i] = Sha1Of(payloads[i]);
      sqlite3_bind_text(st, p++, kType, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, p++, ts.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_blob(st, p++, payloads[i].data(), static_cast<int>(payloads[i].size()), SQLITE_STATIC);
      sqlite3_bind_int64(st, p++, JobRandom());
      sqlite3_bind_text(st, p++, sha[i].c_str(), -1, SQLITE_STATIC);
    }
    int rc;
    const size_t had = ids ? ids->size() : 0;
    do {
      if (ids) ids->resize(had);
      sqlite3_reset(st);
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (ids) ids->push_back(static_cast<uint64_t>(sqlite3_column_int64(st, 0)));
      }
    } while (Busy(rc));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) s = LiteError(c->db, "push");
    pool_.Return(std::move(c));
    return s;
  }

  Status Claim(uint64_t* id, std::string* payload, bool* found) override {
    std::unique_ptr<Lite> c;
    Status s = pool_.Borrow([&](std::unique_ptr<Lite>* o) { return Make(o, false); }, &c);
    if (!s.ok()) return s;
    *found = false;
    for (;;) {
      // SELECT the oldest unclaimed row...
      sqlite3_reset(c->select);
      int rc = sqlite3_step(c->select);
      // A statement left un-reset after an error keeps its lock: reset before retrying.
      if (Busy(rc)) {
        sqlite3_reset(c->select);
        continue;
      }
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        s = LiteError(c->db, "claim select");
        break;
      }
      const int64_t row = sqlite3_column_int64(c->select, 0);
      const void* data = sqlite3_column_blob(c->select, 1);
      std::string params(static_cast<const char*>(data), static_cast<size_t>(sqlite3_column_bytes(c->select, 1)));
      sqlite3_reset(c->select);
      // ...then UPDATE it with a token while it is still unclaimed.
      const std::string token = Token(), ts = MwTimestamp();
      sqlite3_bind_text(c->claim, 1, token.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(c->claim, 2, ts.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(c->claim, 3, row);
      rc = sqlite3_step(c->claim);
      if (Busy(rc)) {
        sqlite3_reset(c->claim);
        continue;
      }
      sqlite3_reset(c->claim);
      if (rc != SQLITE_DONE) {
        s = LiteError(c->db, "claim update");
        break;
      }
      if (sqlite3_changes(c->db) == 1) {
        *id = static_cast<uint64_t>(row);
        *payload = std::move(params);
        *found = true;
        break;
      }
      // Another claimer won the row: try the next oldest.
    }
    pool_.Return(std::move(c));
    return s;
  }

  Status Ack(uint64_t id) override {
    std::unique_ptr<Lite> c;
    Status s = pool_.Borrow([&](std::unique_ptr<Lite>* o) { return Make(o, false); }, &c);
    if (!s.ok()) return s;
    int rc;
    do {
      sqlite3_reset(c->ack);
      sqlite3_bind_int64(c->ack, 1, static_cast<int64_t>(id));
      rc = sqlite3_step(c->ack);
    } while (Busy(rc));
    sqlite3_reset(c->ack);
    if (rc != SQLITE_DONE) s = LiteError(c->db, "ack");
    pool_.Return(std::move(c));
    return s;
  }

 private:
  Status Make(std::unique_ptr<Lite>* out, bool create) {
    auto c = std::make_unique<Lite>();
    if (sqlite3_open(path_.c_str(), &c->db) != SQLITE_OK) return LiteError(c->db, "open");
    sqlite3_busy_timeout(c->db, 5000);
    if (create) {
      const char* ddl =
          "CREATE TABLE job (job_id INTEGER PRIMARY KEY AUTOINCREMENT, "
          "job_cmd BLOB NOT NULL DEFAULT '', job_namespace INTEGER NOT NULL, "
          "job_title BLOB NOT NULL, job_timestamp BLOB DEFAULT NULL, job_params BLOB NOT NULL, "
          "job_random INTEGER NOT NULL DEFAULT 0, job_attempts INTEGER NOT NULL DEFAULT 0, "
          "job_token BLOB NOT NULL DEFAULT '', job_token_timestamp BLOB DEFAULT NULL, "
          "job_sha1 BLOB NOT NULL DEFAULT '');"
          "CREATE INDEX job_sha1 ON job (job_sha1);"
          "CREATE INDEX job_cmd_token ON job (job_cmd, job_token, job_random);"
          "CREATE INDEX job_cmd_token_id ON job (job_cmd, job_token, job_id);"
          "CREATE INDEX job_cmd ON job (job_cmd, job_namespace, job_title, job_params);"
          "CREATE INDEX job_timestamp ON job (job_timestamp);";
      if (sqlite3_exec(c->db, ddl, nullptr, nullptr, nullptr) != SQLITE_OK) return LiteError(c->db, "create");
    }
    if (sqlite3_prepare_v2(c->db,
                           "SELECT job_id, job_params FROM job WHERE job_cmd = 'floorJob' "
                           "AND job_token = '' ORDER BY job_id LIMIT 1",
                           -1, &c->select, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db,
                           "UPDATE job SET job_token = ?, job_token_timestamp = ?, "
                           "job_attempts = job_attempts + 1 WHERE job_cmd = 'floorJob' "
                           "AND job_id = ? AND job_token = ''",
                           -1, &c->claim, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, "DELETE FROM job WHERE job_cmd = 'floorJob' AND job_id = ?", -1,
                           &c->ack, nullptr) != SQLITE_OK) {
      return LiteError(c->db, "prepare");
    }
    *out = std::move(c);
    return Status::OK();
  }

  std::string path_;
  Connections<Lite> pool_;
};

// --- PostgreSQL ---------------------------------------------------------------------------

struct Pg {
  PGconn* conn = nullptr;
  ~Pg() { PQfinish(conn); }
};

class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r) {}
  ~PgResult() { PQclear(r_); }
  PGresult* get() const { return r_; }
  bool ok() const {
    const ExecStatusType s = PQresultStatus(r_);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }

 private:
  PGresult* r_;
};

class PostgresFloor final : public Floor {
 public:
  explicit PostgresFloor(std::string conninfo) : conninfo_(std::move(conninfo)) {}

  Status Init(int connections) {
    auto c = std::make_unique<Pg>();
    c->conn = PQconnectdb(conninfo_.c_str());
    if (PQstatus(c->conn) != CONNECTION_OK) return Error(c->conn, "connect");
    PgResult quiet(PQexec(c->conn, "SET client_min_messages = warning"));
    PgResult r(PQexec(
        c->conn,
        "DROP TABLE IF EXISTS mediawiki_job; "
        "CREATE TABLE mediawiki_job (job_id SERIAL PRIMARY KEY, job_cmd BYTEA DEFAULT '' NOT NULL, "
        "job_namespace INT NOT NULL, job_title BYTEA NOT NULL, job_timestamp TIMESTAMPTZ DEFAULT NULL, "
        "job_params BYTEA NOT NULL, job_random BIGINT DEFAULT 0 NOT NULL, "
        "job_attempts INT DEFAULT 0 NOT NULL, job_token BYTEA DEFAULT '' NOT NULL, "
        "job_token_timestamp TIMESTAMPTZ DEFAULT NULL, job_sha1 BYTEA DEFAULT '' NOT NULL); "
        "CREATE INDEX mw_job_sha1 ON mediawiki_job (job_sha1); "
        "CREATE INDEX mw_job_cmd_token ON mediawiki_job (job_cmd, job_token, job_random); "
        "CREATE INDEX mw_job_cmd_token_id ON mediawiki_job (job_cmd, job_token, job_id); "
        "CREATE INDEX mw_job_cmd ON mediawiki_job (job_cmd, job_namespace, job_title, job_params); "
        "CREATE INDEX mw_job_timestamp ON mediawiki_job (job_timestamp);"));
    if (!r.ok()) return Error(c->conn, "create");
    for (int i = 0; i < connections; ++i) {
      std::unique_ptr<Pg> made;
      Status s = Make(&made);
      if (!s.ok()) return s;
      pool_.Return(std::move(made));
    }
    return Status::OK();
  }

  Status Push(const std::vector<std::string>& payloads, std::vector<uint64_t>* ids) override {
    std::unique_ptr<Pg> c;
    Status s = pool_.Borrow([&](std::unique_ptr<Pg>* o) { return Make(o); }, &c);
    if (!s.ok()) return s;
    std::string sql =
        "INSERT INTO mediawiki_job (job_cmd, job_namespace, job_title, job_timestamp, "
        "job_params, job_random, job_attempts, job_token, job_token_timestamp, job_sha1) VALUES ";
    std::vector<std::string> text;
    text.reserve(payloads.size() * 3);
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    int p = 1;
    for (size_t i = 0; i < payloads.size(); ++i) {
      if (i) sql += ", ";
      sql += "('floorJob', -1, '', now(), $" + std::to_string(p) + ", $" + std::to_string(p + 1) +
             ", 0, '', NULL, $" + std::to_string(p + 2) + ")";
      p += 3;
      text.push_back(std::to_string(JobRandom()));
      text.push_back(Sha1Of(payloads[i]));
      values.push_back(payloads[i].data());
      lengths.push_back(static_cast<int>(payloads[i].size()));
      formats.push_back(1);  // binary bytea
      values.push_back(text[text.size() - 2].c_str());
      lengths.push_back(0);
      formats.push_back(0);
      values.push_back(text.back().c_str());
      lengths.push_back(0);
      formats.push_back(0);
    }
    sql += " RETURNING job_id";
    PgResult r(PQexecParams(c->conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                            values.data(), lengths.data(), formats.data(), 0));
    if (!r.ok()) {
      s = Error(c->conn, "push");
    } else if (ids) {
      for (int i = 0; i < PQntuples(r.get()); ++i) ids->push_back(std::stoull(PQgetvalue(r.get(), i, 0)));
    }
    pool_.Return(std::move(c));
    return s;
  }

  Status Claim(uint64_t* id, std::string* payload, bool* found) override {
    std::unique_ptr<Pg> c;
    Status s = pool_.Borrow([&](std::unique_ptr<Pg>* o) { return Make(o); }, &c);
    if (!s.ok()) return s;
    *found = false;
    for (;;) {
      PgResult sel(PQexecPrepared(c->conn, "select", 0, nullptr, nullptr, nullptr, 1));
      if (!sel.ok()) {
        s = Error(c->conn, "claim select");
        break;
      }
      if (PQntuples(sel.get()) == 0) break;
      const char* v = PQgetvalue(sel.get(), 0, 0);
      uint32_t row = 0;
      for (int i = 0; i < 4; ++i) row = (row << 8) | static_cast<unsigned char>(v[i]);
      const std::string token = Token(), row_text = std::to_string(row);
      const char* params[] = {token.c_str(), row_text.c_str()};
      PgResult upd(PQexecPrepared(c->conn, "claim", 2, params, nullptr, nullptr, 0));
      if (!upd.ok()) {
        s = Error(c->conn, "claim update");
        break;
      }
      if (std::string(PQcmdTuples(upd.get())) == "1") {
        *id = row;
        payload->assign(PQgetvalue(sel.get(), 0, 1), static_cast<size_t>(PQgetlength(sel.get(), 0, 1)));
        *found = true;
        break;
      }
      // Another claimer won the row: try the next oldest.
    }
    pool_.Return(std::move(c));
    return s;
  }

  Status Ack(uint64_t id) override {
    std::unique_ptr<Pg> c;
    Status s = pool_.Borrow([&](std::unique_ptr<Pg>* o) { return Make(o); }, &c);
    if (!s.ok()) return s;
    const std::string row = std::to_string(id);
    const char* params[] = {row.c_str()};
    PgResult r(PQexecPrepared(c->conn, "ack", 1, params, nullptr, nullptr, 0));
    if (!r.ok()) s = Error(c->conn, "ack");
    pool_.Return(std::move(c));
    return s;
  }

 private:
  static Status Error(PGconn* c, const char* what) {
    return Status::IOError(std::string("mediawiki floor (postgresql) ") + what + ": " + PQerrorMessage(c));
  }

  Status Make(std::unique_ptr<Pg>* out) {
    auto c = std::make_unique<Pg>();
    c->conn = PQconnectdb(conninfo_.c_str());
    if (PQstatus(c->conn) != CONNECTION_OK) return Error(c->conn, "connect");
    PgResult q(PQexec(c->conn, "SET client_min_messages = warning"));
    PgResult a(PQprepare(c->conn, "select",
                         "SELECT job_id, job_params FROM mediawiki_job WHERE job_cmd = 'floorJob' "
                         "AND job_token = '' ORDER BY job_id LIMIT 1",
                         0, nullptr));
    PgResult b(PQprepare(c->conn, "claim",
                         "UPDATE mediawiki_job SET job_token = $1::bytea, job_token_timestamp = now(), "
                         "job_attempts = job_attempts + 1 WHERE job_cmd = 'floorJob' "
                         "AND job_id = $2::int AND job_token = ''",
                         2, nullptr));
    PgResult d(PQprepare(c->conn, "ack",
                         "DELETE FROM mediawiki_job WHERE job_cmd = 'floorJob' AND job_id = $1::int",
                         1, nullptr));
    if (!a.ok() || !b.ok() || !d.ok()) return Error(c->conn, "prepare");
    *out = std::move(c);
    return Status::OK();
  }

  std::string conninfo_;
  Connections<Pg> pool_;
};

}  // namespace

bool IsSqlAddress(const std::string& address) {
  auto a = Address::Parse(address);
  return a.ok() && (a->scheme == Address::Scheme::kSqlite || a->scheme == Address::Scheme::kPostgres);
}

Status OpenMediaWikiFloor(const std::string& address, int connections,
                          std::unique_ptr<Floor>* out) {
  auto a = Address::Parse(address);
  if (!a.ok()) return a.status();
  if (a->scheme == Address::Scheme::kSqlite) {
    auto f = std::make_unique<SqliteFloor>(a->rest + ".mediawiki");
    Status s = f->Init(connections);
    if (!s.ok()) return s;
    *out = std::move(f);
    return Status::OK();
  }
  if (a->scheme == Address::Scheme::kPostgres) {
    auto f = std::make_unique<PostgresFloor>(a->rest);
    Status s = f->Init(connections);
    if (!s.ok()) return s;
    *out = std::move(f);
    return Status::OK();
  }
  return Status::InvalidArgument("'" + Redacted(address) + "' is not a SQL address");
}

}  // namespace jobstore::bench
