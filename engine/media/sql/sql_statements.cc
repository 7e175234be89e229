#include "sql_statements.h"

#include <array>

#include "jobstore/validation.h"
#include "sql_job_row.h"

namespace jobstore::sql {
namespace {

// "($1, $2), ($3, $4)" for k rows of `shape`, where '#' in shape is the next parameter and
// first is the number of the first one.
std::string Rows(size_t k, const std::string& shape, size_t first) {
  std::string out;
  size_t p = first;
  for (size_t r = 0; r < k; ++r) {
    if (r) out += ", ";
    for (char c : shape) {
      if (c == '#') {
        out += "$" + std::to_string(p++);
      } else {
        out += c;
      }
    }
  }
  return out;
}

// The texts of a batch statement for every size 1..kChunk, built once.
template <typename Build>
const std::array<std::string, kChunk + 1> BuildAll(Build build) {
  std::array<std::string, kChunk + 1> all;
  for (size_t k = 1; k <= kChunk; ++k) all[k] = build(k);
  return all;
}

}  // namespace

std::vector<SqlParam> TypeParams(const std::string& type, const TypeSettings& s) {
  int64_t order = 0;
  switch (s.order) {
    case Order::kFifo: order = 0; break;
    case Order::kRandom: order = 1; break;
    case Order::kPriority: order = 2; break;
  }
  return {SqlParam::Text(type),          SqlParam::Int(order),
          SqlParam::Int(s.claim_ttl_ms), SqlParam::Int(s.max_tries),
          SqlParam::Int(s.retries_allowed ? 1 : 0), SqlParam::Int(s.retention_ms),
          SqlParam::Int(s.root_job_ttl_ms)};
}

Result<TypeSettings> DecodeTypeSettings(const SqlRows& rows, size_t r, const std::string& type) {
  auto bad = [&](const std::string& why) {
    return Status::Corruption("the settings of type '" + Printable(type, 80) +
                              "' in jobstore_type do not decode: " + why +
                              "; set them again with SetTypeSettings");
  };
  for (size_t c = 0; c < 6; ++c) {
    if (rows.at(r, c).kind != SqlValue::Kind::kInt) {
      return bad("column " + std::to_string(c + 2) + " is not an integer");
    }
  }
  TypeSettings s;
  const int64_t order = rows.Int(r, 0);
  if (order < 0 || order > 2) return bad("job_order " + std::to_string(order) + " is not 0..2");
  static constexpr Order kOrders[] = {Order::kFifo, Order::kRandom, Order::kPriority};
  s.order = kOrders[order];
  s.claim_ttl_ms = rows.Int(r, 1);
  const int64_t tries = rows.Int(r, 2);
  if (tries < 0 || tries > UINT32_MAX) return bad("max_tries " + std::to_string(tries));
  s.max_tries = static_cast<uint32_t>(tries);
  s.retries_allowed = rows.Int(r, 3) != 0;
  s.retention_ms = rows.Int(r, 4);
  s.root_job_ttl_ms = rows.Int(r, 5);
  Status v = ValidateSettings(s);
  if (!v.ok()) return bad(v.message());
  return s;
}

const std::string& InsertJobsSql(size_t k) {
  static const auto all = BuildAll([](size_t n) {
    // seq = id: pushed jobs are ready in push order; nonce, attempts, claimed-at and the last
    // error start empty.
    return "INSERT INTO jobstore_job (id, queue_id, state, order_rank, seq, at_ms, nonce, "
           "attempts, claimed_at_ms, enqueued_at_ms, priority, release_at_ms, dedup, dedup_hash, "
           "root_signature, root_timestamp_ms, last_error, params) VALUES " +
           [n] {
             std::string out;
             for (size_t r = 0; r < n; ++r) {
               const size_t b = r * kInsertJobParams;
               auto p = [&](size_t i) { return "$" + std::to_string(b + i); };
               if (r) out += ", ";
               out += "(" + p(1) + ", " + p(2) + ", " + p(3) + ", " + p(4) + ", " + p(1) + ", " +
                      p(5) + ", 0, 0, 0, " + p(6) + ", " + p(7) + ", " + p(8) + ", " + p(9) +
                      ", " + p(10) + ", " + p(11) + ", " + p(12) + ", '', " + p(13) + ")";
             }
             return out;
           }() +
           " ON CONFLICT DO NOTHING RETURNING id";
  });
  return all[k];
}

std::string ClaimSql(const SqlDialect& d) {
  if (d.batch_rows == 1) {
    // One job per run (a scalar subquery: no temporary b-tree); the caller runs it up to $5
    // times, and $5 is not referenced.
    return "UPDATE jobstore_job SET state = 1, at_ms = $1, nonce = $2 + id, "
           "attempts = attempts + 1, claimed_at_ms = $3, dedup_hash = NULL "
           "WHERE id = (SELECT id FROM jobstore_job WHERE queue_id = $4 AND state = 0 "
           "ORDER BY order_rank, seq LIMIT 1) AND $5 > 0 RETURNING " +
           std::string(kJobColumns);
  }
  // The pick is a MATERIALIZED CTE, read once: as a bare IN (subquery) PostgreSQL may plan it
  // as the inner side of a nested loop and run it again per outer row, each run locking more
  // rows (claiming more than $5, in O(n^2)).
  return std::string(
             "WITH picked AS MATERIALIZED (SELECT id FROM jobstore_job WHERE queue_id = $4 "
             "AND state = 0 ORDER BY order_rank, seq LIMIT $5") +
         d.skip_locked +
         ") UPDATE jobstore_job SET state = 1, at_ms = $1, nonce = $2 + id, "
         "attempts = attempts + 1, claimed_at_ms = $3, dedup_hash = NULL "
         "WHERE id IN (SELECT id FROM picked) RETURNING " +
         kJobColumns;
}

const std::string& AckSql(size_t k) {
  static const auto all = BuildAll([](size_t n) {
    // The id list lets the database go by primary key; the row list checks the tokens.
    if (n == 1) {
      return std::string("DELETE FROM jobstore_job WHERE id = $1 AND queue_id = $2 "
                         "AND at_ms = $3 AND nonce = $4 AND state = 1 RETURNING id");
    }
    std::string ids;
    for (size_t r = 0; r < n; ++r) ids += (r ? ", $" : "$") + std::to_string(r * 4 + 1);
    return "DELETE FROM jobstore_job WHERE id IN (" + ids +
           ") AND state = 1 AND (id, queue_id, at_ms, nonce) IN (VALUES " +
           Rows(n, "(#, #, #, #)", 1) + ") RETURNING id";
  });
  return all[k];
}

const std::string& PlaceSql(size_t k) {
  static const auto all = BuildAll([](size_t n) {
    if (n == 1) {
      return std::string(
          "UPDATE jobstore_job SET state = $3, at_ms = $4, nonce = 0, last_error = CASE WHEN "
          "$5 = '' THEN last_error ELSE $5 END WHERE id = $2 AND queue_id = $1 AND state = 1 "
          "RETURNING id");
    }
    return "UPDATE jobstore_job SET state = v.column2, at_ms = v.column3, nonce = 0, "
           "last_error = CASE WHEN v.column4 = '' THEN jobstore_job.last_error "
           "ELSE v.column4 END FROM (VALUES " +
           Rows(n, "(#, #, #, #)", 2) +
           ") AS v WHERE jobstore_job.id = v.column1 AND jobstore_job.queue_id = $1 "
           "AND jobstore_job.state = 1 RETURNING jobstore_job.id";
  });
  return all[k];
}

std::string RequeueSql(size_t k, int64_t from_state, bool reset_attempts) {
  if (k == 1) {
    return std::string("UPDATE jobstore_job SET state = 0, at_ms = 0, nonce = 0, seq = $3") +
           (reset_attempts ? ", attempts = 0" : "") +
           " WHERE id = $2 AND queue_id = $1 AND state = " + std::to_string(from_state) +
           " RETURNING id";
  }
  return std::string("UPDATE jobstore_job SET state = 0, at_ms = 0, nonce = 0, seq = v.column2") +
         (reset_attempts ? ", attempts = 0" : "") + " FROM (VALUES " + Rows(k, "(#, #)", 2) +
         ") AS v WHERE jobstore_job.id = v.column1 AND jobstore_job.queue_id = $1 "
         "AND jobstore_job.state = " +
         std::to_string(from_state) + " RETURNING jobstore_job.id";
}

std::string SelectJobForUpdateSql(const SqlDialect& d) {
  return std::string("SELECT ") + kJobColumns +
         " FROM jobstore_job WHERE id = $1 AND queue_id = $2" + d.for_update;
}

}  // namespace jobstore::sql
