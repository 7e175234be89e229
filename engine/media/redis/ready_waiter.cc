#include "ready_waiter.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>

namespace jobstore::redis {
namespace {

// A pub/sub message: ["message", channel, payload].
bool MessageEpoch(const redisReply* r, uint64_t* value) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) return false;
  const redisReply* kind = r->element[0];
  const redisReply* payload = r->element[2];
  if (kind->type != REDIS_REPLY_STRING || std::string_view(kind->str, kind->len) != "message" ||
      payload->type != REDIS_REPLY_STRING) {
    return false;
  }
  auto [end, ec] = std::from_chars(payload->str, payload->str + payload->len, *value);
  return ec == std::errc() && end == payload->str + payload->len;
}

}  // namespace

ReadyWaiter::ReadyWaiter(const Endpoint& e, std::string channel)
    : e_(e), channel_(std::move(channel)), wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

ReadyWaiter::~ReadyWaiter() {
  std::unique_lock<std::mutex> l(mu_);
  closed_ = true;
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    // A full counter (impossible after one write) is the only failure, and it still wakes.
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
  done_cv_.wait(l, [&] { return active_ == 0; });
  idle_.clear();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Result<std::unique_ptr<Connection>> ReadyWaiter::Subscribed() {
  auto c = Connection::Open(e_);
  if (!c.ok()) return c.status();
  auto r = (*c)->Call({"SUBSCRIBE", channel_}, "subscribing to the ready epoch");
  if (!r.ok()) return r.status();
  if ((*r)->type == REDIS_REPLY_ERROR) {
    return ErrorReplyStatus(e_, "subscribing to the ready epoch", std::string_view((*r)->str, (*r)->len));
  }
  return std::move(c).value();
}

Status ReadyWaiter::Drain(Connection& c, uint64_t epoch, bool* moved) {
  for (;;) {
    pollfd p{c.fd(), POLLIN, 0};
    const int n = ::poll(&p, 1, 0);
    if (n == 0) return Status::OK();
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || redisBufferRead(c.context()) != REDIS_OK) {
      return Status::Unavailable("redis at " + e_.Where() +
                                 ": the connection waiting for ready jobs was lost (" +
                                 c.context()->errstr + ")");
    }
    for (;;) {
      void* r = nullptr;
      if (redisGetReplyFromReader(c.context(), &r) != REDIS_OK) {
        return Status::Unavailable("redis at " + e_.Where() + ": a malformed message (" +
                                   c.context()->errstr + ")");
      }
      if (r == nullptr) break;
      Reply reply(static_cast<redisReply*>(r));
      uint64_t value = 0;
      if (MessageEpoch(reply.get(), &value) && value > epoch) *moved = true;
    }
    // EOF shows as readable with nothing read: redisBufferRead reports it as an error above.
  }
}

Status ReadyWaiter::Wait(uint64_t epoch, int64_t max_wait_ms,
                         const std::function<Result<uint64_t>()>& current) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_wait_ms);
  std::unique_ptr<Connection> c;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return Status::OK();
    ++active_;
    if (!idle_.empty()) {
      c = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  Status result = Status::OK();
  bool moved = false;
  if (!c) {
    auto s = Subscribed();
    if (s.ok()) {
      c = std::move(s).value();
    } else {
      result = s.status();
    }
  }
  // Messages left over from an earlier wait carry older epochs: drain them first.
  if (result.ok()) result = Drain(*c, epoch, &moved);
  if (result.ok() && !moved) {
    auto now_epoch = current();
    if (!now_epoch.ok()) {
      result = now_epoch.status();
    } else if (*now_epoch != epoch) {
      moved = true;
    }
  }
  while (result.ok() && !moved) {
    const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                             deadline - std::chrono::steady_clock::now())
                             .count();
    if (left <= 0) break;
    pollfd p[2] = {{c->fd(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int n = ::poll(p, 2, static_cast<int>(std::min<int64_t>(left, 60'000)));
    if (n < 0 && errno != EINTR) {
      result = Status::Internal("poll failed while waiting for ready jobs");
      break;
    }
    if (p[1].revents != 0) break;  // the store is closing
    if (p[0].revents != 0) result = Drain(*c, epoch, &moved);
  }
  std::lock_guard<std::mutex> l(mu_);
  if (c && result.ok() && !closed_) idle_.push_back(std::move(c));
  --active_;
  done_cv_.notify_all();
  return result;
}

}  // namespace jobstore::redis
