// Opening a Store on the SQL medium: `sqlite:PATH` and `postgresql://...` addresses
// (engine/open/open.cc), or a database and pool size of one's own (tests, tools).
#pragma once

#include <memory>
#include <string>

#include "jobstore/options.h"
#include "jobstore/store.h"
#include "sql_connection.h"

namespace jobstore::sql {

// Connections a store keeps at most: a thread holds one for one transaction. SQLite has one
// writer at a time anyway; PostgreSQL serves each connection with a process of its own.
inline constexpr size_t kSqlitePoolSize = 4;
inline constexpr size_t kPostgresPoolSize = 8;

// The store in the SQLite file at `path` (created, with its schema, when missing and
// options.create_if_missing).
Result<std::unique_ptr<Store>> OpenSqlite(const std::string& path, const Options& options);
// The store in the PostgreSQL database `conninfo` names (a postgresql:// URL or a libpq
// "key=value" string); its tables are created in the connection's current schema.
Result<std::unique_ptr<Store>> OpenPostgres(const std::string& conninfo, const Options& options);
// The store in `db`, with at most `pool_size` connections.
Result<std::unique_ptr<Store>> OpenSql(std::unique_ptr<SqlDatabase> db, const Options& options,
                                       size_t pool_size);

}  // namespace jobstore::sql
