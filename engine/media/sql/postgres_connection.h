// PostgreSQL for the SQL medium (libpq). Each connection is a libpq session that:
//   - connects with connect_timeout=5 and TCP keepalives unless the connection string says
//     otherwise, and runs statements under statement_timeout=30s and lock_timeout=10s, so a
//     server that is gone or stuck turns into Unavailable / DeadlineExceeded, never a hang;
//   - prepares each statement text once and binds parameters in binary;
//   - commits claims, acks and moves with synchronous_commit=off (a lost one only makes a job
//     run again) and pushes and settings with synchronous_commit=on, so an acknowledged push is
//     in the server's WAL on disk as its fsync setting makes it;
//   - reports a connection that broke during COMMIT as "may or may not have committed".
// Changes are announced with NOTIFY jobstore_ready in the committing transaction and watched
// with LISTEN on a connection of its own.
#pragma once

#include <memory>
#include <string>

#include "jobstore/options.h"
#include "sql_connection.h"

namespace jobstore::sql {

// The database `conninfo` names: a postgresql:// URL or a libpq "key=value ..." string.
// InvalidArgument when libpq cannot parse it. Nothing is connected yet.
Result<std::unique_ptr<SqlDatabase>> NewPostgresDatabase(const std::string& conninfo,
                                                         const Options& options);

}  // namespace jobstore::sql
