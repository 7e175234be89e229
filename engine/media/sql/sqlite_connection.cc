#include "sqlite_connection.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <mutex>
#include <unordered_map>

namespace jobstore::sql {
namespace {

// How long a writer waits for another process's write transaction before giving up.
constexpr int kBusyTimeoutMs = 5000;
// Prepared statements kept per connection; batch statements have one text per batch size.
constexpr size_t kMaxCachedStatements = 512;

constexpr SqlDialect kSqliteDialect = {
    .name = "sqlite",
    .blob_type = "BLOB",
    .serial_key = "INTEGER PRIMARY KEY",
    .skip_locked = "",
    .for_update = "",
    // A counter the watcher reads: the only writer holds the database anyway, so the row costs
    // no contention, and other commits (acks, claims, delayed pushes) leave it alone.
    .notify_ready = "UPDATE jobstore_meta SET val = val + 1 WHERE name = 'ready_epoch';",
    .create_id_source = "INSERT INTO jobstore_meta (name, val) VALUES ('next_id', 1)",
    .alloc_ids = "UPDATE jobstore_meta SET val = val + $1 WHERE name = 'next_id' RETURNING val",
    .ids_are_range = true,
    .raise_ids = "UPDATE jobstore_meta SET val = max(val, $1 + 1) WHERE name = 'next_id'",
    .schema_lock = "",
    .table_exists = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
    .batch_rows = 1,
};

// $N -> ?N: SQLite numbers ?N parameters exactly (its $NAME parameters are numbered in order
// of appearance instead), so one text serves both databases.
std::string ToSqliteParams(std::string_view sql) {
  std::string out(sql);
  for (size_t i = 0; i + 1 < out.size(); ++i) {
    if (out[i] == '$' && out[i + 1] >= '0' && out[i + 1] <= '9') out[i] = '?';
  }
  return out;
}

struct SqliteShared {
  std::string path;
  Options options;
  std::mutex write_mu;  // one write transaction of this process at a time
};

Status ErrorOf(sqlite3* db, int rc, std::string_view what, const std::string& path) {
  const std::string msg = std::string(what) + " on SQLite database '" + path +
                          "': " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::DeadlineExceeded(msg + " (another process held it for longer than the " +
                                      std::to_string(kBusyTimeoutMs) + " ms busy timeout)");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(msg);
    case SQLITE_READONLY:
      return Status::ReadOnly(msg + "; check the file's permissions");
    case SQLITE_CANTOPEN:
      return Status::IOError(msg + "; check that the directory exists and is writable");
    default:
      return Status::IOError(msg);
  }
}

class SqliteConnection final : public SqlConnection {
 public:
  SqliteConnection(std::shared_ptr<SqliteShared> shared, sqlite3* db)
      : SqlConnection(0), shared_(std::move(shared)), db_(db) {}
  ~SqliteConnection() override {
    ClearCache();
    sqlite3_close_v2(db_);
  }

  const SqlDialect& dialect() const override { return kSqliteDialect; }

  Status Begin(TxKind kind) override {
    if (kind == TxKind::kRead) return Exec("BEGIN");
    write_lock_ = std::unique_lock<std::mutex>(shared_->write_mu);
    synced_ = kind == TxKind::kDurableWrite &&
              shared_->options.durability == Durability::kPowerLoss;
    Status s = synced_ ? Exec("PRAGMA synchronous=FULL") : Status::OK();
    if (s.ok()) s = Exec("BEGIN IMMEDIATE");
    if (!s.ok()) EndWrite();
    return s;
  }

  Status Commit(std::string_view trailing) override {
    if (!trailing.empty()) {
      Status t = Exec(trailing);
      if (!t.ok()) {
        Rollback();
        return t;
      }
    }
    const int rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    Status s;
    if (rc != SQLITE_OK) {
      s = ErrorOf(db_, rc, "COMMIT failed (the transaction was rolled back, nothing changed)",
                  shared_->path);
      if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    EndWrite();
    return s;
  }

  void Rollback() override {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    EndWrite();
  }

  Result<SqlRows> Query(std::string_view sql, std::span<const SqlParam> params) override {
    auto stmt = Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    sqlite3_stmt* st = *stmt;
    for (size_t i = 0; i < params.size(); ++i) {
      const SqlParam& p = params[i];
      const int idx = static_cast<int>(i + 1);
      int rc;
      if (p.null) {
        rc = sqlite3_bind_null(st, idx);
      } else if (p.kind == SqlParam::Kind::kInt) {
        rc = sqlite3_bind_int64(st, idx, p.i);
      } else if (p.kind == SqlParam::Kind::kText) {
        rc = sqlite3_bind_text64(st, idx, p.s.data(), p.s.size(), SQLITE_STATIC, SQLITE_UTF8);
      } else {
        // A zero-length blob must still be a blob, not NULL.
        rc = sqlite3_bind_blob64(st, idx, p.s.empty() ? "" : p.s.data(), p.s.size(),
                                 SQLITE_STATIC);
      }
      if (rc != SQLITE_OK) {
        sqlite3_reset(st);
        return ErrorOf(db_, rc, "binding a parameter", shared_->path);
      }
    }
    const int cols = sqlite3_column_count(st);
    SqlRows rows(static_cast<size_t>(cols));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      SqlValue* v = rows.AddRow();
      for (int c = 0; c < cols; ++c) {
        switch (sqlite3_column_type(st, c)) {
          case SQLITE_INTEGER:
            v[c].kind = SqlValue::Kind::kInt;
            v[c].i = sqlite3_column_int64(st, c);
            break;
          case SQLITE_TEXT:
          case SQLITE_BLOB: {
            v[c].kind = sqlite3_column_type(st, c) == SQLITE_TEXT ? SqlValue::Kind::kText
                                                                  : SqlValue::Kind::kBlob;
            const void* data = sqlite3_column_blob(st, c);
            const int n = sqlite3_column_bytes(st, c);
            if (data && n > 0) v[c].s.assign(static_cast<const char*>(data), static_cast<size_t>(n));
            break;
          }
          case SQLITE_NULL: v[c].kind = SqlValue::Kind::kNull; break;
          default: v[c].kind = SqlValue::Kind::kOther; break;
        }
      }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) return ErrorOf(db_, rc, "running a statement", shared_->path);
    return rows;
  }

