// Opening the Redis medium, running its scripts, type settings, and the ready index.
#include "redis_backend.h"

#include <algorithm>
#include <random>
#include <set>
#include <tuple>

#include "replies.h"
#include "settings_text.h"

namespace jobstore::redis {
namespace {

constexpr int64_t kFormat = 1;

// One field of an INFO section ("redis_version:7.0.15"), or "".
std::string InfoField(std::string_view info, std::string_view field) {
  const std::string needle = std::string(field) + ":";
  size_t at = info.find(needle);
  if (at == std::string_view::npos) return "";
  at += needle.size();
  size_t end = info.find_first_of("\r\n", at);
  return std::string(info.substr(at, end == std::string_view::npos ? end : end - at));
}

// What an acknowledged push survives under the server's persistence settings.
std::string PersistenceNote(const std::string& appendonly, const std::string& appendfsync,
                            const std::string& save) {
  if (appendonly == "yes") {
    if (appendfsync == "always") {
      return "appendonly yes, appendfsync always: an acknowledged push is fsynced to the AOF "
             "before Redis answers (survives kill -9 of redis-server and a power cut)";
    }
    if (appendfsync == "everysec") {
      return "appendonly yes, appendfsync everysec: an acknowledged push is in the AOF (the OS "
             "page cache) before Redis answers, fsynced within about a second; it survives "
             "kill -9 of redis-server, a power cut loses the last 1-2 s of writes";
    }
    return "appendonly yes, appendfsync no: an acknowledged push is in the AOF (the OS page "
           "cache) before Redis answers, fsynced when the OS flushes (~30 s); it survives "
           "kill -9 of redis-server, a power cut loses what the OS had not flushed";
  }
  if (save.empty()) {
    return "appendonly no, no RDB snapshots: jobs live in Redis's memory only; a restart of "
           "redis-server loses every job";
  }
  return "appendonly no, RDB snapshots (save \"" + save +
         "\"): an acknowledged push survives only once a snapshot holds it; kill -9 of "
         "redis-server or a power cut loses what came after the last snapshot";
}

uint64_t RandomU64() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

}  // namespace

std::string QueueId(const QueueRef& queue) { return queue.domain + "/" + queue.type; }

bool ParseQueueId(std::string_view qid, QueueRef* queue) {
  const size_t slash = qid.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == qid.size()) return false;
  queue->domain = std::string(qid.substr(0, slash));
  queue->type = std::string(qid.substr(slash + 1));
  return true;
}

RedisBackend::RedisBackend(const Endpoint& e, std::string store_id)
    : e_(e),
      meta_key_("{" + e_.prefix + "}:meta"),
      pool_(e_),
      waiter_(e_, "{" + e_.prefix + "}:epoch:" + store_id) {}

RedisBackend::~RedisBackend() = default;

