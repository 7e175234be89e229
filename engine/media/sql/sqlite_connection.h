// SQLite for the SQL medium (libsqlite3): one file in WAL mode, shared by every connection and
// process that opens it. Writes run under BEGIN IMMEDIATE with a busy timeout; inside one
// process they also take one mutex, so that the process's own writers queue in order instead
// of sleeping in SQLite's busy handler. Options::durability maps to synchronous=FULL (power
// loss: the WAL is fsynced at each push's commit) or NORMAL (process crash: written to the OS,
// not fsynced); claims, acks and moves always commit under NORMAL.
#pragma once

#include <memory>
#include <string>

#include "jobstore/options.h"
#include "sql_connection.h"

namespace jobstore::sql {

// The database in the file at `path`. Nothing is opened yet; the first Connect creates the file
// when options.create_if_missing allows it (else NotFound).
std::unique_ptr<SqlDatabase> NewSqliteDatabase(const std::string& path, const Options& options);

}  // namespace jobstore::sql
