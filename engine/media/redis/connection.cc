#include "connection.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace jobstore::redis {
namespace {

timeval Tv(int64_t ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string ErrnoText(int err) {
  char buf[128];
  // GNU strerror_r returns the message (maybe not in buf).
  return std::string(strerror_r(err, buf, sizeof buf));
}

}  // namespace

Status ErrorReplyStatus(const Endpoint& e, std::string_view what, std::string_view error) {
  const std::string at = "redis at " + e.Where() + ": " + std::string(what) + ": ";
  const std::string text(error);
  if (StartsWith(error, "WRONGTYPE") || StartsWith(error, "JOBSTORE-CORRUPT")) {
    return Status::Corruption(at + text + "; a key of this store holds a value jobstore did not "
                                          "write: run check, and keep other programs off the "
                                          "prefix '" + e.prefix + "'");
  }
  if (StartsWith(error, "READONLY")) {
    return Status::ReadOnly(at + text + "; this server is a read-only replica: point the "
                                        "address at the primary");
  }
  if (StartsWith(error, "LOADING") || StartsWith(error, "BUSY") ||
      StartsWith(error, "MASTERDOWN") || StartsWith(error, "TRYAGAIN") ||
      StartsWith(error, "CLUSTERDOWN")) {
    return Status::Unavailable(at + text + "; it was not applied: retry shortly");
  }
  if (StartsWith(error, "MOVED") || StartsWith(error, "ASK")) {
    return Status::Unavailable(at + text + "; it was not applied: this store's slot lives on "
                                           "another Redis Cluster node; point the address at it");
  }
  if (StartsWith(error, "OOM")) {
    return Status::IOError(at + text + "; it was not applied: the server reached its maxmemory");
  }
  if (StartsWith(error, "MISCONF")) {
    return Status::IOError(at + text + "; it was not applied: the server cannot persist");
  }
  if (StartsWith(error, "NOAUTH") || StartsWith(error, "WRONGPASS") ||
      StartsWith(error, "NOPERM")) {
    return Status::InvalidArgument(at + text + "; give the right credentials in the address "
                                                "(password_file=..., user=...)");
  }
  return Status::Internal(at + "redis answered an error: " + text);
}

Connection::~Connection() { redisFree(ctx_); }

Result<std::unique_ptr<Connection>> Connection::Open(const Endpoint& e) {
  const timeval tv = Tv(e.timeout_ms);
  redisContext* ctx = e.unix_path.empty() ? redisConnectWithTimeout(e.host.c_str(), e.port, tv)
                                          : redisConnectUnixWithTimeout(e.unix_path.c_str(), tv);
  if (ctx == nullptr) {
    return Status::Unavailable("redis at " + e.Where() + ": out of memory for a connection");
  }
  if (ctx->err) {
    std::string why = ctx->errstr;
    redisFree(ctx);
    return Status::Unavailable("redis at " + e.Where() + ": cannot connect (" + why +
                               "); is redis-server running there?");
  }
  std::unique_ptr<Connection> c(new Connection(e, ctx));
  if (redisSetTimeout(ctx, tv) != REDIS_OK ||
      (e.unix_path.empty() && redisEnableKeepAlive(ctx) != REDIS_OK)) {
    return Status::Unavailable("redis at " + e.Where() + ": cannot set up the connection (" +
                               ctx->errstr + ")");
  }
  // One round trip: credentials, database, a name for CLIENT LIST, and a PING that makes a
  // server wanting a password say so now.
  const std::string db = std::to_string(e.db);
  std::vector<Command> hello;
  if (!e.password.empty()) {
    if (e.user.empty()) {
      hello.push_back({"AUTH", e.password});
    } else {
      hello.push_back({"AUTH", e.user, e.password});
    }
  }
  if (e.db != 0) hello.push_back({"SELECT", db});
  hello.push_back({"CLIENT", "SETNAME", "jobstore"});
  hello.push_back({"PING"});
  std::vector<Reply> replies;
  Status s = c->Exchange(hello, &replies, "connecting");
  if (!s.ok()) return s;
  for (size_t i = 0; i < replies.size(); ++i) {
    const redisReply* r = replies[i].get();
    if (r->type != REDIS_REPLY_ERROR) continue;
    const std::string_view err(r->str, r->len);
    if (hello[i][0] == "CLIENT") continue;  // a server may forbid CLIENT; the name is a nicety
    if (hello[i][0] == "SELECT") {
      return Status::InvalidArgument("redis at " + e.Where() + " has no database " + db + " (" +
                                     std::string(err) + "); use a database it has (0 is the "
                                     "default; a Redis Cluster has only 0)");
    }
    if (hello[i][0] == "AUTH") {
      return Status::InvalidArgument("redis at " + e.Where() + " refused the credentials (" +
                                     std::string(err) + "); check the password (password_file=)" +
                                     (e.user.empty() ? "" : " and the user"));
    }
    return ErrorReplyStatus(e, "connecting", err);
  }
  return c;
}

Status Connection::Failure(bool timeout, bool applied_maybe, std::string_view what, int err) {
  broken_ = true;
  failed_unsent_ = !applied_maybe;
  const std::string fate = applied_maybe ? "it may or may not have been applied"
                                         : "it was not applied";
  if (timeout) {
    return Status::DeadlineExceeded("redis at " + e_.Where() + " did not answer " +
                                    std::string(what) + " within " +
                                    std::to_string(e_.timeout_ms) + " ms (timeout_ms); " + fate);
  }
  return Status::Unavailable("redis at " + e_.Where() + ": " + std::string(what) +
                             ": the connection was lost (" +
                             (err ? ErrnoText(err) : std::string(ctx_->errstr)) + "); " + fate);
}

Status Connection::Exchange(const std::vector<Command>& commands, std::vector<Reply>* replies,
                            std::string_view what) {
  replies->clear();
  if (broken_) return Failure(false, false, what, ENOTCONN);
  // Format every command; remember where each ends, to know what a failed write sent.
  std::string out;
  std::vector<size_t> ends;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const Command& cmd : commands) {
    argv.clear();
    lens.clear();
    for (std::string_view a : cmd) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    char* formatted = nullptr;
    const int n = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(),
                                         lens.data());
    if (n < 0) return Status::Internal("redis: cannot format a command for " + std::string(what));
    out.append(formatted, static_cast<size_t>(n));
    redisFreeCommand(formatted);
    ends.push_back(out.size());
  }
  // send() with MSG_NOSIGNAL: a server gone must not raise SIGPIPE in the caller's process.
  size_t sent = 0;
  while (sent < out.size()) {
    const ssize_t n = ::send(ctx_->fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      const bool whole_one = ends.front() <= sent;
      return Failure(err == EAGAIN || err == EWOULDBLOCK, whole_one, what, err);
    }
    sent += static_cast<size_t>(n);
  }
  for (size_t i = 0; i < commands.size(); ++i) {
    void* r = nullptr;
    errno = 0;
    if (redisGetReply(ctx_, &r) != REDIS_OK || r == nullptr) {
      const int err = errno;
      const bool timeout = ctx_->err == REDIS_ERR_IO && (err == EAGAIN || err == EWOULDBLOCK);
      return Failure(timeout, true, what, ctx_->err == REDIS_ERR_IO ? err : 0);
    }
    replies->emplace_back(static_cast<redisReply*>(r));
  }
  return Status::OK();
}