Result<std::unique_ptr<RedisBackend>> RedisBackend::Open(const Endpoint& endpoint,
                                                         const Options& options) {
  // The meta key, read before the backend exists: the store id names the waiter's channel.
  auto conn = Connection::Open(endpoint);
  if (!conn.ok()) return conn.status().Prefixed("opening the store " + endpoint.display);
  Connection& c = **conn;
  const std::string meta = "{" + endpoint.prefix + "}:meta";
  std::vector<Reply> replies;
  Status s = c.Exchange({{"INFO", "server"}, {"INFO", "replication"}, {"TYPE", meta}}, &replies,
                        "opening the store");
  if (!s.ok()) return s;
  std::string_view info, repl, type;
  if (!AsString(replies[0].get(), &info) || !AsString(replies[1].get(), &repl) ||
      !AsString(replies[2].get(), &type)) {
    return Status::NotSupported("the server at " + endpoint.Where() +
                                " does not answer INFO and TYPE as Redis does");
  }
  const std::string version = InfoField(info, "redis_version");
  int major = 0, minor = 0;
  std::sscanf(version.c_str(), "%d.%d", &major, &minor);
  if (major < 7) {
    return Status::NotSupported("redis at " + endpoint.Where() + " is version '" + version +
                                "'; jobstore needs Redis 7.0 or later (functions, LPOP with a "
                                "count, ZRANGE BYSCORE)");
  }
  const bool replica = InfoField(repl, "role") == "slave";
  const std::string where = "redis at " + endpoint.Where() + ", prefix '" + endpoint.prefix + "'";
  if (type != "hash" && type != "none") {
    return Status::Corruption("key " + meta + " holds a " + std::string(type) +
                              ", not jobstore's meta hash: the prefix '" + endpoint.prefix +
                              "' is used by something else; choose another prefix");
  }
  if (type == "none") {
    if (!options.create_if_missing) {
      return Status::NotFound("no jobstore store at " + endpoint.display + " (no key " + meta +
                              "); open it with create_if_missing to create it");
    }
    if (replica) {
      return Status::ReadOnly("no jobstore store at " + endpoint.display +
                              " yet, and the server is a read-only replica: create it on the "
                              "primary");
    }
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(RandomU64()));
    s = c.Exchange({{"HSETNX", meta, "format", std::to_string(kFormat)},
                    {"HSETNX", meta, "id", id}},
                   &replies, "creating the store");
    if (!s.ok()) return s;
    for (const Reply& r : replies) {
      if (r->type == REDIS_REPLY_ERROR) {
        return ErrorReplyStatus(endpoint, "creating the store", std::string_view(r->str, r->len));
      }
    }
  }
  s = c.Exchange({{"HMGET", meta, "format", "id"},
                  {"CONFIG", "GET", "appendonly"},
                  {"CONFIG", "GET", "appendfsync"},
                  {"CONFIG", "GET", "save"}},
                 &replies, "opening the store");
  if (!s.ok()) return s;
  if (replies[0]->type == REDIS_REPLY_ERROR) {
    return ErrorReplyStatus(endpoint, "opening the store",
                            std::string_view(replies[0]->str, replies[0]->len));
  }
  int64_t format = 0;
  std::string_view store_id;
  if (!IsArray(replies[0].get(), 2) || !AsInt(replies[0]->element[0], &format) ||
      !AsString(replies[0]->element[1], &store_id) || store_id.empty()) {
    return Status::Corruption("key " + meta + " lacks its format or id field: the prefix '" +
                              endpoint.prefix + "' is used by something else; choose another "
                              "prefix");
  }
  if (format > kFormat) {
    return Status::NotSupported("the store at " + endpoint.display + " has format " +
                                std::to_string(format) + ", written by a newer jobstore; this one "
                                "reads format " + std::to_string(kFormat));
  }
  // CONFIG may be refused (ACL, a renamed command, a managed service): say so, do not fail.
  std::string config[3];
  bool known = true;
  for (int i = 0; i < 3; ++i) {
    const redisReply* r = replies[1 + i].get();
    std::string_view v;
    if (IsArray(r, 2) && AsString(r->element[1], &v)) {
      config[i] = std::string(v);
    } else {
      known = false;
    }
  }

  std::unique_ptr<RedisBackend> b(new RedisBackend(endpoint, std::string(store_id)));
  b->caps_.medium = "redis";
  b->caps_.push_atomicity = Capabilities::PushAtomicity::kWholeBatch;
  b->caps_.exact_counts = true;
  b->caps_.exact_ready_index = true;
  b->caps_.push_durability = Capabilities::Durability::kServerConfig;
  b->caps_.shared = true;
  b->caps_.note = "Redis " + version + " at " + endpoint.Where() + ", db " +
                  std::to_string(endpoint.db) + ", prefix '" + endpoint.prefix + "': " +
                  (known ? PersistenceNote(config[0], config[1], config[2])
                         : std::string("persistence settings unknown (CONFIG GET was refused); "
                                       "what an acknowledged push survives is as the server is "
                                       "configured")) +
                  "; replication is asynchronous: a failover can lose acknowledged writes";
  if (replica) {
    b->writable_ = Status::ReadOnly(where + " is a read-only replica: point the address at the "
                                    "primary to change jobs");
  }
  return b;
}

Result<Reply> RedisBackend::Cmd(const Command& command, std::string_view what) {
  for (int attempt = 0;; ++attempt) {
    auto lease = pool_.Take();
    if (!lease.ok()) return lease.status().Prefixed(std::string(what) + " was not applied");
    auto r = (*lease)->Call(command, what);
    if (!r.ok()) {
      // A connection that broke before the server got the command: once more on a new one.
      if ((*lease)->failed_unsent() && attempt == 0) continue;
      return r.status();
    }
    if ((*r)->type == REDIS_REPLY_ERROR) {
      return ErrorReplyStatus(e_, what, std::string_view((*r)->str, (*r)->len));
    }
    return r;
  }
}

namespace {

// FCALL[_RO] NAME 1 {P}:meta ARGS..., as one RESP request.
void AppendCall(std::string* out, const Function& f, const std::string& meta, const Args& args) {
  AppendArrayHeader(out, 4 + args.count());
  AppendBulk(out, f.read_only ? "FCALL_RO" : "FCALL");
  AppendBulk(out, f.name);
  AppendBulk(out, "1");
  AppendBulk(out, meta);
  out->append(args.resp());
}

}  // namespace

