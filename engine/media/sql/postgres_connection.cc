#include "postgres_connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cstring>
#include <random>
#include <unordered_map>

#include "jobstore/address.h"

namespace jobstore::sql {
namespace {

constexpr size_t kMaxCachedStatements = 512;
constexpr const char* kChannel = "jobstore_ready";

// Type OIDs (pg_type.dat) of what the medium binds and reads.
constexpr Oid kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23,
              kTextOid = 25, kVarcharOid = 1043;

constexpr SqlDialect kPostgresDialect = {
    .name = "postgresql",
    .blob_type = "BYTEA",
    .serial_key = "BIGSERIAL PRIMARY KEY",
    .skip_locked = " FOR UPDATE SKIP LOCKED",
    .for_update = " FOR UPDATE",
    .notify_ready = "NOTIFY jobstore_ready;",
    .create_id_source = "CREATE SEQUENCE jobstore_job_ids",
    .alloc_ids = "SELECT nextval('jobstore_job_ids') FROM generate_series(1, $1)",
    .ids_are_range = false,
    .raise_ids = "SELECT setval('jobstore_job_ids', "
                 "GREATEST($1::bigint, (SELECT last_value FROM jobstore_job_ids)))",
    // Any constant shared by every jobstore process: "js" in ASCII.
    .schema_lock = "SELECT pg_advisory_xact_lock(27251)",
    .table_exists = "SELECT count(*) FROM pg_catalog.pg_tables "
                    "WHERE schemaname = current_schema() AND tablename = $1",
    .batch_rows = 128,
};

// Session settings of every connection: transitions commit without waiting for the WAL flush
// unless Begin(kDurableWrite) raises it; no statement or lock wait runs unbounded.
constexpr const char* kSessionSetup =
    "SET synchronous_commit = off; SET statement_timeout = '30s'; SET lock_timeout = '10s'; "
    "SET idle_in_transaction_session_timeout = '60s'; SET client_min_messages = warning";

uint64_t ToBE64(uint64_t v) { return __builtin_bswap64(v); }

int64_t ReadBE(const char* p, int len) {
  uint64_t v = 0;
  for (int i = 0; i < len; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  if (len < 8 && (v >> (len * 8 - 1)) & 1) v |= ~uint64_t{0} << (len * 8);  // sign-extend
  return static_cast<int64_t>(v);
}

void IgnoreNotice(void*, const char*) {}

struct PgShared {
  std::string conninfo;  // as given (may hold a password: never shown)
  std::string shown;     // Redacted(conninfo)
  Options options;
};

Result<PGconn*> ConnectTo(const PgShared& shared) {
  // Defaults first: values in the connection string, expanded from dbname, override them.
  const char* keys[] = {"connect_timeout", "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "application_name", "dbname", nullptr};
  const char* values[] = {"5", "10", "5", "3", "jobstore", shared.conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (!conn) return Status::Unavailable("out of memory connecting to PostgreSQL");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string err = PQerrorMessage(conn);
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    PQfinish(conn);
    return Status::Unavailable("cannot connect to PostgreSQL at '" + shared.shown + "': " + err +
                               "; check that the server is running and the address is right");
  }
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  PGresult* r = PQexec(conn, kSessionSetup);
  const bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
  std::string err = ok ? "" : PQerrorMessage(conn);
  PQclear(r);
  if (!ok) {
    PQfinish(conn);
    return Status::Unavailable("PostgreSQL at '" + shared.shown + "' refused the session setup: " + err);
  }
  return conn;
}

class PgConnection final : public SqlConnection {
 public:
  PgConnection(std::shared_ptr<PgShared> shared, PGconn* conn, int slot)
      : SqlConnection(slot), shared_(std::move(shared)), conn_(conn) {}
  ~PgConnection() override { PQfinish(conn_); }

  const SqlDialect& dialect() const override { return kPostgresDialect; }

  Status Begin(TxKind kind) override {
    // Reads (Check) see one snapshot; writes run in READ COMMITTED, where a row locked by
    // another transaction is waited for and re-read rather than failing the transaction.
    const char* begin = kind == TxKind::kDurableWrite ? "BEGIN; SET LOCAL synchronous_commit = on"
                        : kind == TxKind::kRead ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                                                : "BEGIN";
    return Simple(begin, "BEGIN");
  }

  Status Commit(std::string_view trailing) override {
    std::string text(trailing);
    text += "COMMIT";
    PGresult* r = PQexec(conn_, text.c_str());
    if (!r || PQstatus(conn_) != CONNECTION_OK) {
      PQclear(r);
      broken_ = true;
      return Status::Unavailable("the connection to PostgreSQL at '" + shared_->shown +
                                 "' broke during COMMIT: the transaction may or may not have "
                                 "committed; check its effect before retrying");
    }
    Status s = ResultStatus(r, "COMMIT");
    // A transaction that had failed ends with the tag ROLLBACK: nothing committed.
    if (s.ok() && std::strcmp(PQcmdStatus(r), "COMMIT") != 0) {
      s = Status::IOError("PostgreSQL rolled the transaction back at COMMIT; nothing changed");
    }
    PQclear(r);
    if (!s.ok() && !broken_) Rollback();
    return s;
  }

  void Rollback() override {
    if (broken_) return;
    PGresult* r = PQexec(conn_, "ROLLBACK");
    if (!r || PQstatus(conn_) != CONNECTION_OK) broken_ = true;
    PQclear(r);
  }

  Result<SqlRows> Query(std::string_view sql, std::span<const SqlParam> params) override {
    if (broken_) return Lost();
    auto name = Prepare(sql, params);
    if (!name.ok()) return name.status();
    const int n = static_cast<int>(params.size());
    ints_.resize(params.size());
    values_.resize(params.size());
    lengths_.resize(params.size());
    formats_.assign(params.size(), 1);
    for (size_t i = 0; i < params.size(); ++i) {
      const SqlParam& p = params[i];
      if (p.null) {
        values_[i] = nullptr;
        lengths_[i] = 0;
      } else if (p.kind == SqlParam::Kind::kInt) {
        ints_[i] = ToBE64(static_cast<uint64_t>(p.i));
        values_[i] = reinterpret_cast<const char*>(&ints_[i]);
        lengths_[i] = 8;
      } else {
        values_[i] = p.s.empty() ? "" : p.s.data();
        lengths_[i] = static_cast<int>(p.s.size());
      }
    }
    PGresult* r = PQexecPrepared(conn_, name->c_str(), n, values_.data(), lengths_.data(),
                                 formats_.data(), 1);
    if (!r || PQstatus(conn_) != CONNECTION_OK) {
      PQclear(r);
      broken_ = true;
      return Lost();
    }
    Status s = ResultStatus(r, "a statement");
    if (!s.ok()) {
      PQclear(r);
      return s;
    }
    const int rows = PQntuples(r), cols = PQnfields(r);
    SqlRows out(static_cast<size_t>(cols));
    for (int row = 0; row < rows; ++row) {
      SqlValue* v = out.AddRow();
      for (int c = 0; c < cols; ++c) {
        if (PQgetisnull(r, row, c)) continue;  // kNull
        const char* data = PQgetvalue(r, row, c);
        const int len = PQgetlength(r, row, c);
        switch (PQftype(r, c)) {
          case kInt8Oid:
          case kInt4Oid:
          case kInt2Oid:
          case kBoolOid:
            v[c].kind = SqlValue::Kind::kInt;
            v[c].i = ReadBE(data, len);
            break;
          case kByteaOid:
            v[c].kind = SqlValue::Kind::kBlob;
            v[c].s.assign(data, static_cast<size_t>(len));
            break;
          case kTextOid:
          case kVarcharOid:
            v[c].kind = SqlValue::Kind::kText;
            v[c].s.assign(data, static_cast<size_t>(len));
            break;
          default: v[c].kind = SqlValue::Kind::kOther; break;
        }
      }
    }
    PQclear(r);
    return out;
  }

  Status Exec(std::string_view sql) override { return Simple(std::string(sql), "a statement"); }

  bool broken() const override { return broken_; }

 private:
  Status Lost() const {
    return Status::Unavailable("lost the connection to PostgreSQL at '" + shared_->shown +
                               "'; the open transaction was rolled back, nothing of it was "
                               "committed");
  }

  Status Simple(const std::string& sql, const char* what) {
    if (broken_) return Lost();
    PGresult* r = PQexec(conn_, sql.c_str());
    if (!r || PQstatus(conn_) != CONNECTION_OK) {
      PQclear(r);
      broken_ = true;
      return Lost();
    }
    Status s = ResultStatus(r, what);
    PQclear(r);
    return s;
  }

  // PostgreSQL's SQLSTATE classes mapped to what a caller can do about them.
  Status ResultStatus(PGresult* r, const char* what) {
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Status::OK();
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const std::string code = state ? state : "";
    std::string msg = PQresultErrorMessage(r);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    msg = "PostgreSQL at '" + shared_->shown + "' failed " + what + ": " + msg;
    if (code == "40001" || code == "40P01") return Status::Busy(msg);  // retry the transaction
    if (code == "57014" || code == "55P03") {
      return Status::DeadlineExceeded(msg + " (statement_timeout 30 s / lock_timeout 10 s)");
    }
    if (code.rfind("08", 0) == 0 || code.rfind("57P", 0) == 0 || code.rfind("53", 0) == 0) {
      broken_ = broken_ || code.rfind("57P", 0) == 0 || code.rfind("08", 0) == 0;
      return Status::Unavailable(msg);
    }
    if (code == "25006") return Status::ReadOnly(msg);
    return Status::IOError(msg);
  }

  static Oid OidOf(const SqlParam& p) {
    switch (p.kind) {
      case SqlParam::Kind::kInt: return kInt8Oid;
      case SqlParam::Kind::kText: return kTextOid;
      case SqlParam::Kind::kBlob: return kByteaOid;
    }
    return 0;
  }

  Result<std::string> Prepare(std::string_view sql, std::span<const SqlParam> params) {
    auto it = cache_.find(std::string(sql));
    if (it != cache_.end()) return it->second;
    if (cache_.size() >= kMaxCachedStatements) {
      Status s = Simple("DEALLOCATE ALL", "DEALLOCATE");
      if (!s.ok()) return s;
      cache_.clear();
    }
    std::string name = "js" + std::to_string(++next_name_);
    std::vector<Oid> types(params.size());
    for (size_t i = 0; i < params.size(); ++i) types[i] = OidOf(params[i]);
    const std::string text(sql);
    PGresult* r = PQprepare(conn_, name.c_str(), text.c_str(), static_cast<int>(types.size()),
                            types.data());
    if (!r || PQstatus(conn_) != CONNECTION_OK) {
      PQclear(r);
      broken_ = true;
      return Lost();
    }
    Status s = ResultStatus(r, "preparing a statement");
    PQclear(r);
    if (!s.ok()) return s;
    cache_.emplace(text, name);
    return name;
  }

  const std::shared_ptr<PgShared> shared_;
  PGconn* const conn_;
  bool broken_ = false;
  std::unordered_map<std::string, std::string> cache_;
  uint64_t next_name_ = 0;
  std::vector<uint64_t> ints_;
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// LISTEN on a connection of its own; reconnects when the server comes back.
class PgWatcher final : public ChangeWatcher {
 public:
  explicit PgWatcher(std::shared_ptr<PgShared> shared) : shared_(std::move(shared)) {}
  ~PgWatcher() override {
    if (conn_) PQfinish(conn_);
  }

  Status Wait(int64_t max_ms, bool* changed) override {
    *changed = false;
    if (!conn_) {
      auto c = ConnectTo(*shared_);
      if (!c.ok()) return c.status();
      conn_ = *c;
      PGresult* r = PQexec(conn_, (std::string("LISTEN ") + kChannel).c_str());
      const bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
      if (!ok) return Drop();
      // Whatever committed while nobody listened may have made jobs ready.
      *changed = true;
      return Status::OK();
    }
    if (Drain()) {
      *changed = true;
      return Status::OK();
    }
    if (broken_) return Drop();
    pollfd p{PQsocket(conn_), POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(max_ms, 0)));
    if (rc > 0) {
      if (!PQconsumeInput(conn_)) return Drop();
      *changed = Drain();
    }
    return Status::OK();
  }
  bool blocks() const override { return true; }

 private:
  bool Drain() {
    if (!PQconsumeInput(conn_)) {
      broken_ = true;
      return false;
    }
    bool any = false;
    while (PGnotify* n = PQnotifies(conn_)) {
      any = true;
      PQfreemem(n);
    }
    return any;
  }

  Status Drop() {
    PQfinish(conn_);
    conn_ = nullptr;
    broken_ = false;
    return Status::Unavailable("lost the LISTEN connection to PostgreSQL at '" + shared_->shown +
                               "'");
  }

  std::shared_ptr<PgShared> shared_;
  PGconn* conn_ = nullptr;
  bool broken_ = false;
};

class PgDatabase final : public SqlDatabase {
 public:
  explicit PgDatabase(std::shared_ptr<PgShared> shared) : shared_(std::move(shared)) {}

  const SqlDialect& dialect() const override { return kPostgresDialect; }

  Result<std::unique_ptr<SqlConnection>> Connect() override {
    auto c = ConnectTo(*shared_);
    if (!c.ok()) return c.status();
    // Each connection updates its own counter slot, so concurrent writers (on any machine)
    // rarely meet on one counter row.
    thread_local std::mt19937 rng{std::random_device{}()};
    const int slot = static_cast<int>(rng() % kCountSlots);
    return std::unique_ptr<SqlConnection>(std::make_unique<PgConnection>(shared_, *c, slot));
  }

  Result<std::unique_ptr<ChangeWatcher>> Watch() override {
    return std::unique_ptr<ChangeWatcher>(std::make_unique<PgWatcher>(shared_));
  }

  std::string Describe() const override { return "PostgreSQL at '" + shared_->shown + "'"; }

 private:
  std::shared_ptr<PgShared> shared_;
};

}  // namespace

Result<std::unique_ptr<SqlDatabase>> NewPostgresDatabase(const std::string& conninfo,
                                                         const Options& options) {
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err);
  if (!parsed) {
    std::string why = err ? err : "out of memory";
    PQfreemem(err);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return Status::InvalidArgument("PostgreSQL address '" + Redacted(conninfo) +
                                   "' is not a libpq connection string: " + why +
                                   "; write postgresql://USER@HOST/DB or "
                                   "postgresql:host=... dbname=...");
  }
  PQconninfoFree(parsed);
  auto shared = std::make_shared<PgShared>();
  shared->conninfo = conninfo;
  shared->shown = Redacted(conninfo);
  shared->options = options;
  return std::unique_ptr<SqlDatabase>(std::make_unique<PgDatabase>(std::move(shared)));
}

}  // namespace jobstore::sql
