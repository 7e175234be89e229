// The small interface the SQL medium needs of a database: one connection, used by one thread at
// a time, that runs parameterised statements inside transactions. SQLite (sqlite_connection.cc)
// and PostgreSQL (postgres_connection.cc) implement it; everything above it (sql_backend.cc) is
// written once for both. Each dialect difference lives in one place: the SqlDialect a database
// declares (the few words of SQL that differ), or its connection (how a transaction begins,
// how a change is noticed).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "jobstore/status.h"

namespace jobstore::sql {

// One bound parameter. Statements number parameters $1, $2, ... in order of first appearance;
// a text names the same types for the same positions every time it is run (PostgreSQL prepares
// it once with those types). Text and blob views must outlive the call.
struct SqlParam {
  enum class Kind : uint8_t { kInt, kText, kBlob };
  Kind kind = Kind::kInt;
  bool null = false;
  int64_t i = 0;
  std::string_view s;

  static SqlParam Int(int64_t v) { return {Kind::kInt, false, v, {}}; }
  static SqlParam Text(std::string_view v) { return {Kind::kText, false, 0, v}; }
  static SqlParam Blob(std::string_view v) { return {Kind::kBlob, false, 0, v}; }
  static SqlParam NullBlob() { return {Kind::kBlob, true, 0, {}}; }
};

// One value of a result row, as the database stored it: a row that does not decode (a text
// where an integer belongs, a value out of range) is reported, never trusted.
struct SqlValue {
  enum class Kind : uint8_t { kNull, kInt, kText, kBlob, kOther };
  Kind kind = Kind::kNull;
  int64_t i = 0;
  std::string s;  // kText, kBlob
};

// A result: rows x columns.
class SqlRows {
 public:
  SqlRows() = default;
  explicit SqlRows(size_t columns) : columns_(columns) {}
  size_t size() const { return columns_ == 0 ? 0 : values_.size() / columns_; }
  bool empty() const { return size() == 0; }
  size_t columns() const { return columns_; }
  const SqlValue& at(size_t row, size_t col) const { return values_[row * columns_ + col]; }
  // The integer at (row, col); 0 for NULL or a value of another kind (for aggregates and ids,
  // whose kind the schema fixes; job rows are decoded with checks in sql_job_row.cc).
  int64_t Int(size_t row, size_t col) const {
    const SqlValue& v = at(row, col);
    return v.kind == SqlValue::Kind::kInt ? v.i : 0;
  }
  const std::string& Str(size_t row, size_t col) const { return at(row, col).s; }
  // Appends a row; the caller then fills its `columns()` values.
  SqlValue* AddRow() {
    values_.resize(values_.size() + columns_);
    return &values_[values_.size() - columns_];
  }

 private:
  size_t columns_ = 0;
  std::vector<SqlValue> values_;
};

// What a transaction is for; the connection maps it to its database's way of beginning one.
enum class TxKind {
  kRead,         // reads only
  kWrite,        // claims, acks, moves: committed without a sync (docs/DESIGN.md §5)
  kDurableWrite, // pushes and settings: committed durably as Options::durability says
};

// The words of SQL in which the two databases differ, and nothing else.
struct SqlDialect {
  const char* name;          // "sqlite" or "postgresql"
  const char* blob_type;     // BLOB / BYTEA
  const char* serial_key;    // an integer primary key the database numbers
  // Appended to the SELECT that picks rows to move: PostgreSQL locks them and skips rows other
  // transactions hold, so claimers on many machines never wait on each other; SQLite's writer
  // already holds the database.
  const char* skip_locked;
  // Appended to a SELECT that reads a row the transaction will then change.
  const char* for_update;
  // A statement (with its ';') that tells other connections, at commit, that queues gained
  // ready jobs: PostgreSQL's NOTIFY, SQLite's ready_epoch counter (read by its watcher).
  const char* notify_ready;