Status RedisBackend::LoadLibrary(Connection& c) {
  const Library& lib = GetLibrary();
  auto l = c.Call({"FUNCTION", "LOAD", lib.source}, "loading jobstore's functions");
  if (!l.ok()) return l.status();
  // Another client may have loaded it in between: that is as good.
  if ((*l)->type == REDIS_REPLY_ERROR && !IsError(l->get(), "ERR Library '" + lib.name + "' already exists")) {
    return ErrorReplyStatus(e_, "loading jobstore's functions (FUNCTION LOAD)",
                            std::string_view((*l)->str, (*l)->len));
  }
  return Status::OK();
}

Result<Reply> RedisBackend::Run(ScriptId id, const Args& args, std::string_view what) {
  const Function& f = GetLibrary().Of(id);
  std::string request;
  request.reserve(96 + meta_key_.size() + args.resp().size());
  AppendCall(&request, f, meta_key_, args);
  bool retried = false, loaded = false;
  std::vector<Reply> replies;
  for (;;) {
    auto lease = pool_.Take();
    if (!lease.ok()) return lease.status().Prefixed(std::string(what) + " was not applied");
    Status s = (*lease)->ExchangeFormatted(request, 1, request.size(), &replies, what);
    if (!s.ok()) {
      // A connection that broke before the server got the command: once more on a new one.
      if ((*lease)->failed_unsent() && !retried) {
        retried = true;
        continue;
      }
      return s;
    }
    Reply& r = replies[0];
    if (IsError(r.get(), "ERR Function not found") && !loaded) {
      // A server that never had them, or lost them (restarted without persistence, FUNCTION
      // FLUSH): load the library, call again.
      loaded = true;
      s = LoadLibrary(**lease);
      if (!s.ok()) return s.Prefixed(std::string(what) + " was not applied");
      continue;
    }
    if (r->type == REDIS_REPLY_ERROR) {
      return ErrorReplyStatus(e_, what, std::string_view(r->str, r->len));
    }
    return std::move(r);
  }
}

Status RedisBackend::RunMany(ScriptId id, const std::vector<Args>& args,
                             std::vector<Reply>* replies, std::string_view what) {
  replies->clear();
  if (args.empty()) return Status::OK();
  const Function& f = GetLibrary().Of(id);
  auto lease = pool_.Take();
  if (!lease.ok()) return lease.status().Prefixed(std::string(what) + " was not applied");
  // Loading first costs one round trip and makes a missing function in the pipeline
  // impossible (short of a FUNCTION FLUSH in between, which fails the call: run it again).
  Status s = LoadLibrary(**lease);
  if (!s.ok()) return s;
  std::string request;
  size_t first_end = 0;
  for (const Args& a : args) {
    AppendCall(&request, f, meta_key_, a);
    if (first_end == 0) first_end = request.size();
  }
  s = (*lease)->ExchangeFormatted(request, args.size(), first_end, replies, what);
  if (!s.ok()) return s;
  for (const Reply& r : *replies) {
    if (r->type == REDIS_REPLY_ERROR) {
      return ErrorReplyStatus(e_, what, std::string_view(r->str, r->len));
    }
  }
  return Status::OK();
}

Status RedisBackend::Missing(const QueueRef& queue, JobId id) const {
  return Status::NotFound("job " + std::to_string(id) + " is not in queue '" + queue.type +
                          "' of domain '" + queue.domain + "'");
}

Status RedisBackend::ClaimStatus(int64_t code, const QueueRef& queue, JobId id) const {
  const std::string job = "job " + std::to_string(id) + " of '" + queue.type + "' in domain '" +
                          queue.domain + "'";
  switch (code) {
    case 0: return Status::OK();
    case 1: return Status::NotFound(job + " is not in the store (already acked?)");
    case 2:
      return Status::StaleToken(job + " is no longer held by this claim (its lease expired and "
                                      "it was reclaimed); do not ack it, the job will run again");
  }
  return Status::Internal(job + ": the script answered code " + std::to_string(code));
}

Result<TypeSettings> RedisBackend::GetTypeSettings(const std::string& type) {
  const int64_t now = now_ms_.load(std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> l(settings_mu_);
    auto it = settings_.find(type);
    // (Unsigned: no overflow from INT64_MIN, the time before any call brought one.)
    if (it != settings_.end() && now >= it->second.read_at_ms &&
        static_cast<uint64_t>(now) - static_cast<uint64_t>(it->second.read_at_ms) <
            static_cast<uint64_t>(kSettingsFreshForMs)) {
      return it->second.settings;
    }
  }
  auto r = Cmd({"HGET", Key("types"), type}, "reading type settings");
  if (!r.ok()) return r.status();
  std::string_view text;
  TypeSettings ts;
  if (AsString(r->get(), &text)) {
    auto decoded = DecodeSettings(text);
    if (!decoded.ok()) {
      return decoded.status().Prefixed("type '" + type + "' in " + Key("types"));
    }
    ts = *decoded;
  } else if ((*r)->type != REDIS_REPLY_NIL) {
    return BadShape("reading type settings");
  }
  std::lock_guard<std::mutex> l(settings_mu_);
  settings_[type] = {ts, now};
  return ts;
}

