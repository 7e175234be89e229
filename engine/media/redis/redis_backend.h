// The Redis medium (MediaWiki's JobQueueRedis and JobQueueAggregatorRedis, exact and fenced):
// a Backend whose every operation is one call of a Lua function (scripts.h has the key layout),
// over a pool of hiredis connections (connection.h).
//
// Design, in short:
// - One hash tag per store, {P}: every key of a store is in one Redis Cluster slot, so each
//   operation, whatever queues it touches, is one atomic function call that Cluster accepts; the
//   ready-queue aggregator ({P}:ready) and the epoch change inside the same scripts, so they
//   are exact, and a push of any types and domains is whole (kWholeBatch). Stores scale out
//   by prefix: route types to several stores (a config), each its own slot.
// - The caller's clock: every function takes "now" as an argument.
// - Tokens: a claim writes a random 64-bit nonce and its deadline into the job's record;
//   ack, settle and touch present both, and the script compares them before it changes
//   anything. Settle reads the attempts (peek), lets the policy decide in C++, then moves the
//   job in a second script fenced by the same token: a token that changed in between (the
//   claim expired and was reclaimed, or was touched) gives StaleToken and changes nothing.
// - Type settings live in {P}:types; this process caches each type's for a second of the
//   caller's clock, so a change made by another process applies here within that second (at
//   once in this process; and a push reads the order inside its function, exactly).
#pragma once

#include <atomic>
#include <charconv>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connection.h"
#include "jobstore/backend.h"
#include "jobstore/options.h"
#include "ready_waiter.h"
#include "redis_address.h"
#include "scripts.h"

namespace jobstore::redis {

// The arguments of one script call, written in Redis's protocol as they are added (no copy
// of views to keep, no formatting pass later).
class Args {
 public:
  Args& Add(std::string_view v) {
    AppendBulk(&resp_, v);
    ++count_;
    return *this;
  }
  Args& Int(int64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return Add(std::string_view(buf, static_cast<size_t>(end - buf)));
  }
  const std::string& resp() const { return resp_; }
  size_t count() const { return count_; }

 private:
  std::string resp_;
  size_t count_ = 0;
};

class RedisBackend final : public Backend {
 public:
  // Connects, checks the server (Redis >= 6.2) and the store's meta key, creating the store
  // when it is absent (unless options.create_if_missing is false: NotFound), and reads the
  // persistence settings for capabilities().
  static Result<std::unique_ptr<RedisBackend>> Open(const Endpoint& endpoint,
                                                    const Options& options);
  ~RedisBackend() override;

  Capabilities capabilities() const override { return caps_; }
  Status Writable() const override { return writable_; }

  Result<PushResult> Push(const std::vector<NewJob>& jobs, int64_t now_ms) override;
  Result<std::vector<ClaimedJob>> Claim(const QueueRef& queue, size_t max_jobs, int64_t now_ms,
                                        int64_t deadline_ms) override;
  Result<std::vector<Status>> Ack(const std::vector<jobstore::Claim>& claims) override;
  Status Settle(const jobstore::Claim& claim, int64_t now_ms, const DecideFn& decide) override;
  Result<ClaimToken> Touch(const jobstore::Claim& claim, int64_t deadline_ms) override;
  Result<uint64_t> RepushAbandoned(const QueueRef& queue) override;
  Status RetryJob(const QueueRef& queue, JobId id) override;
  Status DeleteJob(const QueueRef& queue, JobId id) override;
  Status Clear(const QueueRef& queue) override;
  Status Maintain(const QueueRef& queue, const MaintenancePlan& plan,
                  MaintenanceReport* report) override;

  Result<QueueCounts> Counts(const QueueRef& queue) override;
  Result<std::vector<QueueStats>> Queues() override;
  Result<ListPage> List(const QueueRef& queue, JobState state, const std::string& cursor,
                        size_t limit) override;
  Result<JobInfo> Inspect(const QueueRef& queue, JobId id) override;
  Result<std::vector<std::string>> Check() override;

  Result<std::vector<QueueRef>> ReadyQueues() override;
  Result<std::optional<QueueRef>> PickReadyQueue(const ReadyFilter& filter) override;
  Result<uint64_t> ReadyEpoch() override;
  Status WaitForReady(uint64_t epoch, int64_t max_wait_ms) override;

  Result<TypeSettings> GetTypeSettings(const std::string& type) override;
  Status SetTypeSettings(const std::string& type, const TypeSettings& settings) override;
  Result<std::vector<std::string>> Types() override;

  const Endpoint& endpoint() const { return e_; }

 private:
  RedisBackend(const Endpoint& e, std::string store_id);

  // Calls one function with KEYS[1] = {P}:meta, loading the library when the server lacks
  // it. An error reply is mapped (ErrorReplyStatus); `what` names the operation in every
  // message.
  Result<Reply> Run(ScriptId id, const Args& args, std::string_view what);
  // FUNCTION LOAD of the library (already there is fine).
  Status LoadLibrary(Connection& c);
  // One plain command, with the same error mapping.
  Result<Reply> Cmd(const Command& command, std::string_view what);
  // Pipelines one call of function `id` per element of `args` (Check).
  Status RunMany(ScriptId id, const std::vector<Args>& args, std::vector<Reply>* replies,
                 std::string_view what);

  // Moves the claimed jobs fenced by their tokens (the kMove script); one code each.
  struct Move {
    JobId id;
    ClaimToken token;
    Disposition d;
  };
  Result<std::vector<int64_t>> MoveClaimed(const QueueRef& queue, const std::vector<Move>& moves,
                                           int64_t now_ms, std::string_view what);
  // A claimed job C++ could not decode (the scripts' check passed): abandoned with the error.
  Status Quarantine(const QueueRef& queue, JobId id, const ClaimToken& token, int64_t now_ms,
                    const std::string& why);
  // The Status of a per-claim code of the ack / move / touch functions: 0 OK, 1 NotFound,
  // 2 StaleToken.
  Status ClaimStatus(int64_t code, const QueueRef& queue, JobId id) const;
  Status Missing(const QueueRef& queue, JobId id) const;
  // A stored job as a listing shows it, from the elements a function returned for it: state,
  // record, attempts, token, claimed at, error, score.
  Result<JobInfo> Describe(const QueueRef& queue, JobId id, redisReply* const* fields,
                           std::string_view what) const;
  std::string Key(std::string_view kind) const { return "{" + e_.prefix + "}:" + std::string(kind); }

  const Endpoint e_;
  const std::string meta_key_;  // {P}:meta
  Pool pool_;
  ReadyWaiter waiter_;
  Capabilities caps_;
  Status writable_;

  // Type settings as last read, and when, by the caller's clock (the latest now_ms a call
  // brought: this medium reads no clock of its own). A claim takes the type's order from here,
  // not from Redis: reading it there cost a command per claim, a tenth of one.
  struct CachedSettings {
    TypeSettings settings;
    int64_t read_at_ms;
  };
  static constexpr int64_t kSettingsFreshForMs = 1000;
  void SawTime(int64_t now_ms) { now_ms_.store(now_ms, std::memory_order_relaxed); }
  std::atomic<int64_t> now_ms_{INT64_MIN};
  std::mutex settings_mu_;
  std::map<std::string, CachedSettings> settings_;  // guarded by settings_mu_
};

// "DOMAIN/TYPE": a queue's id in key names and in the ready set.
std::string QueueId(const QueueRef& queue);
// The queue a queue id names; false for one that is not DOMAIN/TYPE.
bool ParseQueueId(std::string_view qid, QueueRef* queue);

}  // namespace jobstore::redis
