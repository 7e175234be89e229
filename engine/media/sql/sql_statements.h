// The SQL the medium runs, in the words SQLite and PostgreSQL share (parameters $1, $2, ...;
// states as literals, so the partial indexes of sql_schema.h apply). Where the two differ, the
// text takes the dialect's word (sql_connection.h SqlDialect).
#pragma once

#include <string>
#include <vector>

#include "jobstore/types.h"
#include "sql_connection.h"

namespace jobstore::sql {

// Rows per multi-row statement (an INSERT, an ack, a move): 128 rows x 13 parameters stays far
// below both databases' limits (SQLite 32,766 variables, PostgreSQL 65,535), and each batch
// size has one prepared text.
inline constexpr size_t kChunk = 128;
inline constexpr size_t kInsertJobParams = 13;

inline constexpr const char* kSelectQueueId =
    "SELECT id FROM jobstore_queue WHERE domain_name = $1 AND type_name = $2";
inline constexpr const char* kInsertQueueIfMissing =
    "INSERT INTO jobstore_queue (domain_name, type_name) VALUES ($1, $2) ON CONFLICT DO NOTHING";
inline constexpr const char* kSelectType =
    "SELECT job_order, claim_ttl_ms, max_tries, retries_allowed, retention_ms, root_job_ttl_ms "
    "FROM jobstore_type WHERE name = $1";
inline constexpr const char* kInsertTypeIfMissing =
    "INSERT INTO jobstore_type (name, job_order, claim_ttl_ms, max_tries, retries_allowed, "
    "retention_ms, root_job_ttl_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
inline constexpr const char* kUpsertType =
    "INSERT INTO jobstore_type (name, job_order, claim_ttl_ms, max_tries, retries_allowed, "
    "retention_ms, root_job_ttl_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) "
    "ON CONFLICT (name) DO UPDATE SET job_order = excluded.job_order, "
    "claim_ttl_ms = excluded.claim_ttl_ms, max_tries = excluded.max_tries, "
    "retries_allowed = excluded.retries_allowed, retention_ms = excluded.retention_ms, "
    "root_job_ttl_ms = excluded.root_job_ttl_ms";
// The parameters of kInsertTypeIfMissing / kUpsertType (`type` must outlive them).
std::vector<SqlParam> TypeParams(const std::string& type, const TypeSettings& settings);
// Row `r` of a kSelectType result; Corruption naming the type when it does not decode.
Result<TypeSettings> DecodeTypeSettings(const SqlRows& rows, size_t r, const std::string& type);

// A restored job, every column as its backup gave it (seq = id, as at push).
inline constexpr const char* kRestoreJob =
    "INSERT INTO jobstore_job (id, queue_id, state, order_rank, seq, at_ms, nonce, attempts, "
    "claimed_at_ms, enqueued_at_ms, priority, release_at_ms, dedup, dedup_hash, root_signature, "
    "root_timestamp_ms, last_error, params) VALUES ($1, $2, $3, $4, $1, $5, 0, $6, $7, $8, $9, "
    "$10, $11, $12, $13, $14, $15, $16)";
inline constexpr const char* kSelectJobQueue = "SELECT queue_id FROM jobstore_job WHERE id = $1";
inline constexpr const char* kSelectDedupHolder =
    "SELECT id FROM jobstore_job WHERE queue_id = $1 AND dedup_hash = $2";
// Root registrations keep the newest timestamp.
inline constexpr const char* kRegisterRoot =
    "INSERT INTO jobstore_root (queue_id, signature, newest_ms) VALUES ($1, $2, $3) "
    "ON CONFLICT (queue_id, signature) DO UPDATE SET newest_ms = excluded.newest_ms "
    "WHERE excluded.newest_ms > jobstore_root.newest_ms";
inline constexpr const char* kSelectRoot =
    "SELECT newest_ms FROM jobstore_root WHERE queue_id = $1 AND signature = $2";
inline constexpr const char* kSelectJobState =
    "SELECT state FROM jobstore_job WHERE id = $1 AND queue_id = $2";
inline constexpr const char* kAbandonCorrupt =
    "UPDATE jobstore_job SET state = 3, at_ms = $1, nonce = 0, dedup_hash = NULL, "
    "last_error = $2 WHERE id = $3 RETURNING id";
inline constexpr const char* kTouch =
    "UPDATE jobstore_job SET at_ms = $1 WHERE id = $2 AND queue_id = $3 AND state = 1 "
    "AND at_ms = $4 AND nonce = $5 RETURNING id";

// INSERT of k jobs ($1.. in rows of kInsertJobParams: id, queue_id, state, order_rank, at_ms,
// enqueued_at_ms, priority, release_at_ms, dedup, dedup_hash, root_signature,
// root_timestamp_ms, params), skipping those whose dedup hash is held; RETURNING the ids
// inserted.
const std::string& InsertJobsSql(size_t k);
// Claims up to $5 ready jobs of queue $4 (UPDATE ... WHERE id IN (the picked ids), picked with
// the dialect's SKIP LOCKED): lease deadline $1, nonce $2 + id, claimed at $3.
// RETURNING kJobColumns.
std::string ClaimSql(const SqlDialect& d);
// Deletes the k claimed jobs whose tokens are current ($1.. in rows of id, queue_id, at_ms,
// nonce); RETURNING their ids.
const std::string& AckSql(size_t k);
// Moves k claimed jobs of queue $1 ($2.. in rows of id, state, at_ms, error: an empty error
// keeps the last one); RETURNING their ids.
const std::string& PlaceSql(size_t k);
// Moves k jobs of queue $1 in state `from` to ready with fresh sequence numbers ($2.. in rows
// of id, seq), resetting attempts when asked; RETURNING their ids.
std::string RequeueSql(size_t k, int64_t from_state, bool reset_attempts);
// kJobColumns of job $1 of queue $2, locked for the transaction where the database locks rows.
std::string SelectJobForUpdateSql(const SqlDialect& d);

}  // namespace jobstore::sql
