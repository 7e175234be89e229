#include "redis_floor.h"

#include <hiredis.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace jobstore::bench {
namespace {

// The floor's keys: one hash tag, like jobstore's, so both are one slot.
const char* kUnclaimed = "{floor}:l-unclaimed";
const char* kClaimed = "{floor}:z-claimed";
const char* kAttempts = "{floor}:h-attempts";
const char* kData = "{floor}:h-data";

const char* kPushScript = R"lua(
for i = 1, #ARGV, 2 do
  redis.call('LPUSH', KEYS[1], ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
)lua";

const char* kClaimScript = R"lua(
local id = redis.call('RPOP', KEYS[1])
if not id then return false end
redis.call('ZADD', KEYS[2], ARGV[1], id)
redis.call('HINCRBY', KEYS[3], id, 1)
return {id, redis.call('HGET', KEYS[4], id)}
)lua";

const char* kAckScript = R"lua(
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])
)lua";

std::string ReplyText(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR: return std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (size_t i = 0; i < r->elements; ++i) {
        if (i) out += '\n';
        out += ReplyText(r->element[i]);
      }
      return out;
    }
  }
  return "";
}

}  // namespace

Status RedisLink::Open(const std::string& address, std::unique_ptr<RedisLink>* out) {
  // redis+unix:PATH[?db=N...] or redis://HOST[:PORT][/DB][?...]; no password (bench servers).
  std::string rest, db = "0";
  std::unique_ptr<RedisLink> link(new RedisLink());
  timeval tv{10, 0};
  if (address.rfind("redis+unix:", 0) == 0) {
    rest = address.substr(11);
    size_t q = rest.find('?');
    std::string query = q == std::string::npos ? "" : rest.substr(q + 1);
    rest = rest.substr(0, q);
    if (size_t d = query.find("db="); d != std::string::npos) {
      db = query.substr(d + 3, query.find('&', d) - d - 3);
    }
    link->c_ = redisConnectUnixWithTimeout(rest.c_str(), tv);
  } else if (address.rfind("redis://", 0) == 0) {
    rest = address.substr(8);
    rest = rest.substr(0, rest.find('?'));
    if (size_t s = rest.find('/'); s != std::string::npos) {
      db = rest.substr(s + 1);
      rest = rest.substr(0, s);
    }
    int port = 6379;
    if (size_t c = rest.rfind(':'); c != std::string::npos) {
      port = std::atoi(rest.c_str() + c + 1);
      rest = rest.substr(0, c);
    }
    link->c_ = redisConnectWithTimeout(rest.c_str(), port, tv);
  } else {
    return Status::InvalidArgument("the Redis floor needs a redis:// or redis+unix: address");
  }
  if (!link->c_ || link->c_->err) {
    return Status::Unavailable("cannot connect to " + address + ": " +
                               (link->c_ ? link->c_->errstr : "out of memory"));
  }
  redisSetTimeout(link->c_, tv);
  if (db != "0") {
    auto r = link->Call({"SELECT", db});
    if (!r.ok()) return r.status();
  }
  *out = std::move(link);
  return Status::OK();
}

RedisLink::~RedisLink() {
  if (c_) redisFree(c_);
}

Result<std::string> RedisLink::Call(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (!r) return Status::Unavailable(std::string("redis: ") + c_->errstr);
  std::string text = ReplyText(r);
  const bool error = r->type == REDIS_REPLY_ERROR;
  const bool nil = r->type == REDIS_REPLY_NIL;
  freeReplyObject(r);
  if (error) return Status::IOError("redis: " + text);
  if (nil) return Status::NotFound("nil");
  return text;
}

Result<int64_t> RedisLink::UsedMemory() {
  auto info = Call({"INFO", "memory"});
  if (!info.ok()) return info.status();
  const std::string key = "used_memory:";
  size_t at = info->find(key);
  if (at == std::string::npos) return Status::IOError("INFO memory has no used_memory");
  return static_cast<int64_t>(std::strtoll(info->c_str() + at + key.size(), nullptr, 10));
}

