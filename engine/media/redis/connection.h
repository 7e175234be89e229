// Connections to a Redis server (hiredis, blocking, with a timeout on every call) and a pool
// of them shared by the threads of one store.
//
// A call that fails on the way says whether the server may have applied it: a command is
// executed only once Redis has received all of it, so a failure while sending the first
// command is "not applied", and any failure after that is "may or may not have been applied".
// A broken connection is never reused; the pool connects again, backing off (20 ms doubling
// to 1 s) while the server stays unreachable, and fails fast with Unavailable meanwhile, so a
// lost server is an error at once, never a hang.
#pragma once

#include <hiredis.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "jobstore/status.h"
#include "redis_address.h"

namespace jobstore::redis {

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// One command: its arguments, binary-safe views into the caller's buffers.
using Command = std::vector<std::string_view>;

// Redis's protocol (RESP), written directly: "*N\r\n" heads a command of N arguments, and
// "$LEN\r\nBYTES\r\n" is each argument.
void AppendArrayHeader(std::string* out, size_t n);
void AppendBulk(std::string* out, std::string_view arg);
void AppendCommand(std::string* out, const Command& command);

// The status for an error reply of Redis to `what` (WRONGTYPE is Corruption, READONLY is
// ReadOnly, LOADING or BUSY is Unavailable, OOM is IOError, ...). The command was not applied
// (Redis refuses a command before it runs it) unless a script failed half-way, which the
// scripts never do (scripts.cc).
Status ErrorReplyStatus(const Endpoint& e, std::string_view what, std::string_view error);

class Connection {
 public:
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects, authenticates and selects the database. Unavailable when the server cannot be
  // reached; InvalidArgument when it refuses the credentials or the database.
  static Result<std::unique_ptr<Connection>> Open(const Endpoint& e);

  // Sends every command in one write (a pipeline), then reads one reply for each. Error
  // replies are replies (the caller maps them with ErrorReplyStatus); an I/O failure or a
  // timeout breaks the connection and returns Unavailable or DeadlineExceeded naming `what`
  // and whether it was applied. Not thread-safe: one thread uses a connection at a time.
  Status Exchange(const std::vector<Command>& commands, std::vector<Reply>* replies,
                  std::string_view what);
  Result<Reply> Call(const Command& command, std::string_view what);
  // The same for commands already in RESP (`request`, `count` of them; the first ends at
  // `first_end`, which tells a write that failed part-way whether anything was sent).
  Status ExchangeFormatted(std::string_view request, size_t count, size_t first_end,
                           std::vector<Reply>* replies, std::string_view what);

  bool broken() const { return broken_; }
  // The last failure happened before the server could have received a whole command.
  bool failed_unsent() const { return failed_unsent_; }
  // False when the server closed the connection while it was idle (e.g. it restarted).
  bool StillOpen() const;

  int fd() const { return ctx_->fd; }
  redisContext* context() { return ctx_; }
  const Endpoint& endpoint() const { return e_; }

 private:
  Connection(const Endpoint& e, redisContext* ctx) : e_(e), ctx_(ctx) {}
  Status Failure(bool timeout, bool applied_maybe, std::string_view what, int err);

  friend class Pool;
  const Endpoint& e_;
  redisContext* ctx_;
  bool broken_ = false;
  bool failed_unsent_ = false;
  std::string out_;  // the request being sent, kept to reuse its buffer
  std::chrono::steady_clock::time_point idle_since_{};  // when it went back to the pool
};

class Pool {
 public:
  // `e` must outlive the pool.
  explicit Pool(const Endpoint& e) : e_(e) {}

  // A connection for one call, back in the pool when the lease ends unless it broke.
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> c) : pool_(pool), c_(std::move(c)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease() {
      if (c_) pool_->Give(std::move(c_));
    }
    Connection* operator->() { return c_.get(); }
    Connection& operator*() { return *c_; }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> c_;
  };

  // An idle connection, or a new one. Unavailable at once while the server has been
  // unreachable and the backoff has not passed. Thread-safe.
  Result<Lease> Take();

 private:
  void Give(std::unique_ptr<Connection> c);

  // Idle connections kept; more are closed when given back (threads beyond this many
  // connect for each call).
  static constexpr size_t kMaxIdle = 32;
  // How long a connection back in the pool is taken again without a liveness check.
  static constexpr std::chrono::milliseconds kFreshFor{100};

  const Endpoint& e_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::chrono::steady_clock::time_point retry_at_{};
  int64_t backoff_ms_ = 0;
  Status last_failure_;
};

}  // namespace jobstore::redis