Result<Reply> Connection::Call(const Command& command, std::string_view what) {
  std::vector<Reply> replies;
  Status s = Exchange({command}, &replies, what);
  if (!s.ok()) return s;
  return std::move(replies[0]);
}

bool Connection::StillOpen() const {
  // An idle connection has nothing to read: readable means EOF or an error is pending.
  pollfd p{ctx_->fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

Result<Pool::Lease> Pool::Take() {
  {
    std::lock_guard<std::mutex> l(mu_);
    while (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      if (c->StillOpen()) return Lease(this, std::move(c));
    }
    const auto now = std::chrono::steady_clock::now();
    if (now < retry_at_) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now).count();
      return Status::Unavailable(last_failure_.message() + " (next attempt to connect in " +
                                 std::to_string(left) + " ms)");
    }
  }
  auto c = Connection::Open(e_);
  std::lock_guard<std::mutex> l(mu_);
  if (!c.ok()) {
    if (c.status().IsTransient()) {
      backoff_ms_ = backoff_ms_ == 0 ? 20 : std::min<int64_t>(backoff_ms_ * 2, 1000);
      retry_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(backoff_ms_);
      last_failure_ = c.status();
    }
    return c.status();
  }
  backoff_ms_ = 0;
  retry_at_ = {};
  return Lease(this, std::move(c).value());
}

void Pool::Give(std::unique_ptr<Connection> c) {
  if (c->broken()) return;
  std::lock_guard<std::mutex> l(mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
}

}  // namespace jobstore::redis
