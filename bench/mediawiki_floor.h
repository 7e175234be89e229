// The floor on a SQL database: MediaWiki's own JobQueueDB algorithm, on its `job` table
// (sql/tables.json: job_id, job_cmd, job_namespace, job_title, job_timestamp, job_params,
// job_random, job_attempts, job_token, job_token_timestamp, job_sha1, and its five indexes),
// with the database's default settings and autocommit statements, as MediaWiki runs it:
//   push  = one multi-row INSERT of the batch (job_sha1 and job_random computed per row)
//   claim = SELECT the oldest unclaimed row (job_token = '') of the type, then UPDATE it with
//           a random 32-character token WHERE it is still unclaimed; another claimer winning
//           the row makes the UPDATE touch nothing, and the claim tries again
//   ack   = DELETE the row by (job_cmd, job_id), without checking the token
// SQLite: a file of its own beside the store's (`PATH.mediawiki`), in SQLite's default rollback
// journal with synchronous=FULL and a 5 s busy timeout. PostgreSQL: table mediawiki_job in the
// store's database and schema, with the server's defaults (synchronous_commit=on).
#pragma once

#include <memory>
#include <string>

#include "floor.h"

namespace jobstore::bench {

// Whether `address` names a SQL store (sqlite:, postgresql://, postgres://, postgresql:).
bool IsSqlAddress(const std::string& address);

// The MediaWiki floor on the database of `address`, with an empty job table, for up to
// `connections` concurrent callers.
Status OpenMediaWikiFloor(const std::string& address, int connections,
                          std::unique_ptr<Floor>* out);

}  // namespace jobstore::bench
