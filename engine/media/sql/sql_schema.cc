#include "sql_schema.h"

#include <string>
#include <vector>

namespace jobstore::sql {
namespace {

// The statements that take a store from version N-1 to N, in the words both databases share;
// %BLOB% and %SERIAL% are the dialect's, %IDS% its id source.
const std::vector<std::vector<const char*>>& Steps() {
  static const std::vector<std::vector<const char*>> steps = {
      // 0 -> 1: the tables.
      {
          "CREATE TABLE jobstore_meta (name TEXT PRIMARY KEY, val BIGINT NOT NULL)",
          "INSERT INTO jobstore_meta (name, val) VALUES ('schema_version', 0)",
          // Bumped by transactions that make jobs ready where the database has no NOTIFY.
          "INSERT INTO jobstore_meta (name, val) VALUES ('ready_epoch', 0)",
          "%IDS%",
          "CREATE TABLE jobstore_type (name TEXT PRIMARY KEY, job_order INTEGER NOT NULL, "
          "claim_ttl_ms BIGINT NOT NULL, max_tries BIGINT NOT NULL, "
          "retries_allowed INTEGER NOT NULL, retention_ms BIGINT NOT NULL, "
          "root_job_ttl_ms BIGINT NOT NULL)",
          "CREATE TABLE jobstore_queue (id %SERIAL%, domain_name TEXT NOT NULL, "
          "type_name TEXT NOT NULL, UNIQUE (domain_name, type_name))",
          "CREATE TABLE jobstore_count (queue_id BIGINT NOT NULL, slot INTEGER NOT NULL, "
          "ready BIGINT NOT NULL, claimed BIGINT NOT NULL, delayed BIGINT NOT NULL, "
          "abandoned BIGINT NOT NULL, PRIMARY KEY (queue_id, slot))",
          "CREATE TABLE jobstore_job (id BIGINT PRIMARY KEY, queue_id BIGINT NOT NULL, "
          "state INTEGER NOT NULL, order_rank BIGINT NOT NULL, seq BIGINT NOT NULL, "
          "at_ms BIGINT NOT NULL, nonce BIGINT NOT NULL, attempts BIGINT NOT NULL, "
          "claimed_at_ms BIGINT NOT NULL, enqueued_at_ms BIGINT NOT NULL, "
          "priority BIGINT NOT NULL, release_at_ms BIGINT NOT NULL, dedup INTEGER NOT NULL, "
          "dedup_hash %BLOB%, root_signature TEXT NOT NULL, root_timestamp_ms BIGINT NOT NULL, "
          "last_error TEXT NOT NULL, params %BLOB% NOT NULL)",
          "CREATE INDEX jobstore_job_ready ON jobstore_job (queue_id, order_rank, seq) "
          "WHERE state = 0",
          "CREATE INDEX jobstore_job_timed ON jobstore_job (queue_id, state, at_ms, id) "
          "WHERE state <> 0",
          "CREATE UNIQUE INDEX jobstore_job_dedup ON jobstore_job (queue_id, dedup_hash) "
          "WHERE dedup_hash IS NOT NULL",
          "CREATE TABLE jobstore_root (queue_id BIGINT NOT NULL, signature TEXT NOT NULL, "
          "newest_ms BIGINT NOT NULL, PRIMARY KEY (queue_id, signature))",
      },
      // 1 -> 2: expiring root registrations reads only the expired ones.
      {
          "CREATE INDEX jobstore_root_expiry ON jobstore_root (queue_id, newest_ms)",
      },
  };
  return steps;
}

std::string Expand(std::string text, const SqlDialect& d) {
  auto replace = [&](const std::string& from, const std::string& to) {
    for (size_t at; (at = text.find(from)) != std::string::npos;) text.replace(at, from.size(), to);
  };
  replace("%BLOB%", d.blob_type);
  replace("%SERIAL%", d.serial_key);
  replace("%IDS%", d.create_id_source);
  return text;
}

}  // namespace

Status EnsureSchema(SqlPool& pool, bool create_if_missing) {
  auto lease = pool.Acquire();
  if (!lease.ok()) return lease.status();
  SqlConnection& c = **lease;
  const SqlDialect& d = c.dialect();
  const std::string where = pool.database().Describe();
  static_assert(kSchemaVersion == 2, "add the step to Steps()");

  Status s = c.Begin(TxKind::kDurableWrite);
  if (!s.ok()) return s;
  auto fail = [&](Status st) {
    c.Rollback();
    return st;
  };
  if (*d.schema_lock) {
    auto locked = c.Query(d.schema_lock, std::span<const SqlParam>());
    if (!locked.ok()) return fail(locked.status());
  }
  auto exists = c.Query(d.table_exists, {SqlParam::Text("jobstore_meta")});
  if (!exists.ok()) return fail(exists.status());
  int64_t version = 0;
  if (exists->Int(0, 0) > 0) {
    auto v = c.Query("SELECT val FROM jobstore_meta WHERE name = 'schema_version'",
                     std::span<const SqlParam>());
    if (!v.ok()) return fail(v.status());
    if (v->empty() || v->at(0, 0).kind != SqlValue::Kind::kInt) {
      return fail(Status::Corruption(where + " has a jobstore_meta table without a schema "
                                     "version; it was not written by jobstore, or was damaged"));
    }
    version = v->Int(0, 0);
    if (version > kSchemaVersion) {
      return fail(Status::NotSupported(
          where + " holds a jobstore schema of version " + std::to_string(version) +
          ", newer than this build's " + std::to_string(kSchemaVersion) +
          "; open it with a newer jobstore"));
    }
    if (version < 1) {
      return fail(Status::Corruption(where + " has schema version " + std::to_string(version) +
                                     ", which no jobstore wrote"));
    }
  } else if (!create_if_missing) {
    return fail(Status::NotFound(where + " has no jobstore schema (create_if_missing is off)"));
  }
  if (version == kSchemaVersion) {
    c.Rollback();
    return Status::OK();
  }
  for (int64_t v = version; v < kSchemaVersion; ++v) {
    for (const char* stmt : Steps()[static_cast<size_t>(v)]) {
      s = c.Exec(Expand(stmt, d));
      if (!s.ok()) {
        return fail(s.Prefixed("migrating the jobstore schema from version " +
                               std::to_string(v) + " to " + std::to_string(v + 1)));
      }
    }
  }
  auto set = c.Query("UPDATE jobstore_meta SET val = $1 WHERE name = 'schema_version'",
                     {SqlParam::Int(kSchemaVersion)});
  if (!set.ok()) return fail(set.status());
  return c.Commit();
}

}  // namespace jobstore::sql
