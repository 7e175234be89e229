#include "sql_store.h"

#include "postgres_connection.h"
#include "sql_backend.h"
#include "sqlite_connection.h"

namespace jobstore::sql {

Result<std::unique_ptr<Store>> OpenSql(std::unique_ptr<SqlDatabase> db, const Options& options,
                                       size_t pool_size) {
  auto backend = SqlBackend::Open(std::move(db), options, pool_size);
  if (!backend.ok()) return backend.status();
  return Store::Over(std::move(backend).value(), options);
}

Result<std::unique_ptr<Store>> OpenSqlite(const std::string& path, const Options& options) {
  if (path.empty()) {
    return Status::InvalidArgument("sqlite: needs a file path, e.g. sqlite:/var/lib/app/jobs.db");
  }
  return OpenSql(NewSqliteDatabase(path, options), options, kSqlitePoolSize);
}

Result<std::unique_ptr<Store>> OpenPostgres(const std::string& conninfo, const Options& options) {
  auto db = NewPostgresDatabase(conninfo, options);
  if (!db.ok()) return db.status();
  return OpenSql(std::move(db).value(), options, kPostgresPoolSize);
}

}  // namespace jobstore::sql
