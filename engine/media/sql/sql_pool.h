// A small pool of connections to one database: a thread takes one for one transaction and gives
// it back, so each connection is used by one thread at a time. Broken connections are dropped;
// a new one is made on demand, and when connecting fails the pool backs off (50 ms doubling to
// 2 s) instead of hammering a server that is down: calls in that window get Unavailable at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "sql_connection.h"

namespace jobstore::sql {

class SqlPool {
 public:
  SqlPool(std::unique_ptr<SqlDatabase> db, size_t max_connections);
  ~SqlPool();

  // A connection, returned to the pool when the lease ends (dropped if it broke).
  class Lease {
   public:
    Lease(SqlPool* pool, std::unique_ptr<SqlConnection> c) : pool_(pool), c_(std::move(c)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), c_(std::move(o.c_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (c_) pool_->Return(std::move(c_));
    }
    SqlConnection& operator*() const { return *c_; }
    SqlConnection* operator->() const { return c_.get(); }

   private:
    SqlPool* pool_;
    std::unique_ptr<SqlConnection> c_;
  };

  // Waits for an idle connection when max_connections are in use. Unavailable when a new
  // connection cannot be made (or the pool is backing off after such a failure).
  Result<Lease> Acquire();

  SqlDatabase& database() { return *db_; }
  const SqlDialect& dialect() const { return db_->dialect(); }

 private:
  void Return(std::unique_ptr<SqlConnection> c);

  const std::unique_ptr<SqlDatabase> db_;
  const size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<SqlConnection>> idle_;
  size_t open_ = 0;  // connections in existence (idle, leased, or being made)
  // Backoff after a failed connect.
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0};
  Status last_failure_;
};

}  // namespace jobstore::sql