  // Job ids (and ready-order sequence numbers), never reused: `alloc_ids` takes $1 of them.
  // With `ids_are_range` it returns one row, the id after the last one taken (the ids are the
  // $1 before it: SQLite's counter row, which its single writer holds anyway); otherwise one
  // row per id (PostgreSQL's sequence, which concurrent pushers never wait on).
  const char* create_id_source;
  const char* alloc_ids;
  bool ids_are_range;
  // Moves the id source past $1 (an id a restore wrote), so no later push takes it.
  const char* raise_ids;
  // Taken first in the transaction that creates or migrates the schema, so that two processes
  // opening a new store at once do not both create it ("" where BEGIN IMMEDIATE does that).
  const char* schema_lock;
  // One row, the number of tables named $1 in the store's schema.
  const char* table_exists;
  // Rows per statement that moves jobs by id (claims, acks, moves). PostgreSQL: many, a round
  // trip saved per row. SQLite: 1. It runs in-process, so a statement costs microseconds,
  // while a statement that matches rows against a VALUES list, an IN set or a CTE builds a
  // temporary b-tree with a page cache of its own each time (an 87 KB allocation that glibc
  // trims right back on worker threads, so every transaction faulted ~20 pages in: a third of
  // the drain's CPU).
  size_t batch_rows;
};

class SqlConnection {
 public:
  virtual ~SqlConnection() = default;

  virtual const SqlDialect& dialect() const = 0;

  // BEGIN in the way `kind` needs. Unavailable when the connection is gone.
  virtual Status Begin(TxKind kind) = 0;
  // Runs `trailing` (statements with literal values only, no results: the counter updates and
  // the ready notice every transition ends with) and then COMMIT, in one round trip where the
  // database allows. A connection that breaks during COMMIT returns Unavailable saying that
  // the transaction may or may not have committed: it is never reported as success.
  virtual Status Commit(std::string_view trailing = {}) = 0;
  // ROLLBACK, ignoring errors (a broken connection has rolled back already).
  virtual void Rollback() = 0;

  // Runs one statement with `params`; rows for a SELECT or a RETURNING clause. Errors: Busy
  // when the database asks to retry the whole transaction (a deadlock or a serialization
  // failure: it rolled back), Unavailable / DeadlineExceeded when the database cannot be
  // reached or did not answer in time, IOError with the database's message otherwise.
  virtual Result<SqlRows> Query(std::string_view sql, std::span<const SqlParam> params) = 0;
  Result<SqlRows> Query(std::string_view sql, std::initializer_list<SqlParam> params) {
    return Query(sql, std::span<const SqlParam>(params.begin(), params.size()));
  }
  // Statements without parameters (DDL), run as they are.
  virtual Status Exec(std::string_view sql) = 0;

  // The connection can no longer be used (the server went away); the pool drops it.
  virtual bool broken() const = 0;

  // The counter slot this connection updates (sql_schema.h: counts are striped over slots so
  // concurrent writers do not queue on one row).
  int slot() const { return slot_; }

 protected:
  explicit SqlConnection(int slot) : slot_(slot) {}

 private:
  const int slot_;
};

// Notices commits made by other connections (other threads, processes or machines) that may
// have made jobs ready, for WaitForReady.
class ChangeWatcher {
 public:
  virtual ~ChangeWatcher() = default;
  // Waits up to `max_ms` of real time for a change (a watcher that cannot block looks once and
  // returns at once); *changed says whether one was seen. Unavailable when the database cannot
  // be reached.
  virtual Status Wait(int64_t max_ms, bool* changed) = 0;
  // Whether Wait blocks until a change (PostgreSQL's LISTEN) or only looks (SQLite).
  virtual bool blocks() const = 0;
};

// Makes connections to one database, for the pool; and a watcher of it.
class SqlDatabase {
 public:
  virtual ~SqlDatabase() = default;
  virtual const SqlDialect& dialect() const = 0;
  virtual Result<std::unique_ptr<SqlConnection>> Connect() = 0;
  virtual Result<std::unique_ptr<ChangeWatcher>> Watch() = 0;
  // The database without secrets, for messages ("SQLite at /x.db", "PostgreSQL at ...").
  virtual std::string Describe() const = 0;
};

// Counter slots per queue (sql_schema.h).
inline constexpr int kCountSlots = 16;

}  // namespace jobstore::sql
