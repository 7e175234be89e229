// The reads of the Redis medium: counts, queues, listings, one job, and Check.
#include <algorithm>
#include <set>
#include <tuple>

#include "jobstore/validation.h"
#include "record.h"
#include "redis_backend.h"
#include "replies.h"
#include "settings_text.h"

namespace jobstore::redis {
namespace {

const char* StateArg(JobState state) {
  switch (state) {
    case JobState::kReady: return "ready";
    case JobState::kClaimed: return "cl";
    case JobState::kDelayed: return "dl";
    case JobState::kAbandoned: return "ab";
  }
  return "ready";
}

bool ParseStateArg(std::string_view s, JobState* state) {
  if (s == "ready") *state = JobState::kReady;
  else if (s == "cl") *state = JobState::kClaimed;
  else if (s == "dl") *state = JobState::kDelayed;
  else if (s == "ab") *state = JobState::kAbandoned;
  else return false;
  return true;
}

bool CountsOf(const redisReply* const* e, QueueCounts* c) {
  int64_t v[4];
  for (int i = 0; i < 4; ++i) {
    if (!AsInt(e[i], &v[i]) || v[i] < 0) return false;
  }
  *c = {static_cast<uint64_t>(v[0]), static_cast<uint64_t>(v[1]), static_cast<uint64_t>(v[2]),
        static_cast<uint64_t>(v[3])};
  return true;
}

std::string Where(const QueueRef& q) {
  return "queue '" + q.type + "' domain '" + q.domain + "': ";
}

}  // namespace

Result<JobInfo> RedisBackend::Describe(const QueueRef& queue, JobId id, redisReply* const* f,
                                       std::string_view what) const {
  std::string_view state, attempts, token, claimed_at, error, score;
  if (!AsString(f[0], &state) || !AsString(f[2], &attempts) || !AsString(f[3], &token) ||
      !AsString(f[4], &claimed_at) || !AsString(f[5], &error) || !AsString(f[6], &score)) {
    return BadShape(what);
  }
  JobInfo info;
  info.queue = queue;
  info.id = id;
  if (!ParseStateArg(state, &info.state)) return BadShape(what);
  info.last_error = std::string(error);
  int64_t v = 0;
  if (ParseScore(attempts, &v) && v >= 0) info.attempts = static_cast<uint32_t>(v);
  if (ParseScore(claimed_at, &v)) info.claimed_at_ms = v;
  ClaimToken t;
  if (info.state == JobState::kClaimed && ParseToken(token, &t)) {
    info.deadline_ms = t.deadline_ms;
    info.claim_token = t;
  }
  if (info.state == JobState::kAbandoned && ParseScore(score, &v)) info.abandoned_at_ms = v;
  std::string_view bytes;
  Result<Record> rec = Status::Corruption("job record is missing");
  if (AsString(f[1], &bytes)) rec = Decode(bytes);
  if (!rec.ok()) {
    info.corrupt = true;
    if (info.last_error.empty()) info.last_error = rec.status().message();
    return info;
  }
  info.params = std::move(rec->params);
  info.priority = rec->priority;
  info.enqueued_at_ms = rec->enqueued_at_ms;
  // A delayed job's release time is its place in the delayed set (a release with a delay
  // moves it); otherwise the time it was pushed with.
  info.release_at_ms = rec->release_at_ms;
  if (info.state == JobState::kDelayed && ParseScore(score, &v)) info.release_at_ms = v;
  info.root_signature = std::move(rec->root_signature);
  info.root_timestamp_ms = rec->root_timestamp_ms;
  info.dedup = (rec->flags & kFlagDedup) != 0;
  return info;
}

Result<QueueCounts> RedisBackend::Counts(const QueueRef& queue) {
  Args a;
  a.Add(QueueId(queue));
  const std::string what = "counts of '" + queue.type + "'";
  auto r = Run(ScriptId::kCounts, a, what);
  if (!r.ok()) return r.status();
  QueueCounts c;
  if (!IsArray(r->get(), 4) || !CountsOf((*r)->element, &c)) return BadShape(what);
  return c;
}

Result<std::vector<QueueStats>> RedisBackend::Queues() {
  auto r = Run(ScriptId::kQueues, Args(), "listing queues");
  if (!r.ok()) return r.status();
  if (!IsArray(r->get()) || (*r)->elements % 5 != 0) return BadShape("listing queues");
  std::vector<QueueStats> out;
  for (size_t i = 0; i < (*r)->elements; i += 5) {
    std::string_view qid;
    QueueStats q;
    if (!AsString((*r)->element[i], &qid) || !CountsOf((*r)->element + i + 1, &q.counts)) {
      return BadShape("listing queues");
    }
    if (!ParseQueueId(qid, &q.queue)) continue;  // Check reports it
    out.push_back(std::move(q));
  }
  std::sort(out.begin(), out.end(), [](const QueueStats& a, const QueueStats& b) {
    return std::tie(a.queue.domain, a.queue.type) < std::tie(b.queue.domain, b.queue.type);
  });
  return out;
}

Result<ListPage> RedisBackend::List(const QueueRef& queue, JobState state,
                                    const std::string& cursor, size_t limit) {
  Args a;
  a.Add(QueueId(queue)).Add(queue.type).Add(StateArg(state)).Add(cursor);
  a.Int(static_cast<int64_t>(limit));
  const std::string what = std::string("listing the ") + JobStateName(state) + " jobs of '" +
                           queue.type + "'";
  auto r = Run(ScriptId::kList, a, what);
  if (!r.ok()) return r.status();
  const redisReply* reply = r->get();
  if (!IsArray(reply, 1) || (reply->elements - 1) % 8 != 0) return BadShape(what);
  std::string_view next;
  if (!AsString(reply->element[0], &next)) {
    return Status::InvalidArgument("list cursor '" + Printable(cursor, 80) +
                                   "' does not belong to this queue and state; pass the "
                                   "next_cursor of the previous page");
  }
  ListPage page;
  page.next_cursor = std::string(next);
  for (size_t i = 1; i + 7 < reply->elements; i += 8) {
    int64_t id = 0;
    if (!AsInt(reply->element[i], &id)) return BadShape(what);
    auto info = Describe(queue, static_cast<JobId>(id), reply->element + i + 1, what);
    if (!info.ok()) return info.status();
    page.jobs.push_back(std::move(info).value());
  }
  return page;
}

Result<JobInfo> RedisBackend::Inspect(const QueueRef& queue, JobId id) {
  Args a;
  a.Add(QueueId(queue)).Int(static_cast<int64_t>(id));
  const std::string what = "inspecting job " + std::to_string(id);
  auto r = Run(ScriptId::kInspect, a, what);
  if (!r.ok()) return r.status();
  if (!IsArray(r->get())) return BadShape(what);
  if ((*r)->elements == 0) return Missing(queue, id);
  if ((*r)->elements != 7) return BadShape(what);
  return Describe(queue, id, (*r)->element, what);
}

Result<std::vector<std::string>> RedisBackend::Check() {
  std::vector<std::string> bad;
  // The store's own keys: their types, the settings, what was moved aside, the queue sets.
  struct KeyKind {
    const char* kind;
    const char* want;
  };
  const KeyKind kinds[] = {{"meta", "hash"},   {"ids", "string"}, {"types", "hash"},
                           {"queues", "set"},  {"ready", "set"},  {"epoch", "string"},
                           {"aside", "hash"}};
  std::vector<Reply> replies;
  std::set<std::string> queues, ready;
  {
  std::vector<Command> cmds;
  std::vector<std::string> keys;
  for (const KeyKind& k : kinds) keys.push_back(Key(k.kind));
  for (const std::string& k : keys) cmds.push_back({"TYPE", k});
  auto lease = pool_.Take();
  if (!lease.ok()) return lease.status().Prefixed("check was not applied");
  Status s = (*lease)->Exchange(cmds, &replies, "check");
  if (!s.ok()) return s;
  std::set<std::string> wrong;
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string_view t;
    if (!AsString(replies[i].get(), &t)) return BadShape("check");
    if (t != "none" && t != kinds[i].want) {
      bad.push_back("key " + keys[i] + " holds a " + std::string(t) + ", not a " + kinds[i].want);
      wrong.insert(kinds[i].kind);
    }
  }
  cmds.clear();
  const char* reads[] = {"types", "aside", "queues", "ready"};
  std::vector<std::string> read_keys;  // the commands view these: built first, then kept
  for (const char* k : reads) read_keys.push_back(Key(k));
  for (size_t i = 0; i < std::size(reads); ++i) {
    const std::string_view k = reads[i];
    if (wrong.count(std::string(k))) continue;
    cmds.push_back({k == "types" || k == "aside" ? "HGETALL" : "SMEMBERS", read_keys[i]});
  }
  s = (*lease)->Exchange(cmds, &replies, "check");
  if (!s.ok()) return s;
  size_t next = 0;
  for (const char* k : reads) {
    if (wrong.count(k)) continue;
    const redisReply* r = replies[next++].get();
    if (!IsArray(r)) return BadShape("check");
    const std::string_view kind(k);
    for (size_t i = 0; i < r->elements; ++i) {
      std::string_view v, w;
      if (!AsString(r->element[i], &v)) return BadShape("check");
      if (kind == "types" || kind == "aside") {
        if (i + 1 >= r->elements || !AsString(r->element[++i], &w)) return BadShape("check");
        if (kind == "aside") {
          bad.push_back("moved aside: " + Printable(w, 400));
        } else if (auto ts = DecodeSettings(w); !ts.ok()) {
          bad.push_back("type '" + Printable(v, 80) + "' in " + Key("types") + ": " +
                        ts.status().message());
        }
      } else {
        (kind == "queues" ? queues : ready).emplace(v);
      }
    }
  }
  }
  std::vector<QueueRef> refs;
  for (const std::string& qid : queues) {
    QueueRef q;
    if (ParseQueueId(qid, &q)) {
      refs.push_back(q);
    } else {
      bad.push_back(Key("queues") + " holds '" + Printable(qid, 80) + "', not DOMAIN/TYPE");
    }
  }
  for (const std::string& qid : ready) {
    if (!queues.count(qid)) {
      bad.push_back(Key("ready") + " holds '" + Printable(qid, 80) +
                    "', a queue that never held a job");
    }
  }
  // Each queue: one check script, all of them pipelined.
  std::sort(refs.begin(), refs.end(), [](const QueueRef& a, const QueueRef& b) {
    return std::tie(a.domain, a.type) < std::tie(b.domain, b.type);
  });
  std::vector<Args> args(refs.size());
  for (size_t i = 0; i < refs.size(); ++i) args[i].Add(QueueId(refs[i]));
  Status s = RunMany(ScriptId::kCheck, args, &replies, "check");
  if (!s.ok()) return s;
  for (size_t i = 0; i < refs.size(); ++i) {
    const redisReply* r = replies[i].get();
    if (!IsArray(r)) return BadShape("check");
    for (size_t j = 0; j < r->elements; ++j) {
      std::string_view line;
      if (!AsString(r->element[j], &line)) return BadShape("check");
      bad.push_back(Where(refs[i]) + Printable(line, 400));
    }
  }
  return bad;
}

}  // namespace jobstore::redis
