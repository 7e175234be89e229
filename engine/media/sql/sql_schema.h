// The SQL medium's schema, one for SQLite and PostgreSQL (MediaWiki's `job` table with what it
// lacks), versioned in jobstore_meta and created on first use:
//
//   jobstore_meta   name -> val: schema_version (and SQLite's next_id counter)
//   jobstore_type   a type's settings (TypeSettings), one row per type
//   jobstore_queue  id, domain_name, type_name: every queue that ever held a job
//   jobstore_count  queue_id, slot -> ready, claimed, delayed, abandoned. Exact counts, changed
//                   in the transaction of every transition. Each connection adds its deltas to
//                   its own slot (of kCountSlots): with one row per queue every writer of a
//                   queue would queue on that row's lock until commit, which undoes what SKIP
//                   LOCKED buys; a queue's count is the sum of its slots, and its readiness
//                   (the ready index) is SUM(ready) > 0.
//   jobstore_job    one row per job: state (0 ready, 1 claimed, 2 delayed, 3 abandoned),
//                   order_rank and seq (the ready order: priority rank or MediaWiki's
//                   job_random, then sequence), at_ms (release time, lease deadline or
//                   abandoned-at, by state), nonce (the claim token with at_ms), attempts,
//                   the spec's fields, last_error, and dedup_hash while the job is queued and
//                   holds its dedup entry
//   jobstore_root   queue_id, signature -> newest_ms: root-job registrations
//
// Indexes: ready jobs by (queue, order_rank, seq) and the other states by (queue, state, at_ms,
// id), both partial, so a claim, a promotion, a reclaim and a prune each read only what they
// move; a UNIQUE index on (queue, dedup_hash) makes dedup atomic (MediaWiki's is a SELECT then
// an INSERT, which two pushers can both pass).
#pragma once

#include "sql_pool.h"

namespace jobstore::sql {

// The version this build writes. History: 1, the tables; 2, jobstore_root_expiry, an index
// that bounds the sweep of expired root-job registrations by what it deletes.
inline constexpr int64_t kSchemaVersion = 2;

// Creates the schema (create_if_missing) or migrates an older one to kSchemaVersion, in one
// transaction. NotFound when there is none and create_if_missing is off; NotSupported for a
// schema newer than this build.
Status EnsureSchema(SqlPool& pool, bool create_if_missing);

}  // namespace jobstore::sql