  Status Exec(std::string_view sql) override {
    const std::string text(sql);
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
    sqlite3_free(err);
    if (rc != SQLITE_OK) return ErrorOf(db_, rc, "running '" + text.substr(0, 60) + "'", shared_->path);
    return Status::OK();
  }

  bool broken() const override { return false; }

 private:
  Result<sqlite3_stmt*> Prepare(std::string_view sql) {
    auto it = cache_.find(std::string(sql));
    if (it != cache_.end()) return it->second;
    if (cache_.size() >= kMaxCachedStatements) ClearCache();
    const std::string text = ToSqliteParams(sql);
    sqlite3_stmt* st = nullptr;
    const int rc = sqlite3_prepare_v3(db_, text.c_str(), static_cast<int>(text.size()),
                                      SQLITE_PREPARE_PERSISTENT, &st, nullptr);
    if (rc != SQLITE_OK) return ErrorOf(db_, rc, "preparing a statement", shared_->path);
    cache_.emplace(std::string(sql), st);
    return st;
  }

  void ClearCache() {
    for (auto& [text, st] : cache_) sqlite3_finalize(st);
    cache_.clear();
  }

  void EndWrite() {
    if (synced_) {
      (void)Exec("PRAGMA synchronous=NORMAL");
      synced_ = false;
    }
    if (write_lock_.owns_lock()) write_lock_.unlock();
  }

  const std::shared_ptr<SqliteShared> shared_;
  sqlite3* const db_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
  std::unique_lock<std::mutex> write_lock_;
  bool synced_ = false;
};

// Reads the ready_epoch counter that transactions which make jobs ready bump (the dialect's
// notify_ready), whichever connection or process committed them.
class SqliteWatcher final : public ChangeWatcher {
 public:
  SqliteWatcher(std::unique_ptr<SqlConnection> c) : c_(std::move(c)) {}
  Status Wait(int64_t, bool* changed) override {
    auto r = c_->Query("SELECT val FROM jobstore_meta WHERE name = 'ready_epoch'",
                       std::span<const SqlParam>());
    if (!r.ok()) return r.status();
    const int64_t v = r->empty() ? 0 : r->Int(0, 0);
    *changed = seen_ && v != version_;
    version_ = v;
    seen_ = true;
    return Status::OK();
  }
  bool blocks() const override { return false; }

 private:
  std::unique_ptr<SqlConnection> c_;
  int64_t version_ = 0;
  bool seen_ = false;
};

class SqliteDatabase final : public SqlDatabase {
 public:
  SqliteDatabase(const std::string& path, const Options& options)
      : shared_(std::make_shared<SqliteShared>()) {
    shared_->path = path;
    shared_->options = options;
  }

  const SqlDialect& dialect() const override { return kSqliteDialect; }

  Result<std::unique_ptr<SqlConnection>> Connect() override {
    const std::string& path = shared_->path;
    struct stat st;
    const bool exists = ::stat(path.c_str(), &st) == 0;
    if (!exists && !shared_->options.create_if_missing) {
      return Status::NotFound("no SQLite store at '" + path +
                              "' (create_if_missing is off); check the path");
    }
    if (exists && S_ISDIR(st.st_mode)) {
      return Status::InvalidArgument("'" + path + "' is a directory; sqlite: takes a file path");
    }
    sqlite3* db = nullptr;
    // NOMUTEX: the pool gives each connection to one thread at a time.
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
      Status s = ErrorOf(db, rc, "opening", path);
      sqlite3_close_v2(db);
      return s;
    }
    sqlite3_busy_timeout(db, kBusyTimeoutMs);
    sqlite3_extended_result_codes(db, 1);
    auto c = std::make_unique<SqliteConnection>(shared_, db);
    // WAL: readers never block the writer; NORMAL: a commit is not fsynced (Begin raises it
    // to FULL for durable pushes).
    auto mode = c->Query("PRAGMA journal_mode=WAL", std::span<const SqlParam>());
    if (!mode.ok()) {
      if (mode.status().IsCorruption()) {
        return Status::InvalidArgument("'" + path + "' is not a SQLite database (" +
                                       mode.status().message() + "); sqlite: needs a SQLite file "
                                       "or a path where one can be created");
      }
      return mode.status();
    }
    Status s = c->Exec("PRAGMA synchronous=NORMAL");
    if (!s.ok()) return s;
    return std::unique_ptr<SqlConnection>(std::move(c));
  }

  Result<std::unique_ptr<ChangeWatcher>> Watch() override {
    auto c = Connect();
    if (!c.ok()) return c.status();
    return std::unique_ptr<ChangeWatcher>(std::make_unique<SqliteWatcher>(std::move(c).value()));
  }

  std::string Describe() const override { return "SQLite at '" + shared_->path + "'"; }

 private:
  std::shared_ptr<SqliteShared> shared_;
};

}  // namespace

std::unique_ptr<SqlDatabase> NewSqliteDatabase(const std::string& path, const Options& options) {
  return std::make_unique<SqliteDatabase>(path, options);
}

}  // namespace jobstore::sql
