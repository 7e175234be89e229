// The transitions of the Redis medium: push, claim, ack, settle, touch, the administrative
// moves, and maintenance. Each is one script (two for settle and reclaim, fenced by the token).
#include <map>
#include <random>

#include "record.h"
#include "redis_backend.h"
#include "replies.h"

namespace jobstore::redis {
namespace {

// A fresh claim nonce: random, never 0 (0 marks "not claimed" in a record).
uint64_t NewNonce() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t n;
  do {
    n = rng();
  } while (n == 0);
  return n;
}

const char* MoveTarget(Disposition::To to) {
  switch (to) {
    case Disposition::To::kReady: return "r";
    case Disposition::To::kDelayed: return "d";
    case Disposition::To::kAbandoned: return "a";
  }
  return "r";
}

std::string JobsText(size_t n, const char* verb) {
  return std::string(verb) + " of " + std::to_string(n) + (n == 1 ? " job" : " jobs");
}

}  // namespace

Result<PushResult> RedisBackend::Push(const std::vector<NewJob>& jobs, int64_t now_ms) {
  SawTime(now_ms);
  PushResult result;
  result.ids.resize(jobs.size());
  result.duplicate.assign(jobs.size(), false);
  if (jobs.empty()) return result;
  // One group per queue, in the order the queues first appear.
  std::map<std::pair<std::string_view, std::string_view>, size_t> group_of;
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const JobSpec& spec = *jobs[i].spec;
    auto [it, added] = group_of.emplace(std::make_pair(std::string_view(spec.domain),
                                                       std::string_view(spec.type)),
                                        groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  // A restore (never mixed with a push) sends each job's state beside its record.
  const bool restoring = jobs[0].restore != nullptr;
  std::vector<std::string> records(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    records[i] = EncodeNew(jobs[i], restoring ? jobs[i].restore->enqueued_at_ms : now_ms);
  }
  Args a;
  a.Int(now_ms).Int(static_cast<int64_t>(groups.size()));
  for (const std::vector<size_t>& g : groups) {
    const JobSpec& spec = *jobs[g[0]].spec;
    a.Add(QueueId({spec.domain, spec.type})).Add(spec.type).Int(static_cast<int64_t>(g.size()));
    for (size_t i : g) {
      if (const RestoredState* r = jobs[i].restore) {
        a.Int(static_cast<int64_t>(r->id));
        a.Add(r->state == JobState::kAbandoned ? "a" : r->state == JobState::kDelayed ? "d" : "r");
        a.Int(r->attempts).Int(r->claimed_at_ms).Int(r->abandoned_at_ms).Add(r->last_error);
      }
      a.Add(records[i]);
    }
  }
  const std::string what = JobsText(jobs.size(), restoring ? "restore" : "push");
  auto r = Run(restoring ? ScriptId::kRestore : ScriptId::kPush, a, what);
  if (!r.ok()) return r.status();
  if (!IsArray(r->get()) || (*r)->elements != jobs.size()) return BadShape(what);
  size_t k = 0;
  for (const std::vector<size_t>& g : groups) {
    for (size_t i : g) {
      int64_t v = 0;
      if (!AsInt((*r)->element[k++], &v) || v == 0) return BadShape(what);
      if (v > 0) {
        result.ids[i] = static_cast<JobId>(v);
        ++result.pushed;
      } else {
        result.ids[i] = static_cast<JobId>(-v);
        result.duplicate[i] = true;
        ++result.duplicates;
      }
    }
  }
  return result;
}

Result<std::vector<ClaimedJob>> RedisBackend::Claim(const QueueRef& queue, size_t max_jobs,
                                                    int64_t now_ms, int64_t deadline_ms) {
  SawTime(now_ms);
  // The order from the settings cache (the policy has just read the TTL through it).
  auto settings = GetTypeSettings(queue.type);
  if (!settings.ok()) return settings.status();
  std::vector<ClaimToken> tokens(max_jobs);
  Args a;
  a.Int(now_ms).Add(QueueId(queue)).Add(OrderName(settings->order));
  a.Int(static_cast<int64_t>(max_jobs));
  a.Int(deadline_ms);
  for (ClaimToken& t : tokens) {
    t = ClaimToken{deadline_ms, NewNonce()};
    a.Add(TokenBytes(t));
  }
  // The hot paths name their operation with a literal: no string is built for a call that
  // succeeds (the claim's statuses name the job).
  const std::string_view what = "claim";
  auto r = Run(ScriptId::kClaim, a, what);
  if (!r.ok()) return r.status();
  const redisReply* reply = r->get();
  if (!IsArray(reply) || reply->elements % 5 != 0) return BadShape(what);
  std::vector<ClaimedJob> out;
  out.reserve(reply->elements / 5);
  for (size_t i = 0; i + 4 < reply->elements; i += 5) {
    int64_t id = 0, attempts = 0, which = 0, superseded = 0;
    std::string_view bytes;
    if (!AsInt(reply->element[i], &id) || !AsString(reply->element[i + 1], &bytes) ||
        !AsInt(reply->element[i + 2], &attempts) || !AsInt(reply->element[i + 3], &which) ||
        !AsInt(reply->element[i + 4], &superseded) || which < 1 ||
        static_cast<size_t>(which) > tokens.size()) {
      return BadShape(what);
    }
    const ClaimToken& token = tokens[static_cast<size_t>(which) - 1];
    auto rec = Decode(bytes);
    if (!rec.ok()) {
      // The functions' check passed but this decoder disagrees: never hand the job out.
      Status s = Quarantine(queue, static_cast<JobId>(id), token, now_ms,
                            "corrupt record: " + rec.status().message());
      if (!s.ok() && out.empty()) return s;
      continue;
    }
    ClaimedJob job;
    job.claim = {queue, static_cast<JobId>(id), token};
    job.params = std::move(rec->params);
    job.attempts = static_cast<uint32_t>(attempts);
    job.priority = rec->priority;
    job.enqueued_at_ms = rec->enqueued_at_ms;
    job.root_signature = std::move(rec->root_signature);
    job.root_timestamp_ms = rec->root_timestamp_ms;
    job.superseded = superseded != 0;
    out.push_back(std::move(job));
  }
  return out;
}

Result<std::vector<Status>> RedisBackend::Ack(const std::vector<jobstore::Claim>& claims) {
  Args a;
  a.Int(static_cast<int64_t>(claims.size()));
  for (const jobstore::Claim& c : claims) {
    a.Add(QueueId(c.queue)).Int(static_cast<int64_t>(c.id)).Add(TokenBytes(c.token));
  }
  const std::string_view what = "ack";
  auto r = Run(ScriptId::kAck, a, what);
  if (!r.ok()) return r.status();
  if (!IsArray(r->get()) || (*r)->elements != claims.size()) return BadShape(what);
  std::vector<Status> out;
  out.reserve(claims.size());
  for (size_t i = 0; i < claims.size(); ++i) {
    int64_t code = 0;
    if (!AsInt((*r)->element[i], &code)) return BadShape(what);
    out.push_back(ClaimStatus(code, claims[i].queue, claims[i].id));
  }
  return out;
}

Result<std::vector<int64_t>> RedisBackend::MoveClaimed(const QueueRef& queue,
                                                       const std::vector<Move>& moves,
                                                       int64_t now_ms, std::string_view what) {
  Args a;
  a.Int(now_ms).Add(QueueId(queue)).Add(queue.type).Int(static_cast<int64_t>(moves.size()));
  for (const Move& m : moves) {
    a.Int(static_cast<int64_t>(m.id)).Add(TokenBytes(m.token)).Add(MoveTarget(m.d.to));
    a.Int(m.d.release_at_ms).Add(m.d.error);
  }
  auto r = Run(ScriptId::kMove, a, what);
  if (!r.ok()) return r.status();
  if (!IsArray(r->get()) || (*r)->elements != moves.size()) return BadShape(what);
  std::vector<int64_t> codes(moves.size());
  for (size_t i = 0; i < moves.size(); ++i) {
    if (!AsInt((*r)->element[i], &codes[i])) return BadShape(what);
  }
  return codes;
}

Status RedisBackend::Quarantine(const QueueRef& queue, JobId id, const ClaimToken& token,
                                int64_t now_ms, const std::string& why) {
  Disposition d;
  d.to = Disposition::To::kAbandoned;
  d.error = why;
  auto codes = MoveClaimed(queue, {{id, token, d}}, now_ms,
                           "moving aside job " + std::to_string(id));
  if (!codes.ok()) return codes.status();
  return ClaimStatus((*codes)[0], queue, id);
}

Status RedisBackend::Settle(const jobstore::Claim& claim, int64_t now_ms, const DecideFn& decide) {
  SawTime(now_ms);
  const std::string_view what = "release";
  Args a;
  a.Add(QueueId(claim.queue)).Int(static_cast<int64_t>(claim.id)).Add(TokenBytes(claim.token));
  auto r = Run(ScriptId::kPeek, a, what);
  if (!r.ok()) return r.status();
  int64_t code = 0, attempts = 0;
  if (!IsArray(r->get(), 2) || !AsInt((*r)->element[0], &code) ||
      !AsInt((*r)->element[1], &attempts)) {
    return BadShape(what);
  }
  if (code != 0) return ClaimStatus(code, claim.queue, claim.id);
  // The decision is the policy's; the move below is fenced by the same token, so a claim
  // that changed since the peek (reclaimed, touched) makes it StaleToken and changes nothing.
  const Disposition d = decide(static_cast<uint32_t>(attempts));
  auto codes = MoveClaimed(claim.queue, {{claim.id, claim.token, d}}, now_ms, what);
  if (!codes.ok()) return codes.status();
  return ClaimStatus((*codes)[0], claim.queue, claim.id);
}

Result<ClaimToken> RedisBackend::Touch(const jobstore::Claim& claim, int64_t deadline_ms) {
  // A lease moved to the same deadline keeps its token.
  const ClaimToken fresh = deadline_ms == claim.token.deadline_ms
                               ? claim.token
                               : ClaimToken{deadline_ms, NewNonce()};
  Args a;
  a.Add(QueueId(claim.queue)).Int(static_cast<int64_t>(claim.id)).Add(TokenBytes(claim.token));
  a.Int(deadline_ms).Add(TokenBytes(fresh));
  const std::string_view what = "touch";
  auto r = Run(ScriptId::kTouch, a, what);
  if (!r.ok()) return r.status();
  int64_t code = 0;
  if (!IsArray(r->get(), 1) || !AsInt((*r)->element[0], &code)) return BadShape(what);
  if (code != 0) return ClaimStatus(code, claim.queue, claim.id);
  std::string_view current;
  ClaimToken now;
  if ((*r)->elements != 2 || !AsString((*r)->element[1], &current) ||
      !ParseToken(current, &now)) {
    return BadShape(what);
  }
  return now;
}

Result<uint64_t> RedisBackend::RepushAbandoned(const QueueRef& queue) {
  Args a;
  a.Add(QueueId(queue)).Add(queue.type);
  const std::string what = "repush of the abandoned jobs of '" + queue.type + "'";
  auto r = Run(ScriptId::kRepush, a, what);
  if (!r.ok()) return r.status();
  int64_t n = 0;
  if (!AsInt(r->get(), &n) || n < 0) return BadShape(what);
  return static_cast<uint64_t>(n);
}

Status RedisBackend::RetryJob(const QueueRef& queue, JobId id) {
  Args a;
  a.Add(QueueId(queue)).Add(queue.type).Int(static_cast<int64_t>(id));
  const std::string what = "retry of job " + std::to_string(id);
  auto r = Run(ScriptId::kRetry, a, what);
  if (!r.ok()) return r.status();
  int64_t code = 0;
  if (!IsArray(r->get(), 1) || !AsInt((*r)->element[0], &code)) return BadShape(what);
  if (code == 0) return Status::OK();
  if (code == 1) return Missing(queue, id);
  std::string_view state;
  if ((*r)->elements != 2 || !AsString((*r)->element[1], &state)) return BadShape(what);
  const char* name = state == "cl" ? "claimed" : state == "dl" ? "delayed" : "ready";
  return Status::InvalidArgument("job " + std::to_string(id) + " of '" + queue.type + "' is " +
                                 name + ", not abandoned; only an abandoned job can be retried");
}

Status RedisBackend::DeleteJob(const QueueRef& queue, JobId id) {
  Args a;
  a.Add(QueueId(queue)).Int(static_cast<int64_t>(id));
  const std::string what = "delete of job " + std::to_string(id);
  auto r = Run(ScriptId::kDelete, a, what);
  if (!r.ok()) return r.status();
  int64_t code = 0;
  if (!AsInt(r->get(), &code)) return BadShape(what);
  return code == 0 ? Status::OK() : Missing(queue, id);
}

Status RedisBackend::Clear(const QueueRef& queue) {
  Args a;
  a.Add(QueueId(queue));
  auto r = Run(ScriptId::kClear, a, "clear of '" + queue.type + "'");
  return r.ok() ? Status::OK() : r.status();
}

Status RedisBackend::Maintain(const QueueRef& queue, const MaintenancePlan& plan,
                              MaintenanceReport* report) {
  SawTime(plan.now_ms);
  Args a;
  a.Int(plan.now_ms).Add(QueueId(queue)).Add(queue.type).Int(static_cast<int64_t>(plan.limit));
  a.Add(plan.promote ? "1" : "0").Add(plan.reclaim && plan.on_expired ? "1" : "0");
  a.Add(plan.prune_before_ms == INT64_MIN ? "" : std::to_string(plan.prune_before_ms));
  a.Add(plan.roots_before_ms == INT64_MIN ? "" : std::to_string(plan.roots_before_ms));
  const std::string what = "maintenance of '" + queue.type + "' in domain '" + queue.domain + "'";
  auto r = Run(ScriptId::kMaintain, a, what);
  if (!r.ok()) return r.status();
  const redisReply* reply = r->get();
  int64_t n[5];
  if (!IsArray(reply, 5) || (reply->elements - 5) % 3 != 0) return BadShape(what);
  for (int i = 0; i < 5; ++i) {
    if (!AsInt(reply->element[i], &n[i]) || n[i] < 0) return BadShape(what);
  }
  report->promoted += static_cast<uint64_t>(n[0]);
  report->pruned += static_cast<uint64_t>(n[1]);
  report->roots_expired += static_cast<uint64_t>(n[2]);
  report->abandoned += static_cast<uint64_t>(n[3]);
  if (n[4] != 0) report->more = true;
  // The expired claims: the policy decides each, then one fenced move takes them all.
  std::vector<Move> moves;
  for (size_t i = 5; i + 2 < reply->elements; i += 3) {
    int64_t id = 0, attempts = 0;
    std::string_view token;
    ClaimToken t;
    if (!AsInt(reply->element[i], &id) || !AsInt(reply->element[i + 1], &attempts) ||
        !AsString(reply->element[i + 2], &token) || !ParseToken(token, &t)) {
      return BadShape(what);
    }
    moves.push_back({static_cast<JobId>(id), t, plan.on_expired(static_cast<uint32_t>(attempts))});
  }
  if (moves.empty()) return Status::OK();
  auto codes = MoveClaimed(queue, moves, plan.now_ms, what);
  if (!codes.ok()) return codes.status();
  for (size_t i = 0; i < moves.size(); ++i) {
    if ((*codes)[i] != 0) continue;  // acked or touched since: nothing to reclaim
    if (moves[i].d.to == Disposition::To::kAbandoned) {
      ++report->abandoned;
    } else {
      ++report->reclaimed;
    }
  }
  return Status::OK();
}

}  // namespace jobstore::redis