Result<double> RedisLink::ServerCpuSeconds() {
  auto info = Call({"INFO", "cpu"});
  if (!info.ok()) return info.status();
  double total = 0;
  for (const char* key : {"used_cpu_user:", "used_cpu_sys:"}) {
    size_t at = info->find(key);
    if (at == std::string::npos) return Status::IOError("INFO cpu lacks " + std::string(key));
    total += std::strtod(info->c_str() + at + std::strlen(key), nullptr);
  }
  return total;
}

std::string RedisLink::Persistence() {
  auto aof = Call({"CONFIG", "GET", "appendonly"});
  auto fsync = Call({"CONFIG", "GET", "appendfsync"});
  if (!aof.ok() || !fsync.ok()) return "persistence unknown";
  auto value = [](const std::string& s) { return s.substr(s.find('\n') + 1); };
  return "appendonly " + value(*aof) + ", appendfsync " + value(*fsync);
}

Status RedisFloor::Open(const std::string& address, std::unique_ptr<RedisFloor>* out) {
  std::unique_ptr<RedisFloor> f(new RedisFloor());
  f->address_ = address;
  Status s;
  auto link = f->Take(&s);
  if (!link) return s;
  for (auto [src, sha] : {std::pair{kPushScript, &f->push_sha_}, {kClaimScript, &f->claim_sha_},
                          {kAckScript, &f->ack_sha_}}) {
    auto r = link->Call({"SCRIPT", "LOAD", src});
    if (!r.ok()) return r.status();
    *sha = *r;
  }
  f->Give(std::move(link));
  s = f->Clear();
  if (!s.ok()) return s;
  *out = std::move(f);
  return Status::OK();
}

std::unique_ptr<RedisLink> RedisFloor::Take(Status* s) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_.empty()) {
      auto link = std::move(idle_.back());
      idle_.pop_back();
      return link;
    }
  }
  std::unique_ptr<RedisLink> link;
  *s = RedisLink::Open(address_, &link);
  return link;
}

void RedisFloor::Give(std::unique_ptr<RedisLink> link) {
  std::lock_guard<std::mutex> l(mu_);
  idle_.push_back(std::move(link));
}

Result<std::string> RedisFloor::Eval(const std::string& sha, const std::vector<std::string>& args) {
  Status s;
  auto link = Take(&s);
  if (!link) return s;
  auto r = link->Call(args);
  Give(std::move(link));
  return r;
}

Status RedisFloor::Push(const std::vector<std::string>& payloads, std::vector<uint64_t>* ids) {
  std::vector<std::string> args = {"EVALSHA", push_sha_, "2", kUnclaimed, kData};
  uint64_t first;
  {
    std::lock_guard<std::mutex> l(mu_);
    first = next_id_ + 1;
    next_id_ += payloads.size();
  }
  for (size_t i = 0; i < payloads.size(); ++i) {
    ids->push_back(first + i);
    args.push_back(std::to_string(first + i));
    args.push_back(payloads[i]);
  }
  auto r = Eval(push_sha_, args);
  return r.ok() ? Status::OK() : r.status();
}

Status RedisFloor::Claim(uint64_t* id, std::string* payload, bool* found) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto r = Eval(claim_sha_, {"EVALSHA", claim_sha_, "4", kUnclaimed, kClaimed, kAttempts, kData,
                             std::to_string(now)});
  if (!r.ok()) {
    *found = false;
    return r.status().IsNotFound() ? Status::OK() : r.status();
  }
  size_t nl = r->find('\n');
  *id = std::strtoull(r->c_str(), nullptr, 10);
  *payload = r->substr(nl + 1);
  *found = true;
  return Status::OK();
}

Status RedisFloor::Ack(uint64_t id) {
  auto r = Eval(ack_sha_, {"EVALSHA", ack_sha_, "3", kClaimed, kData, kAttempts, std::to_string(id)});
  if (!r.ok()) return r.status();
  return *r == "1" ? Status::OK() : Status::NotFound("floor job " + std::to_string(id));
}

Status RedisFloor::Clear() {
  auto r = Eval("", {"DEL", kUnclaimed, kClaimed, kAttempts, kData});
  return r.ok() ? Status::OK() : r.status();
}

}  // namespace jobstore::bench
