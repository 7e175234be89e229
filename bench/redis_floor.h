// The floor on Redis: the minimal queue in MediaWiki's JobQueueRedis layout that jobstore's
// Redis medium is measured against, on the same server in the same run.
//   push  = one script per batch: LPUSH l-unclaimed id + HSET h-data id payload, per job
//           (ids made by the client, as MediaWiki's UUIDs are)
//   claim = one script: RPOP l-unclaimed; ZADD z-claimed now id; HINCRBY h-attempts id 1;
//           HGET h-data id
//   ack   = one script: ZREM z-claimed id, and when it was there HDEL h-data id and
//           HDEL h-attempts id (MediaWiki's ack: without the second HDEL attempts would leak)
// No tokens, no dedup, no ready index, no counts: what the floor leaves out is what jobstore
// adds. One connection per thread (a small pool), EVALSHA like jobstore.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "jobstore/status.h"

struct redisContext;

namespace jobstore::bench {

// A raw connection to the Redis server of a redis:// or redis+unix: address.
class RedisLink {
 public:
  static Status Open(const std::string& address, std::unique_ptr<RedisLink>* out);
  ~RedisLink();
  // One command; the reply as text (a bulk or status string, an integer in decimal, or the
  // elements joined by '\n'). Errors are statuses.
  Result<std::string> Call(const std::vector<std::string>& args);
  // INFO memory's used_memory, in bytes.
  Result<int64_t> UsedMemory();
  // INFO cpu's used_cpu_user + used_cpu_sys: the server's CPU time so far, in seconds.
  Result<double> ServerCpuSeconds();
  // "appendonly yes, appendfsync always" (or why it is unknown).
  std::string Persistence();

 private:
  RedisLink() = default;
  redisContext* c_ = nullptr;
  std::vector<std::string> argv_storage_;
};

class RedisFloor {
 public:
  static Status Open(const std::string& address, std::unique_ptr<RedisFloor>* out);
  Status Push(const std::vector<std::string>& payloads, std::vector<uint64_t>* ids);
  Status Claim(uint64_t* id, std::string* payload, bool* found);
  Status Ack(uint64_t id);
  // Deletes the floor's keys.
  Status Clear();

 private:
  RedisFloor() = default;
  // A connection for the calling thread's call, returned after.
  std::unique_ptr<RedisLink> Take(Status* s);
  void Give(std::unique_ptr<RedisLink> link);
  Result<std::string> Eval(const std::string& sha, const std::vector<std::string>& args);

  std::string address_;
  std::string push_sha_, claim_sha_, ack_sha_;
  std::mutex mu_;
  std::vector<std::unique_ptr<RedisLink>> idle_;
  uint64_t next_id_ = 0;  // guarded by mu_
};

}  // namespace jobstore::bench
