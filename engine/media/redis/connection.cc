#include "connection.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
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

void AppendArrayHeader(std::string* out, size_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out->push_back('*');
  out->append(buf, end);
  out->append("\r\n", 2);
}

void AppendBulk(std::string* out, std::string_view arg) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, arg.size());
  out->push_back('$');
  out->append(buf, end);
  out->append("\r\n", 2);
  out->append(arg);
  out->append("\r\n", 2);
}

void AppendCommand(std::string* out, const Command& command) {
  AppendArrayHeader(out, command.size());
  for (std::string_view a : command) AppendBulk(out, a);
}

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
  out_.clear();
  size_t first_end = 0;
  for (const Command& cmd : commands) {
    AppendCommand(&out_, cmd);
    if (first_end == 0) first_end = out_.size();
  }
  return ExchangeFormatted(out_, commands.size(), first_end, replies, what);
}

Status Connection::ExchangeFormatted(std::string_view request, size_t count, size_t first_end,
                                     std::vector<Reply>* replies, std::string_view what) {
  replies->clear();
  if (broken_) return Failure(false, false, what, ENOTCONN);
  // send() with MSG_NOSIGNAL: a server gone must not raise SIGPIPE in the caller's process.
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(ctx_->fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return Failure(err == EAGAIN || err == EWOULDBLOCK, first_end <= sent, what, err);
    }
    sent += static_cast<size_t>(n);
  }
  for (size_t i = 0; i < count; ++i) {
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
    // A connection idle for a while may have been closed by a server that went away: a
    // poll() finds out before a command is sent on it (so a failure is "not applied", not
    // "may have been applied"). One back from a call moments ago skips that syscall; if the
    // server went away since, the send fails and the call is retried on a new connection.
    const auto now = std::chrono::steady_clock::now();
    while (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      if (now - c->idle_since_ < kFreshFor || c->StillOpen()) return Lease(this, std::move(c));
    }
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
  c->idle_since_ = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> l(mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
}

}  // namespace jobstore::redis