Status RedisBackend::SetTypeSettings(const std::string& type, const TypeSettings& settings) {
  auto r = Cmd({"HSET", Key("types"), type, EncodeSettings(settings)}, "setting type settings");
  if (!r.ok()) return r.status();
  std::lock_guard<std::mutex> l(settings_mu_);
  settings_[type] = {settings, now_ms_.load(std::memory_order_relaxed)};
  return Status::OK();
}

Result<std::vector<std::string>> RedisBackend::Types() {
  std::vector<Reply> replies;
  auto lease = pool_.Take();
  if (!lease.ok()) return lease.status().Prefixed("listing types was not applied");
  Status s = (*lease)->Exchange({{"HKEYS", Key("types")}, {"SMEMBERS", Key("queues")}}, &replies,
                                "listing types");
  if (!s.ok()) return s;
  std::set<std::string> types;
  for (const Reply& r : replies) {
    if (r->type == REDIS_REPLY_ERROR) {
      return ErrorReplyStatus(e_, "listing types", std::string_view(r->str, r->len));
    }
    if (!IsArray(r.get())) return BadShape("listing types");
  }
  for (size_t i = 0; i < replies[0]->elements; ++i) {
    std::string_view t;
    if (AsString(replies[0]->element[i], &t)) types.emplace(t);
  }
  for (size_t i = 0; i < replies[1]->elements; ++i) {
    std::string_view qid;
    QueueRef q;
    if (AsString(replies[1]->element[i], &qid) && ParseQueueId(qid, &q)) types.insert(q.type);
  }
  return std::vector<std::string>(types.begin(), types.end());
}

Result<std::vector<QueueRef>> RedisBackend::ReadyQueues() {
  auto r = Cmd({"SMEMBERS", Key("ready")}, "listing ready queues");
  if (!r.ok()) return r.status();
  if (!IsArray(r->get())) return BadShape("listing ready queues");
  std::vector<QueueRef> out;
  for (size_t i = 0; i < (*r)->elements; ++i) {
    std::string_view qid;
    QueueRef q;
    if (AsString((*r)->element[i], &qid) && ParseQueueId(qid, &q)) out.push_back(std::move(q));
  }
  std::sort(out.begin(), out.end(), [](const QueueRef& a, const QueueRef& b) {
    return std::tie(a.domain, a.type) < std::tie(b.domain, b.type);
  });
  return out;
}

Result<std::optional<QueueRef>> RedisBackend::PickReadyQueue(const ReadyFilter& filter) {
  Result<Reply> r = Status::Internal("unset");
  if (!filter.domain && filter.types.empty() && filter.exclude.empty()) {
    r = Cmd({"SRANDMEMBER", Key("ready")}, "picking a ready queue");  // O(1)
  } else {
    Args a;
    a.Add(filter.domain ? "1" : "0").Add(filter.domain ? *filter.domain : std::string_view());
    a.Int(static_cast<int64_t>(filter.types.size()));
    for (const std::string& t : filter.types) a.Add(t);
    a.Int(static_cast<int64_t>(filter.exclude.size()));
    for (const std::string& t : filter.exclude) a.Add(t);
    r = Run(ScriptId::kPick, a, "picking a ready queue");
  }
  if (!r.ok()) return r.status();
  std::string_view qid;
  QueueRef q;
  if (AsString(r->get(), &qid) && ParseQueueId(qid, &q)) return std::optional<QueueRef>(q);
  return std::optional<QueueRef>();
}

Result<uint64_t> RedisBackend::ReadyEpoch() {
  auto r = Cmd({"GET", Key("epoch")}, "reading the ready epoch");
  if (!r.ok()) return r.status();
  if ((*r)->type == REDIS_REPLY_NIL) return uint64_t{0};
  int64_t v = 0;
  if (!AsInt(r->get(), &v)) return BadShape("reading the ready epoch");
  return static_cast<uint64_t>(v);
}

Status RedisBackend::WaitForReady(uint64_t epoch, int64_t max_wait_ms) {
  if (max_wait_ms <= 0) return Status::OK();
  return waiter_.Wait(epoch, max_wait_ms, [this] { return ReadyEpoch(); });
}

}  // namespace jobstore::redis
