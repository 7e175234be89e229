#include "scripts.h"

#include <openssl/evp.h>

#include <cstdio>

namespace jobstore::redis {
namespace {

// The library every function shares, defined once when Redis loads it (FUNCTION LOAD), not
// on every call as an EVAL script's text is (that cost ~4 us a call, a fifth of a claim).
//
// Robustness: a function never trusts what it reads. Every call goes through R(): a key that
// holds the wrong type of value (a foreign program wrote it) is renamed aside, recorded in
// {P}:aside, and the call retried on the now empty key, so a writing function never stops
// half-way (Redis does not roll a failed function back). Read-only functions cannot rename,
// and fail instead with JOBSTORE-CORRUPT naming the key. Records are checked by bad() before
// any field is used; list and set members that are not job ids are dropped by idof().
// (Nothing here may use the string, bit or struct libraries at load time: Redis offers them
// only while a function runs.)
//
// A queue's `da` hash holds, for job ID: field ID its record (record.h, written once at push),
// aID its attempts, tID its claim token while claimed (nonce and deadline, 16 bytes), cID when
// it was last claimed (ms), eID its last error. Keeping them in one hash lets one HDEL remove a
// job, and a claim write a few small fields instead of rewriting the record.
constexpr const char* kLibrary = R"lua(
-- Set by each function as it starts (Redis runs one at a time): the store's meta key,
-- KEYS[1], which names its slot; the prefix "{P}:" every other key shares; and whether the
-- function may write.
local META, P, WRITABLE
local function Q(qid, kind) return P .. 'q:' .. qid .. ':' .. kind end
local F_DEDUP, F_ROOT, F_DELAYED, F_SELF = 1, 4, 16, 32
local FORMAT, FIXED = 1, 22
local CHUNK = 4000  -- arguments per call: Lua's unpack() is bounded by its C stack (8000)
local function has(flags, f) return bit.band(flags, f) ~= 0 end
local function S(n) return string.format('%d', n) end
local function zm(sid) return string.format('%016d', tonumber(sid)) end

local function R(cmd, key, ...)
  local r = redis.pcall(cmd, key, ...)
  if type(r) == 'table' and r.err then
    if not string.find(r.err, 'WRONGTYPE', 1, true) then error(r) end
    local t = redis.call('TYPE', key).ok
    if not WRITABLE then
      error({err = 'JOBSTORE-CORRUPT key ' .. key .. ' holds a ' .. t ..
                   ', not what jobstore keeps there (the next write moves it aside)'})
    end
    local aside = key .. ':aside:' .. S(redis.call('INCR', P .. 'aside-seq'))
    redis.call('RENAME', key, aside)
    redis.call('HSET', P .. 'aside', aside, 'key ' .. key .. ' held a ' .. t ..
               ', not what jobstore keeps there; it was renamed ' .. aside)
    r = redis.call(cmd, key, ...)
  end
  return r
end

-- A member of a ready, claimed, delayed or abandoned set as a job id ("42"; the ready zset's
-- members are zero-padded); nil for junk, which a writing function records in {P}:aside (and
-- removes from a zset).
local function idof(m, key, zset)
  if type(m) == 'string' and #m <= 16 then
    if string.find(m, '^[1-9]%d*$') then return m end
    local z = string.match(m, '^0+([1-9]%d*)$')
    if z then return z end
  end
  if WRITABLE and key then
    if zset then redis.call('ZREM', key, m) end
    redis.call('HSET', P .. 'aside', key .. ' member ' .. tostring(m),
               'not a job id; dropped from ' .. key)
  end
  return nil
end
local function idsof(ms, key, zset)
  local out = {}
  for _, m in ipairs(ms) do
    local sid = idof(m, key, zset)
    if sid then out[#out + 1] = sid end
  end
  return out
end

-- Why the record `v` does not decode (record.h), or nil when it does.
local function bad(v)
  if type(v) ~= 'string' then return 'no record' end
  local n = #v
  if n < FIXED then return 'record of ' .. n .. ' bytes, shorter than its fixed part' end
  local format, flags = string.byte(v, 1, 2)
  if format ~= FORMAT then return 'record format ' .. format .. ' is unknown' end
  if bit.band(flags, 5) == 0 then return nil end  -- no dedup hash, no root: nothing to check
  local pos = FIXED + 1
  if has(flags, F_DEDUP) then pos = pos + 32 end
  if has(flags, F_ROOT) then
    if n < pos then return 'record cut short before its root signature' end
    pos = pos + 1 + string.byte(v, pos) + 8
  end
  if n < pos - 1 then return 'record cut short' end
  return nil
end
local function dedup_hash(v) return string.sub(v, FIXED + 1, FIXED + 32) end
local function root_of(v, flags)
  local pos = FIXED + 1
  if has(flags, F_DEDUP) then pos = pos + 32 end
  local n = string.byte(v, pos)
  return string.sub(v, pos + 1, pos + n), (struct.unpack('>i8', v, pos + 1 + n))
end

-- The groups of a push or a restore: args[2] of them from args[3] on, each a queue id, a type,
-- a count n and n jobs of `width` arguments. Returns {qid, type, n, first argument} per group
-- and the number of jobs.
local function read_groups(args, width)
  local groups, total, pos = {}, 0, 3
  for g = 1, tonumber(args[2]) do
    local n = tonumber(args[pos + 2])
    groups[g] = {args[pos], args[pos + 1], n, pos + 3}
    total = total + n
    pos = pos + 3 + width * n
  end
  return groups, total
end

local function many(cmd, key, args)
  for i = 1, #args, CHUNK do R(cmd, key, unpack(args, i, math.min(i + CHUNK - 1, #args))) end
end
local function hmget(key, fields)
  if #fields == 1 then return {R('HGET', key, fields[1])} end
  local out = {}
  for i = 1, #fields, CHUNK do
    local part = R('HMGET', key, unpack(fields, i, math.min(i + CHUNK - 1, #fields)))
    for _, v in ipairs(part) do out[#out + 1] = v end
  end
  return out
end

-- The type's order and its settings string (false when never configured).
local function order_of(tname)
  local s = R('HGET', P .. 'types', tname)
  if not s then return 'fifo', false end
  return (string.match(s, 'order=(%a+)') or 'fifo'), s
end

-- A queue gained ready jobs: bump the epoch and wake the waiters of this store.
local function bump()
  local e = R('INCR', P .. 'epoch')
  local store = redis.pcall('HGET', META, 'id')
  redis.call('PUBLISH', P .. 'epoch:' .. (type(store) == 'string' and store or ''), e)
end

-- Makes `sids` ready: at the back (push, promote, repush), or at the head with `front` (a job
-- given back or reclaimed keeps its place near the head, first of `sids` first). `vals` are
-- their records, for the priority (only read when the order is not fifo).
local function ready_add(qid, order, sids, vals, front)
  if #sids == 0 then return end
  if order == 'fifo' then
    if front then
      local rev = {}
      for i = #sids, 1, -1 do rev[#rev + 1] = sids[i] end
      many('LPUSH', Q(qid, 'rl'), rev)
    else
      many('RPUSH', Q(qid, 'rl'), sids)
    end
  else
    local args = {}
    for i, sid in ipairs(sids) do
      local score = 0
      if order == 'random' then
        score = math.random()
      elseif vals[i] and not bad(vals[i]) then
        score = -struct.unpack('>i4', vals[i], 11)
      end
      args[#args + 1] = score
      args[#args + 1] = zm(sid)
    end
    many('ZADD', Q(qid, 'rz'), args)
  end
  R('SADD', P .. 'ready', qid)
end
-- The end of a push's (or restore's) work on one queue: `ready` (records `readyv`) join its
-- ready jobs and the queue is listed. Returns whether it gained ready jobs.
local function queue_pushed(qid, order, ready, readyv)
  R('SADD', P .. 'queues', qid)
  if #ready == 0 then return false end
  ready_add(qid, order, ready, readyv, false)
  return true
end
local function ready_gone(qid)
  -- One key at a time: the common answer (the list still holds jobs) needs only the first.
  if R('EXISTS', Q(qid, 'rl')) == 0 and R('EXISTS', Q(qid, 'rz')) == 0 then
    R('SREM', P .. 'ready', qid)
  end
end

-- At a claim of job `sid` (record `v`, flags `flags`): gives up its dedup entry and applies
-- root-job supersession. Returns 1 when a newer root job supersedes it, else 0.
local function claim_rules(qid, sid, v, flags)
  local sup = 0
  if has(flags, F_DEDUP) then
    local h, dd = dedup_hash(v), Q(qid, 'dd')
    if R('HGET', dd, h) == sid then R('HDEL', dd, h) end
  end
  if has(flags, F_ROOT) then
    local sig, ts = root_of(v, flags)
    local rt = Q(qid, 'rt')
    local cur = tonumber(R('HGET', rt, sig) or '')
    if cur and cur > ts then
      sup = 1
    elseif not cur or cur < ts then
      R('HSET', rt, sig, S(ts))
    end
  end
  return sup
end

-- Moves aside a job whose record does not decode: abandoned, with the reason as its error.
local function abandon_corrupt(qid, sid, why, now)
  R('ZADD', Q(qid, 'ab'), now, sid)
  R('HSET', Q(qid, 'da'), 'e' .. sid, 'corrupt record: ' .. why)
end

-- 0 when `tok` is job `sid`'s current claim; else 1 (no such job) or 2 (another claim holds
-- it, or it is not claimed).
local function held(qid, sid, tok)
  local da = Q(qid, 'da')
  local t = R('HGET', da, 't' .. sid)
  if t == tok then return 0 end
  if t or R('HEXISTS', da, sid) == 1 then return 2 end
  return 1
end

local function state_of(qid, sid)
  for _, k in ipairs({'cl', 'dl', 'ab'}) do
    local score = R('ZSCORE', Q(qid, k), sid)
    if score then return k, score end
  end
  return 'ready', '0'
end
)lua";

// ARGV: now, groups, then per group: queue id, type, n, and n records (record.h). Returns one
// integer a job: its new id, or minus the id of the queued job it duplicates.
constexpr const char* kPush = R"lua(
local groups, total = read_groups(ARGV, 1)
local id = R('INCRBY', P .. 'ids', total) - total
local out, readied = {}, false
for _, g in ipairs(groups) do
  local qid, n, first = g[1], g[3], g[4]
  local order = order_of(g[2])
  local da, dd, rt = Q(qid, 'da'), Q(qid, 'dd'), Q(qid, 'rt')
  local fields, ready, readyv, delayed = {}, {}, {}, {}
  local keep_records = order ~= 'fifo'  -- their priority orders the ready zset
  for i = first, first + n - 1 do
    id = id + 1
    local v, sid = ARGV[i], S(id)
    -- flags 0 (no dedup, no root, not delayed) is the common case: one test skips the rest.
    local flags = string.byte(v, 2)
    local dup = nil
    if flags ~= 0 and has(flags, F_DEDUP) then
      local h = dedup_hash(v)
      local held_by = R('HGET', dd, h)
      dup = held_by and idof(held_by)
      if dup and R('HEXISTS', da, dup) == 0 then dup = nil end
      if not dup then R('HSET', dd, h, sid) end
    end
    if dup then
      out[#out + 1] = -tonumber(dup)
    else
      out[#out + 1] = id
      fields[#fields + 1] = sid
      fields[#fields + 1] = v
      if flags ~= 0 and has(flags, F_SELF) then
        local sig, ts = root_of(v, flags)
        local cur = tonumber(R('HGET', rt, sig) or '')
        if not cur or cur < ts then R('HSET', rt, sig, S(ts)) end
      end
      if flags ~= 0 and has(flags, F_DELAYED) then
        delayed[#delayed + 1] = (struct.unpack('>i8', v, 15))
        delayed[#delayed + 1] = sid
      else
        ready[#ready + 1] = sid
        if keep_records then readyv[#ready] = v end
      end
    end
  end
  many('HSET', da, fields)
  many('ZADD', Q(qid, 'dl'), delayed)
  readied = queue_pushed(qid, order, ready, readyv) or readied
end
if readied then bump() end
return out
)lua";

// Store::Restore. ARGV: now, groups, then per group: queue id, type, n, and per job seven
// values: id ("0": a new one), state (r, d or a), attempts, claimed at, abandoned at, last
// error, record. Returns one integer a job as push does: its id, or minus the id when its
// queue already holds that id (restored before).
constexpr const char* kRestore = R"lua(
local groups = read_groups(ARGV, 7)
local fresh = 0
for _, g in ipairs(groups) do
  for j = 0, g[3] - 1 do
    if ARGV[g[4] + 7 * j] == '0' then fresh = fresh + 1 end
  end
end
local id = R('INCRBY', P .. 'ids', fresh) - fresh
local highest, out, readied = 0, {}, false
for _, g in ipairs(groups) do
  local qid, n, first = g[1], g[3], g[4]
  local order = order_of(g[2])
  local da, dd, rt = Q(qid, 'da'), Q(qid, 'dd'), Q(qid, 'rt')
  local ready, readyv = {}, {}
  for j = 0, n - 1 do
    local a = first + 7 * j
    local sid, st, v = ARGV[a], ARGV[a + 1], ARGV[a + 6]
    if sid == '0' then
      id = id + 1
      sid = S(id)
    end
    if R('HEXISTS', da, sid) == 1 then
      out[#out + 1] = -tonumber(sid)
    else
      highest = math.max(highest, tonumber(sid))
      out[#out + 1] = tonumber(sid)
      local flags = string.byte(v, 2)
      if has(flags, F_DEDUP) and st ~= 'a' then
        -- Taken only when no queued job holds it: a restore never drops a job.
        local h = dedup_hash(v)
        local by = R('HGET', dd, h)
        by = by and idof(by)
        if not by or R('HEXISTS', da, by) == 0 then R('HSET', dd, h, sid) end
      end
      if has(flags, F_SELF) then
        local sig, ts = root_of(v, flags)
        local cur = tonumber(R('HGET', rt, sig) or '')
        if not cur or cur < ts then R('HSET', rt, sig, S(ts)) end
      end
      R('HSET', da, sid, v)
      if ARGV[a + 2] ~= '0' then R('HSET', da, 'a' .. sid, ARGV[a + 2]) end
      if ARGV[a + 3] ~= '0' then R('HSET', da, 'c' .. sid, ARGV[a + 3]) end
      if ARGV[a + 5] ~= '' then R('HSET', da, 'e' .. sid, ARGV[a + 5]) end
      if st == 'a' then
        R('ZADD', Q(qid, 'ab'), ARGV[a + 4], sid)
      elseif st == 'd' then
        R('ZADD', Q(qid, 'dl'), (struct.unpack('>i8', v, 15)), sid)
      else
        ready[#ready + 1] = sid
        readyv[#ready] = v
      end
    end
  end
  readied = queue_pushed(qid, order, ready, readyv) or readied
end
if highest > tonumber(R('GET', P .. 'ids') or '0') then R('SET', P .. 'ids', S(highest)) end
if readied then bump() end
return out
)lua";

// ARGV: now, queue id, the type's order (from the client's settings cache), max, deadline as
// a score, then max tokens (nonce and deadline, 16 bytes each). Returns per claimed job: id,
// record, attempts (this claim included), which token it got (1-based), superseded (0/1). Jobs
// whose record does not decode go to abandoned instead.
constexpr const char* kClaim = R"lua(
local now, qid, order, max, dscore = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local rl, rz, da = Q(qid, 'rl'), Q(qid, 'rz'), Q(qid, 'da')
if max == 1 then
  -- One job, the drain of one worker at a time: straight-line, no tables to grow, and the
  -- fewest commands (each costs about as much as all the Lua around it).
  local m, key
  if order == 'fifo' then
    m, key = R('LPOP', rl), rl
    if not m then m, key = R('ZPOPMIN', rz)[1], rz end
  else
    m, key = R('ZPOPMIN', rz)[1], rz
    if not m then m, key = R('LPOP', rl), rl end
  end
  local sid = m and idof(m, key, false)
  if not sid then
    ready_gone(qid)
    return {}
  end
  local got = R('HMGET', da, sid, 'a' .. sid)
  local v = got[1]
  local why = bad(v)
  if why then
    abandon_corrupt(qid, sid, why, now)
    ready_gone(qid)
    return {}
  end
  local flags = string.byte(v, 2)
  local sup = 0
  if bit.band(flags, 5) ~= 0 then sup = claim_rules(qid, sid, v, flags) end
  local att = (tonumber(got[2]) or 0) + 1
  R('HSET', da, 'a' .. sid, att, 't' .. sid, ARGV[6], 'c' .. sid, now)
  R('ZADD', Q(qid, 'cl'), dscore, sid)
  ready_gone(qid)
  return {sid, v, att, 1, sup}
end
local sids = {}
-- (Junk members are dropped: t[#t + 1] = nil adds nothing.)
local function from_list(k)
  if k <= 0 then return end
  local got = R('LPOP', rl, k)
  if got then
    for _, m in ipairs(got) do sids[#sids + 1] = idof(m, rl, false) end
  end
end
local function from_zset(k)
  if k <= 0 then return end
  local got = R('ZPOPMIN', rz, k)
  for i = 1, #got, 2 do sids[#sids + 1] = idof(got[i], rz, false) end
end
if order == 'fifo' then
  from_list(max)
  from_zset(max - #sids)
else
  from_zset(max)
  from_list(max - #sids)
end
local out = {}
local keys = {}
for i, sid in ipairs(sids) do
  keys[2 * i - 1] = sid
  keys[2 * i] = 'a' .. sid
end
local vals = hmget(da, keys)
local fields, zargs = {}, {}
for i, sid in ipairs(sids) do
  local v = vals[2 * i - 1]
  local why = bad(v)
  if why then
    abandon_corrupt(qid, sid, why, now)
  else
    local flags = string.byte(v, 2)
    local sup = 0
    if bit.band(flags, 5) ~= 0 then sup = claim_rules(qid, sid, v, flags) end
    local att = (tonumber(vals[2 * i]) or 0) + 1
    fields[#fields + 1] = 'a' .. sid
    fields[#fields + 1] = att
    fields[#fields + 1] = 't' .. sid
    fields[#fields + 1] = ARGV[5 + i]
    fields[#fields + 1] = 'c' .. sid
    fields[#fields + 1] = now
    zargs[#zargs + 1] = dscore
    zargs[#zargs + 1] = sid
    out[#out + 1] = sid
    out[#out + 1] = v
    out[#out + 1] = att
    out[#out + 1] = i
    out[#out + 1] = sup
  end
end
if #fields > 0 then
  many('HSET', da, fields)
  many('ZADD', Q(qid, 'cl'), zargs)
end
ready_gone(qid)
return out
)lua";

// ARGV: n, then per claim: queue id, id, token. Returns a code per claim: 0 acked, 1 no such
// job, 2 another claim holds it (or it is not claimed).
constexpr const char* kAck = R"lua(
local n = tonumber(ARGV[1])
if n == 1 then
  local qid, sid = ARGV[2], ARGV[3]
  local code = held(qid, sid, ARGV[4])
  if code == 0 then
    if R('ZREM', Q(qid, 'cl'), sid) == 0 then return {2} end
    R('HDEL', Q(qid, 'da'), sid, 'a' .. sid, 't' .. sid, 'c' .. sid, 'e' .. sid)
  end
  return {code}
end
local out, pos = {}, 2
for i = 1, n do
  local qid, sid = ARGV[pos], ARGV[pos + 1]
  local code = held(qid, sid, ARGV[pos + 2])
  pos = pos + 3
  if code == 0 then
    if R('ZREM', Q(qid, 'cl'), sid) == 0 then
      code = 2
    else
      R('HDEL', Q(qid, 'da'), sid, 'a' .. sid, 't' .. sid, 'c' .. sid, 'e' .. sid)
    end
  end
  out[i] = code
end
return out
)lua";

// ARGV: queue id, id, token. Returns {code (as ack), attempts}.
constexpr const char* kPeek = R"lua(
local qid, sid = ARGV[1], ARGV[2]
local code = held(qid, sid, ARGV[3])
local att = 0
if code == 0 then att = tonumber(R('HGET', Q(qid, 'da'), 'a' .. sid) or '0') or 0 end
return {code, att}
)lua";

// ARGV: now, queue id, type, n, then per job: id, token, where to ('r' ready at the head, 'd'
// delayed, 'a' abandoned), release time as a score, error ('' keeps the last one). Returns a
// code per job, as ack.
constexpr const char* kMove = R"lua(
local now, qid = ARGV[1], ARGV[2]
local order = order_of(ARGV[3])
local da, cl = Q(qid, 'da'), Q(qid, 'cl')
local out, pos, back = {}, 5, {}
for i = 1, tonumber(ARGV[4]) do
  local sid, to, rscore, err = ARGV[pos], ARGV[pos + 2], ARGV[pos + 3], ARGV[pos + 4]
  local code = held(qid, sid, ARGV[pos + 1])
  pos = pos + 5
  if code == 0 and R('ZREM', cl, sid) == 0 then code = 2 end
  if code == 0 then
    R('HDEL', da, 't' .. sid)
    if err ~= '' then R('HSET', da, 'e' .. sid, err) end
    if to == 'd' then
      R('ZADD', Q(qid, 'dl'), rscore, sid)
    elseif to == 'a' then
      R('ZADD', Q(qid, 'ab'), now, sid)
    else
      back[#back + 1] = sid
    end
  end
  out[i] = code
end
if #back > 0 then
  local vals = {}
  if order ~= 'fifo' then vals = hmget(da, back) end
  ready_add(qid, order, back, vals, true)
  bump()
end
return out
)lua";

// ARGV: queue id, id, token, new deadline as a score, new token (the old one when the deadline
// does not change). Returns {code (as ack), the token now current}.
constexpr const char* kTouch = R"lua(
local qid, sid, tok, newtok = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local code = held(qid, sid, tok)
if code ~= 0 then return {code} end
if newtok == tok then return {0, tok} end
if not R('ZSCORE', Q(qid, 'cl'), sid) then return {2} end
R('ZADD', Q(qid, 'cl'), ARGV[4], sid)
R('HSET', Q(qid, 'da'), 't' .. sid, newtok)
return {0, newtok}
)lua";

// ARGV: queue id, type. Every abandoned job to ready, attempts reset, behind the ready ones.
// Returns how many moved.
constexpr const char* kRepush = R"lua(
local qid = ARGV[1]
local order = order_of(ARGV[2])
local ab, da = Q(qid, 'ab'), Q(qid, 'da')
local sids = idsof(R('ZRANGE', ab, 0, -1), ab, true)
R('DEL', ab)
if #sids == 0 then return 0 end
local att = {}
for i, sid in ipairs(sids) do att[i] = 'a' .. sid end
many('HDEL', da, att)
local vals = {}
if order ~= 'fifo' then vals = hmget(da, sids) end
ready_add(qid, order, sids, vals, false)
bump()
return #sids
)lua";

// ARGV: queue id, type, id. Returns {0} (retried), {1} (no such job) or {2, its state}.
constexpr const char* kRetry = R"lua(
local qid, sid = ARGV[1], ARGV[3]
local da = Q(qid, 'da')
local state = state_of(qid, sid)
if state == 'ready' and R('HEXISTS', da, sid) == 0 then return {1} end
if state ~= 'ab' then return {2, state} end
R('ZREM', Q(qid, 'ab'), sid)
R('HDEL', da, 'a' .. sid)
local order = order_of(ARGV[2])
local vals = {}
if order ~= 'fifo' then vals = hmget(da, {sid}) end
ready_add(qid, order, {sid}, vals, false)
bump()
return {0}
)lua";

// ARGV: queue id, id. Returns 0 (deleted) or 1 (no such job). A job whose record is gone
// (moved aside as corrupt) can still be deleted from its set.
constexpr const char* kDelete = R"lua(
local qid, sid = ARGV[1], ARGV[2]
local da = Q(qid, 'da')
local v = R('HGET', da, sid)
local state = state_of(qid, sid)
if state == 'ready' then
  if not v then return 1 end
  -- LREM walks the list: O(ready jobs), for this rare administrative call.
  R('LREM', Q(qid, 'rl'), 1, sid)
  R('ZREM', Q(qid, 'rz'), zm(sid))
  ready_gone(qid)
else
  R('ZREM', Q(qid, state), sid)
end
if v and not bad(v) and has(string.byte(v, 2), F_DEDUP) then
  local h = dedup_hash(v)
  if R('HGET', Q(qid, 'dd'), h) == sid then R('HDEL', Q(qid, 'dd'), h) end
end
R('HDEL', da, sid, 'a' .. sid, 't' .. sid, 'c' .. sid, 'e' .. sid)
return 0
)lua";

// ARGV: queue id. Every job in every state, with the dedup entries; root registrations stay
// (they outlive jobs, as on every medium).
constexpr const char* kClear = R"lua(
local qid = ARGV[1]
for _, k in ipairs({'rl', 'rz', 'cl', 'dl', 'ab', 'da', 'dd'}) do R('UNLINK', Q(qid, k)) end
R('SREM', P .. 'ready', qid)
return 0
)lua";

// ARGV: now, queue id, type, limit, promote (0/1), reclaim (0/1), prune before ('' none),
// roots before ('' none). Returns {promoted, pruned, roots expired, abandoned (expired
// claims whose record does not decode), more (0/1)}, then per expired claim to decide: id,
// attempts, token.
constexpr const char* kMaintain = R"lua(
local now, qid, limit = ARGV[1], ARGV[2], tonumber(ARGV[4])
local order = order_of(ARGV[3])
local da = Q(qid, 'da')
local promoted, pruned, rexp, abandoned, more = 0, 0, 0, 0, 0
if ARGV[5] == '1' then
  local dl = Q(qid, 'dl')
  local raw = R('ZRANGE', dl, '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
  if #raw == limit then more = 1 end
  local due = idsof(raw, dl, true)
  if #due > 0 then
    many('ZREM', dl, due)
    local vals = {}
    if order ~= 'fifo' then vals = hmget(da, due) end
    ready_add(qid, order, due, vals, false)
    promoted = #due
    bump()
  end
end
if ARGV[7] ~= '' then
  local ab = Q(qid, 'ab')
  local raw = R('ZRANGE', ab, '-inf', '(' .. ARGV[7], 'BYSCORE', 'LIMIT', 0, limit)
  if #raw == limit then more = 1 end
  local old = idsof(raw, ab, true)
  local fields = {}
  for _, sid in ipairs(old) do
    for _, f in ipairs({'', 'a', 't', 'c', 'e'}) do fields[#fields + 1] = f .. sid end
  end
  many('ZREM', ab, old)
  many('HDEL', da, fields)
  pruned = #old
end
if ARGV[8] ~= '' then
  local rt, rc = Q(qid, 'rt'), Q(qid, 'rtc')
  local before = tonumber(ARGV[8])
  local cursor = R('GET', rc) or '0'
  if not string.match(cursor, '^%d+$') then cursor = '0' end
  local r = R('HSCAN', rt, cursor, 'COUNT', limit)
  local dead = {}
  for i = 1, #r[2], 2 do
    local ts = tonumber(r[2][i + 1])
    if not ts or ts < before then dead[#dead + 1] = r[2][i] end
  end
  many('HDEL', rt, dead)
  rexp = #dead
  if r[1] == '0' then
    R('DEL', rc)
  else
    R('SET', rc, r[1])
    more = 1
  end
end
local out = {0, 0, 0, 0, 0}
if ARGV[6] == '1' then
  local cl = Q(qid, 'cl')
  local raw = R('ZRANGE', cl, '-inf', '(' .. now, 'BYSCORE', 'LIMIT', 0, limit)
  if #raw == limit then more = 1 end
  local exp = idsof(raw, cl, true)
  local fields = {}
  for _, sid in ipairs(exp) do
    fields[#fields + 1] = sid
    fields[#fields + 1] = 't' .. sid
    fields[#fields + 1] = 'a' .. sid
  end
  local vals = hmget(da, fields)
  for i, sid in ipairs(exp) do
    local v, t, att = vals[3 * i - 2], vals[3 * i - 1], vals[3 * i]
    local why = bad(v)
    if not why and not t then why = 'claimed without a claim token' end
    if why then
      R('ZREM', cl, sid)
      R('HDEL', da, 't' .. sid)
      abandon_corrupt(qid, sid, why, now)
      abandoned = abandoned + 1
    else
      out[#out + 1] = sid
      out[#out + 1] = tonumber(att or '0') or 0
      out[#out + 1] = t
    end
  end
end
out[1], out[2], out[3], out[4], out[5] = promoted, pruned, rexp, abandoned, more
return out
)lua";

// ARGV: queue id. Returns {ready, claimed, delayed, abandoned}.
constexpr const char* kCounts = R"lua(
local qid = ARGV[1]
return {R('LLEN', Q(qid, 'rl')) + R('ZCARD', Q(qid, 'rz')), R('ZCARD', Q(qid, 'cl')),
        R('ZCARD', Q(qid, 'dl')), R('ZCARD', Q(qid, 'ab'))}
)lua";

// Returns per queue that ever held a job: its id, ready, claimed, delayed, abandoned.
constexpr const char* kQueues = R"lua(
local out = {}
for _, qid in ipairs(R('SMEMBERS', P .. 'queues')) do
  out[#out + 1] = qid
  out[#out + 1] = R('LLEN', Q(qid, 'rl')) + R('ZCARD', Q(qid, 'rz'))
  out[#out + 1] = R('ZCARD', Q(qid, 'cl'))
  out[#out + 1] = R('ZCARD', Q(qid, 'dl'))
  out[#out + 1] = R('ZCARD', Q(qid, 'ab'))
end
return out
)lua";

// ARGV: queue id, type, state (ready, cl, dl, ab), cursor, limit. Returns {next cursor ('' at
// the end, false for a cursor this function did not make)}, then per job: id, state, record
// (false when missing), attempts, token ('' unless claimed), claimed at, error, score. A
// cursor is SEGMENT POSITION ':' ID (segment l: the ready list, z: the ready zset, t: a timed
// set): a page resumes after that job where it is now, or at its old position when it left.
constexpr const char* kList = R"lua(
local qid, state, cursor, limit = ARGV[1], ARGV[3], ARGV[4], tonumber(ARGV[5])
local order = order_of(ARGV[2])
local segs
if state == 'ready' then
  if order == 'fifo' then segs = {'l', 'z'} else segs = {'z', 'l'} end
else
  segs = {'t'}
end
local function key(seg)
  if seg == 'l' then return Q(qid, 'rl') elseif seg == 'z' then return Q(qid, 'rz') end
  return Q(qid, state)
end
local first, start = 1, 0
if cursor ~= '' then
  local seg, pos, sid = string.match(cursor, '^(%a)(%d+):(%d+)$')
  first = nil
  for i, s in ipairs(segs) do if s == seg then first = i end end
  if not first then return {false} end
  pos = tonumber(pos)
  local k = key(seg)
  if seg == 'l' then
    if pos > 0 and R('LINDEX', k, pos - 1) == sid then
      start = pos
    else
      local p = R('LPOS', k, sid)
      start = p and p + 1 or pos
    end
  else
    local r = R('ZRANK', k, seg == 'z' and zm(sid) or sid)
    start = r and r + 1 or pos
  end
end
local got = {}  -- {seg, position, id, score}
for i = first, #segs do
  local seg = segs[i]
  local need = limit + 1 - #got
  if need <= 0 then break end
  local from = (i == first) and start or 0
  local k = key(seg)
  if seg == 'l' then
    local ms = R('LRANGE', k, from, from + need - 1)
    for j, m in ipairs(ms) do
      local sid = idof(m)
      if sid then got[#got + 1] = {seg, from + j, sid, '0'} end
    end
  else
    local ms = R('ZRANGE', k, from, from + need - 1, 'WITHSCORES')
    for j = 1, #ms, 2 do
      local sid = idof(ms[j])
      if sid then got[#got + 1] = {seg, from + (j + 1) / 2, sid, ms[j + 1]} end
    end
  end
end
local out = {''}
if #got > limit then
  local g = got[limit]
  out[1] = g[1] .. S(g[2]) .. ':' .. g[3]
  got[limit + 1] = nil
end
local fields = {}
for _, g in ipairs(got) do
  for _, f in ipairs({'', 'a', 't', 'c', 'e'}) do fields[#fields + 1] = f .. g[3] end
end
local vals = {}
if #fields > 0 then vals = hmget(Q(qid, 'da'), fields) end
for i, g in ipairs(got) do
  local b = 5 * (i - 1)
  out[#out + 1] = g[3]
  out[#out + 1] = state
  out[#out + 1] = vals[b + 1]
  out[#out + 1] = vals[b + 2] or '0'
  out[#out + 1] = vals[b + 3] or ''
  out[#out + 1] = vals[b + 4] or '0'
  out[#out + 1] = vals[b + 5] or ''
  out[#out + 1] = g[4]
end
return out
)lua";

// ARGV: queue id, id. Returns {} when the job is not there, else {state (ready, cl, dl, ab),
// record (false when missing), attempts, token, claimed at, error, score}.
constexpr const char* kInspect = R"lua(
local qid, sid = ARGV[1], ARGV[2]
local da = Q(qid, 'da')
local v = R('HMGET', da, sid, 'a' .. sid, 't' .. sid, 'c' .. sid, 'e' .. sid)
local state, score = state_of(qid, sid)
if not v[1] and state == 'ready' then return {} end
return {state, v[1], v[2] or '0', v[3] or '', v[4] or '0', v[5] or '', score}
)lua";

// ARGV: queue id. Returns what is wrong with the queue, one line each (empty: healthy).
// Reads every job of the queue: O(jobs), for an operator's check.
constexpr const char* kCheck = R"lua(
local qid = ARGV[1]
local found = {}
local function say(s) found[#found + 1] = s end
local kinds = {rl = 'list', rz = 'zset', cl = 'zset', dl = 'zset', ab = 'zset', da = 'hash',
               dd = 'hash', rt = 'hash', rtc = 'string'}
for kind, want in pairs(kinds) do
  local t = redis.call('TYPE', Q(qid, kind)).ok
  if t ~= 'none' and t ~= want then
    say('key ' .. Q(qid, kind) .. ' holds a ' .. t .. ', not a ' .. want)
  end
end
if #found > 0 then return found end
local names = {cl = 'claimed', dl = 'delayed', ab = 'abandoned'}
local where = {}
local function mark(sid, st)
  if where[sid] then
    say('job ' .. sid .. ' is both ' .. where[sid] .. ' and ' .. st)
  else
    where[sid] = st
  end
end
local function junk(m, k) say(k .. ' holds ' .. string.format('%q', m) .. ', not a job id') end
for _, m in ipairs(R('LRANGE', Q(qid, 'rl'), 0, -1)) do
  local sid = idof(m)
  if sid then mark(sid, 'ready') else junk(m, Q(qid, 'rl')) end
end
for _, m in ipairs(R('ZRANGE', Q(qid, 'rz'), 0, -1)) do
  local sid = idof(m)
  if sid then mark(sid, 'ready') else junk(m, Q(qid, 'rz')) end
end
for k, st in pairs(names) do
  for _, m in ipairs(R('ZRANGE', Q(qid, k), 0, -1)) do
    local sid = idof(m)
    if sid then mark(sid, st) else junk(m, Q(qid, k)) end
  end
end
local da, dd = Q(qid, 'da'), Q(qid, 'dd')
local all = R('HGETALL', da)
local rec, aux = {}, {}
for i = 1, #all, 2 do
  local f = all[i]
  local kind, sid = string.match(f, '^([atce]?)([1-9]%d*)$')
  if not kind then
    say(da .. ' holds field ' .. string.format('%q', f) .. ', not a job\'s')
  elseif kind == '' then
    rec[sid] = all[i + 1]
  else
    aux[#aux + 1] = {kind, sid}
    if kind == 't' and where[sid] ~= 'claimed' then
      say('job ' .. sid .. ' has a claim token but is ' .. (where[sid] or 'in no state'))
    end
  end
end
for sid, v in pairs(rec) do
  local st = where[sid]
  if not st then
    say('job ' .. sid .. ' has a record but is in no state')
  else
    local why = bad(v)
    if why then say('job ' .. sid .. ' (' .. st .. '): ' .. why) end
  end
end
local tokens = {}
for _, a in ipairs(aux) do
  if a[1] == 't' then tokens[a[2]] = true end
  if not where[a[2]] and not rec[a[2]] then
    say('field ' .. a[1] .. a[2] .. ' of ' .. da .. ' belongs to no job')
  end
end
for sid, st in pairs(where) do
  if not rec[sid] then say('job ' .. sid .. ' is ' .. st .. ' but has no record') end
  if st == 'claimed' and not tokens[sid] then say('job ' .. sid .. ' is claimed without a claim token') end
end
local entries = R('HGETALL', dd)
for i = 1, #entries, 2 do
  local sid = entries[i + 1]
  local v = rec[sid]
  local st = where[sid]
  if not v or bad(v) or not has(string.byte(v, 2), F_DEDUP) or dedup_hash(v) ~= entries[i] or
     (st ~= 'ready' and st ~= 'delayed') then
    say('dedup entry in ' .. dd .. ' points at job ' .. sid ..
        ', which is not a queued job with that hash')
  end
end
local ready = R('LLEN', Q(qid, 'rl')) + R('ZCARD', Q(qid, 'rz'))
local indexed = R('SISMEMBER', P .. 'ready', qid) == 1
if (ready > 0) ~= indexed then
  say(ready .. ' ready jobs but the queue is ' .. (indexed and '' or 'not ') .. 'in ' .. P .. 'ready')
end
return found
)lua";

// ARGV: has a domain (0/1), domain, n types, types..., n excluded, excluded.... Returns a
// ready queue id the filter allows, picked uniformly at random, or false.
constexpr const char* kPick = R"lua(
local want = ARGV[1] == '1' and ARGV[2] or nil
local pos = 3
local types = nil
local nt = tonumber(ARGV[pos])
pos = pos + 1
if nt > 0 then
  types = {}
  for _ = 1, nt do types[ARGV[pos]] = true pos = pos + 1 end
end
local excl = {}
for _ = 1, tonumber(ARGV[pos]) do pos = pos + 1 excl[ARGV[pos]] = true end
local ok = {}
for _, q in ipairs(R('SMEMBERS', P .. 'ready')) do
  local d, t = string.match(q, '^(.*)/([^/]*)$')
  if d and (not want or d == want) and (not types or types[t]) and not excl[t] then
    ok[#ok + 1] = q
  end
end
if #ok == 0 then return false end
return ok[math.random(#ok)]
)lua";

struct Def {
  ScriptId id;
  const char* name;
  bool writes;
  const char* body;
};

constexpr Def kDefs[] = {
    {ScriptId::kPush, "push", true, kPush},
    {ScriptId::kRestore, "restore", true, kRestore},
    {ScriptId::kClaim, "claim", true, kClaim},
    {ScriptId::kAck, "ack", true, kAck},
    {ScriptId::kPeek, "peek", false, kPeek},
    {ScriptId::kMove, "move", true, kMove},
    {ScriptId::kTouch, "touch", true, kTouch},
    {ScriptId::kRepush, "repush", true, kRepush},
    {ScriptId::kRetry, "retry", true, kRetry},
    {ScriptId::kDelete, "delete", true, kDelete},
    {ScriptId::kClear, "clear", true, kClear},
    {ScriptId::kMaintain, "maintain", true, kMaintain},
    {ScriptId::kCounts, "counts", false, kCounts},
    {ScriptId::kQueues, "queues", false, kQueues},
    {ScriptId::kList, "list", false, kList},
    {ScriptId::kInspect, "inspect", false, kInspect},
    {ScriptId::kCheck, "check", false, kCheck},
    {ScriptId::kPick, "pick", false, kPick},
};

std::string Sha1Hex(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(text.data(), text.size(), md, &n, EVP_sha1(), nullptr);
  std::string out;
  char buf[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    out += buf;
  }
  return out;
}

// The library: the shared code, each script's body as a local function, and one registered
// function per script. Its name carries a hash of its text, so that stores of different
// jobstore versions on one server each call their own functions.
Library Build() {
  Library lib;
  std::string code = kLibrary;
  for (const Def& d : kDefs) {
    code += std::string("local function body_") + d.name + "(KEYS, ARGV)\n" + d.body + "end\n";
  }
  const std::string tag = Sha1Hex(code).substr(0, 16);
  lib.name = "jobstore_" + tag;
  lib.functions.resize(std::size(kDefs));
  for (const Def& d : kDefs) {
    Function& f = lib.functions[static_cast<size_t>(d.id)];
    f.name = lib.name + "_" + d.name;
    f.read_only = !d.writes;
    // A writing function is refused at its start when the server is out of memory, never
    // half-way; a read-only one (no-writes) runs then too, and on replicas (FCALL_RO).
    code += "redis.register_function{function_name = '" + f.name +
            "', callback = function(keys, args) META = keys[1]; P = string.sub(META, 1, #META - "
            "4); WRITABLE = " + (d.writes ? "true" : "false") + "; return body_" + d.name +
            "(keys, args) end" + (d.writes ? "" : ", flags = {'no-writes'}") + "}\n";
  }
  lib.source = "#!lua name=" + lib.name + "\n" + code;
  return lib;
}

}  // namespace

const Library& GetLibrary() {
  static const Library library = Build();
  return library;
}

}  // namespace jobstore::redis
