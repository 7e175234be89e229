#include "scripts.h"

#include <openssl/evp.h>

#include <array>
#include <cstdio>

namespace jobstore::redis {
namespace {

// What every script starts with. KEYS[1] is "{P}:meta": it names the store's slot, and every
// other key the script touches shares its hash tag.
//
// Robustness: a script never trusts what it reads. Every call goes through R(): a key that
// holds the wrong type of value (a foreign program wrote it) is renamed aside, recorded in
// {P}:aside, and the call retried on the now empty key, so a write script never stops
// half-way (Redis does not roll a failed script back). Read-only scripts cannot rename, and
// fail instead with JOBSTORE-CORRUPT naming the key. Records are checked by bad() before
// any field is used; list and set members that are not job ids are dropped by idof().
constexpr const char* kPreamble = R"lua(
local META = KEYS[1]
local P = string.sub(META, 1, #META - 4)
local function Q(qid, kind) return P .. 'q:' .. qid .. ':' .. kind end
local ZERO8 = string.rep('\0', 8)
local F_DEDUP, F_OWNS, F_ROOT, F_ERR, F_DELAYED, F_SELF = 1, 2, 4, 8, 16, 32
local HEAD, FIXED = 30, 50
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

-- A member of a ready, claimed, delayed or abandoned set as a job id ("42"); nil for junk,
-- which is recorded in {P}:aside (and removed from a zset) by a write script.
local function idof(m, key, zset)
  if type(m) == 'string' and #m <= 16 and string.match(m, '^%d+$') then
    local n = tonumber(m)
    if n >= 1 then return S(n) end
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
  if #v < FIXED then return 'record of ' .. #v .. ' bytes, shorter than its fixed part' end
  if string.byte(v, 1) ~= 1 then return 'record format ' .. string.byte(v, 1) .. ' is unknown' end
  local flags = string.byte(v, 2)
  local pos = FIXED + 1
  if has(flags, F_OWNS) and not has(flags, F_DEDUP) then
    return 'record claims a dedup entry but has no dedup hash'
  end
  if has(flags, F_DEDUP) then pos = pos + 32 end
  if has(flags, F_ROOT) then
    if #v < pos then return 'record cut short before its root signature' end
    pos = pos + 1 + string.byte(v, pos) + 8
  end
  if #v < pos - 1 then return 'record cut short' end
  return nil
end
local function dedup_hash(v) return string.sub(v, FIXED + 1, FIXED + 32) end
local function root_of(v, flags)
  local pos = FIXED + 1
  if has(flags, F_DEDUP) then pos = pos + 32 end
  local n = string.byte(v, pos)
  return string.sub(v, pos + 1, pos + n), (struct.unpack('>i8', v, pos + 1 + n))
end
-- `v` with a new mutable head: flags, attempts, nonce, deadline, claimed-at.
local function head(v, flags, att, nonce, dl, cat)
  return struct.pack('>BBI4c8c8i8', 1, flags, att, nonce, dl, cat) .. string.sub(v, HEAD + 1)
end

local function many(cmd, key, args)
  for i = 1, #args, CHUNK do R(cmd, key, unpack(args, i, math.min(i + CHUNK - 1, #args))) end
end
local function hmget(key, sids)
  local out = {}
  for i = 1, #sids, CHUNK do
    local part = R('HMGET', key, unpack(sids, i, math.min(i + CHUNK - 1, #sids)))
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
-- their records, for the priority.
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
        score = -struct.unpack('>i4', vals[i], 39)
      end
      args[#args + 1] = score
      args[#args + 1] = zm(sid)
    end
    many('ZADD', Q(qid, 'rz'), args)
  end
  R('SADD', P .. 'ready', qid)
end

local function ready_gone(qid)
  if R('EXISTS', Q(qid, 'rl'), Q(qid, 'rz')) == 0 then R('SREM', P .. 'ready', qid) end
end

-- Moves aside a job whose record does not decode: abandoned, with the reason as its error.
local function abandon_corrupt(qid, sid, why, now)
  R('ZADD', Q(qid, 'ab'), now, sid)
  R('HSET', Q(qid, 'er'), sid, 'corrupt record: ' .. why)
end

-- The record of job `sid` when (nonce, deadline) is its current claim: v, 0, flags,
-- attempts, claimed-at. Else nil and 1 (no such job), 2 (another claim or another state) or
-- 3 (its record does not decode).
local function held(qid, sid, nonce, draw)
  local v = R('HGET', Q(qid, 'da'), sid)
  if not v then return nil, 1 end
  if bad(v) then return nil, 3 end
  local _, flags, att, n, d, cat = struct.unpack('>BBI4c8c8i8', v)
  if n == ZERO8 or n ~= nonce or d ~= draw then return nil, 2 end
  return v, 0, flags, att, cat
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
local now = tonumber(ARGV[1])
local groups, total, pos = {}, 0, 3
for g = 1, tonumber(ARGV[2]) do
  local n = tonumber(ARGV[pos + 2])
  groups[g] = {ARGV[pos], ARGV[pos + 1], n, pos + 3}
  total = total + n
  pos = pos + 3 + n
end
local id = R('INCRBY', P .. 'ids', total) - total
local out, readied = {}, false
for _, g in ipairs(groups) do
  local qid, n, first = g[1], g[3], g[4]
  local order = order_of(g[2])
  local da, dd, rt = Q(qid, 'da'), Q(qid, 'dd'), Q(qid, 'rt')
  local fields, ready, readyv, delayed = {}, {}, {}, {}
  for i = first, first + n - 1 do
    id = id + 1
    local v, sid = ARGV[i], S(id)
    local flags = string.byte(v, 2)
    local dup = nil
    if has(flags, F_DEDUP) then
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
      if has(flags, F_SELF) then
        local sig, ts = root_of(v, flags)
        local cur = tonumber(R('HGET', rt, sig) or '')
        if not cur or cur < ts then R('HSET', rt, sig, S(ts)) end
      end
      if has(flags, F_DELAYED) then
        delayed[#delayed + 1] = (struct.unpack('>i8', v, 43))
        delayed[#delayed + 1] = sid
      else
        ready[#ready + 1] = sid
        readyv[#readyv + 1] = v
      end
    end
  end
  many('HSET', da, fields)
  many('ZADD', Q(qid, 'dl'), delayed)
  if #ready > 0 then
    ready_add(qid, order, ready, readyv, false)
    readied = true
  end
  R('SADD', P .. 'queues', qid)
end
if readied then bump() end
return out
)lua";

// ARGV: now, queue id, type, max, deadline as a score, deadline (8 bytes), nonces (8 bytes a
// job). Returns the type's settings string ('' for defaults), then per claimed job: id, its
// new record, superseded (0/1). Jobs whose record does not decode go to abandoned instead.
constexpr const char* kClaim = R"lua(
local now, qid, max = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[4])
local dscore, draw, nonces = ARGV[5], ARGV[6], ARGV[7]
local order, settings = order_of(ARGV[3])
local rl, rz, da = Q(qid, 'rl'), Q(qid, 'rz'), Q(qid, 'da')
local picked = {}
local function from_list(k)
  if k <= 0 then return end
  local got = R('LPOP', rl, k)
  if got then
    for _, m in ipairs(got) do picked[#picked + 1] = idof(m, rl, false) end
  end
end
local function from_zset(k)
  if k <= 0 then return end
  local got = R('ZPOPMIN', rz, k)
  for i = 1, #got, 2 do picked[#picked + 1] = idof(got[i], rz, false) end
end
-- (Junk members are dropped: t[#t + 1] = nil adds nothing.)
if order == 'fifo' then
  from_list(max)
  from_zset(max - #picked)
else
  from_zset(max)
  from_list(max - #picked)
end
local sids = picked
local out = {settings or ''}
local vals = hmget(da, sids)
local fields, zargs = {}, {}
local dd, rt = Q(qid, 'dd'), Q(qid, 'rt')
for i, sid in ipairs(sids) do
  local v = vals[i]
  local why = bad(v)
  if why then
    abandon_corrupt(qid, sid, why, now)
  else
    local _, flags, att = struct.unpack('>BBI4', v)
    if has(flags, F_OWNS) then
      local h = dedup_hash(v)
      if R('HGET', dd, h) == sid then R('HDEL', dd, h) end
      flags = flags - F_OWNS
    end
    local sup = 0
    if has(flags, F_ROOT) then
      local sig, ts = root_of(v, flags)
      local cur = tonumber(R('HGET', rt, sig) or '')
      if cur and cur > ts then
        sup = 1
      elseif not cur or cur < ts then
        R('HSET', rt, sig, S(ts))
      end
    end
    v = head(v, flags, att + 1, string.sub(nonces, 8 * i - 7, 8 * i), draw, now)
    fields[#fields + 1] = sid
    fields[#fields + 1] = v
    zargs[#zargs + 1] = dscore
    zargs[#zargs + 1] = sid
    out[#out + 1] = sid
    out[#out + 1] = v
    out[#out + 1] = sup
  end
end
many('HSET', da, fields)
many('ZADD', Q(qid, 'cl'), zargs)
ready_gone(qid)
return out
)lua";

// ARGV: n, then per claim: queue id, id, nonce, deadline (8 bytes each). Returns a code per
// claim: 0 acked, 1 no such job, 2 another claim holds it, 3 its record does not decode.
constexpr const char* kAck = R"lua(
local out, pos = {}, 2
for i = 1, tonumber(ARGV[1]) do
  local qid, sid = ARGV[pos], ARGV[pos + 1]
  local v, code, flags = held(qid, sid, ARGV[pos + 2], ARGV[pos + 3])
  pos = pos + 4
  if v then
    if R('ZREM', Q(qid, 'cl'), sid) == 0 then
      code = 2
    else
      R('HDEL', Q(qid, 'da'), sid)
      if has(flags, F_ERR) then R('HDEL', Q(qid, 'er'), sid) end
    end
  end
  out[i] = code
end
return out
)lua";

// ARGV: queue id, type, id, nonce, deadline. Returns {code (as ack), attempts, settings}.
constexpr const char* kPeek = R"lua(
local v, code, flags, att = held(ARGV[1], ARGV[3], ARGV[4], ARGV[5])
local _, settings = order_of(ARGV[2])
return {code, att or 0, settings or ''}
)lua";

// ARGV: now, queue id, type, n, then per job: id, nonce, deadline, where to ('r' ready at the
// head, 'd' delayed, 'a' abandoned), release time as a score, release time (8 bytes), error
// ('' keeps the last one). Returns a code per job, as ack.
constexpr const char* kMove = R"lua(
local now, qid = tonumber(ARGV[1]), ARGV[2]
local order = order_of(ARGV[3])
local out, pos = {}, 5
local back, backv = {}, {}
for i = 1, tonumber(ARGV[4]) do
  local sid, to, rscore, rraw, err = ARGV[pos], ARGV[pos + 3], ARGV[pos + 4], ARGV[pos + 5],
                                     ARGV[pos + 6]
  local v, code, flags, att, cat = held(qid, sid, ARGV[pos + 1], ARGV[pos + 2])
  pos = pos + 7
  if v and R('ZREM', Q(qid, 'cl'), sid) == 0 then v, code = nil, 2 end
  if v then
    if err ~= '' then
      R('HSET', Q(qid, 'er'), sid, err)
      flags = bit.bor(flags, F_ERR)
    end
    v = head(v, flags, att, ZERO8, ZERO8, cat)
    if to == 'd' then
      v = string.sub(v, 1, 42) .. rraw .. string.sub(v, 51)
      R('ZADD', Q(qid, 'dl'), rscore, sid)
    elseif to == 'a' then
      R('ZADD', Q(qid, 'ab'), now, sid)
    else
      back[#back + 1] = sid
      backv[#backv + 1] = v
    end
    R('HSET', Q(qid, 'da'), sid, v)
  end
  out[i] = code
end
if #back > 0 then
  ready_add(qid, order, back, backv, true)
  bump()
end
return out
)lua";

// ARGV: queue id, id, nonce, deadline, new deadline as a score, new deadline (8 bytes), new
// nonce. Returns {code (as ack), the nonce now current}.
constexpr const char* kTouch = R"lua(
local qid, sid = ARGV[1], ARGV[2]
local v, code, flags, att, cat = held(qid, sid, ARGV[3], ARGV[4])
if not v then return {code} end
if ARGV[6] == ARGV[4] then return {0, ARGV[3]} end
if not R('ZSCORE', Q(qid, 'cl'), sid) then return {2} end
R('ZADD', Q(qid, 'cl'), ARGV[5], sid)
R('HSET', Q(qid, 'da'), sid, head(v, flags, att, ARGV[7], ARGV[6], cat))
return {0, ARGV[7]}
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
local vals = hmget(da, sids)
local fields = {}
for i, sid in ipairs(sids) do
  local v = vals[i]
  if not bad(v) then
    local _, flags, _, _, _, cat = struct.unpack('>BBI4c8c8i8', v)
    vals[i] = head(v, flags, 0, ZERO8, ZERO8, cat)
    fields[#fields + 1] = sid
    fields[#fields + 1] = vals[i]
  end
end
many('HSET', da, fields)
ready_add(qid, order, sids, vals, false)
bump()
return #sids
)lua";

// ARGV: queue id, type, id. Returns {0} (retried), {1} (no such job) or {2, its state}.
constexpr const char* kRetry = R"lua(
local qid, sid = ARGV[1], ARGV[3]
local v = R('HGET', Q(qid, 'da'), sid)
if not v then return {1} end
local state = state_of(qid, sid)
if state ~= 'ab' then return {2, state} end
R('ZREM', Q(qid, 'ab'), sid)
if not bad(v) then
  local _, flags, _, _, _, cat = struct.unpack('>BBI4c8c8i8', v)
  v = head(v, flags, 0, ZERO8, ZERO8, cat)
  R('HSET', Q(qid, 'da'), sid, v)
end
ready_add(qid, order_of(ARGV[2]), {sid}, {v}, false)
bump()
return {0}
)lua";

// ARGV: queue id, id. Returns 0 (deleted) or 1 (no such job).
constexpr const char* kDelete = R"lua(
local qid, sid = ARGV[1], ARGV[2]
local da = Q(qid, 'da')
local v = R('HGET', da, sid)
local state = state_of(qid, sid)
if not v then
  -- A job whose record is gone (moved aside as corrupt) can still be deleted from its set.
  if state == 'ready' then return 1 end
  R('ZREM', Q(qid, state), sid)
  R('HDEL', Q(qid, 'er'), sid)
  return 0
end
if state == 'ready' then
  -- LREM walks the list: O(ready jobs), for this rare administrative call.
  R('LREM', Q(qid, 'rl'), 1, sid)
  R('ZREM', Q(qid, 'rz'), zm(sid))
  ready_gone(qid)
else
  R('ZREM', Q(qid, state), sid)
end
if not bad(v) and has(string.byte(v, 2), F_OWNS) then
  local h = dedup_hash(v)
  if R('HGET', Q(qid, 'dd'), h) == sid then R('HDEL', Q(qid, 'dd'), h) end
end
R('HDEL', da, sid)
R('HDEL', Q(qid, 'er'), sid)
return 0
)lua";

// ARGV: queue id. Every job in every state, with the dedup entries; root registrations stay
// (they outlive jobs, as on every medium).
constexpr const char* kClear = R"lua(
local qid = ARGV[1]
for _, k in ipairs({'rl', 'rz', 'cl', 'dl', 'ab', 'da', 'er', 'dd'}) do R('UNLINK', Q(qid, k)) end
R('SREM', P .. 'ready', qid)
return 0
)lua";

// ARGV: now, queue id, type, limit, promote (0/1), reclaim (0/1), prune before ('' none),
// roots before ('' none). Returns {promoted, pruned, roots expired, abandoned (expired
// claims whose record does not decode), more (0/1)}, then per expired claim to decide: id,
// attempts, nonce, deadline.
constexpr const char* kMaintain = R"lua(
local now, qid, limit = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[4])
local order = order_of(ARGV[3])
local da = Q(qid, 'da')
local promoted, pruned, rexp, abandoned, more = 0, 0, 0, 0, 0
if ARGV[5] == '1' then
  local dl = Q(qid, 'dl')
  local raw = R('ZRANGE', dl, '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, limit)
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
  many('ZREM', ab, old)
  many('HDEL', da, old)
  many('HDEL', Q(qid, 'er'), old)
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
  local raw = R('ZRANGE', cl, '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', 0, limit)
  if #raw == limit then more = 1 end
  local exp = idsof(raw, cl, true)
  local vals = hmget(da, exp)
  for i, sid in ipairs(exp) do
    local why = bad(vals[i])
    if why then
      R('ZREM', cl, sid)
      abandon_corrupt(qid, sid, why, now)
      abandoned = abandoned + 1
    else
      local _, _, att, nonce, dl = struct.unpack('>BBI4c8c8', vals[i])
      out[#out + 1] = sid
      out[#out + 1] = att
      out[#out + 1] = nonce
      out[#out + 1] = dl
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
// the end, false for a cursor this script did not make)}, then per job: id, state, record
// (false when missing), error, score. A cursor is SEGMENT POSITION ':' ID (segment l: the
// ready list, z: the ready zset, t: a timed set): a page resumes after that job where it is
// now, or at its old position when it has left.
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
local sids = {}
for i, g in ipairs(got) do sids[i] = g[3] end
local vals = hmget(Q(qid, 'da'), sids)
local errs = hmget(Q(qid, 'er'), sids)
for i, g in ipairs(got) do
  out[#out + 1] = g[3]
  out[#out + 1] = (state == 'ready') and 'ready' or state
  out[#out + 1] = vals[i]
  out[#out + 1] = errs[i] or ''
  out[#out + 1] = g[4]
end
return out
)lua";

// ARGV: queue id, id. Returns {} when the job is not there, else {state (ready, cl, dl, ab),
// record, error, score}.
constexpr const char* kInspect = R"lua(
local qid, sid = ARGV[1], ARGV[2]
local v = R('HGET', Q(qid, 'da'), sid)
if not v then return {} end
local state, score = state_of(qid, sid)
return {state, v, R('HGET', Q(qid, 'er'), sid) or '', score}
)lua";

// ARGV: queue id. Returns what is wrong with the queue, one line each (empty: healthy).
// Reads every job of the queue: O(jobs), for an operator's check.
constexpr const char* kCheck = R"lua(
local qid = ARGV[1]
local found = {}
local function say(s) found[#found + 1] = s end
local kinds = {rl = 'list', rz = 'zset', cl = 'zset', dl = 'zset', ab = 'zset', da = 'hash',
               er = 'hash', dd = 'hash', rt = 'hash', rtc = 'string'}
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
local dd = Q(qid, 'dd')
local all = R('HGETALL', Q(qid, 'da'))
local rec = {}
for i = 1, #all, 2 do
  local sid, v = all[i], all[i + 1]
  rec[sid] = v
  local st = where[sid]
  if not st then
    say('job ' .. sid .. ' has a record but is in no state')
  else
    local why = bad(v)
    if why then
      say('job ' .. sid .. ' (' .. st .. '): ' .. why)
    else
      local _, flags, _, nonce = struct.unpack('>BBI4c8', v)
      if (st == 'claimed') ~= (nonce ~= ZERO8) then
        say('job ' .. sid .. ' is ' .. st .. ' but its record ' ..
            (nonce == ZERO8 and 'holds no claim' or 'holds a claim'))
      end
      if has(flags, F_OWNS) then
        if st ~= 'ready' and st ~= 'delayed' then
          say('job ' .. sid .. ' is ' .. st .. ' but holds a dedup entry')
        elseif R('HGET', dd, dedup_hash(v)) ~= sid then
          say('job ' .. sid .. ' holds a dedup entry that is not in ' .. dd)
        end
      end
    end
  end
end
for sid, st in pairs(where) do
  if not rec[sid] then say('job ' .. sid .. ' is ' .. st .. ' but has no record') end
end
local entries = R('HGETALL', dd)
for i = 1, #entries, 2 do
  local sid = entries[i + 1]
  local v = rec[sid]
  if not v or bad(v) or not has(string.byte(v, 2), F_OWNS) or dedup_hash(v) ~= entries[i] then
    say('dedup entry in ' .. dd .. ' points at job ' .. sid ..
        ', which is not a queued job holding it')
  end
end
for _, sid in ipairs(R('HKEYS', Q(qid, 'er'))) do
  if not where[sid] and not rec[sid] then say('error entry for job ' .. sid .. ', which is not there') end
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

std::array<Script, std::size(kDefs)> Build() {
  std::array<Script, std::size(kDefs)> out;
  for (const Def& d : kDefs) {
    Script& s = out[static_cast<size_t>(d.id)];
    s.name = d.name;
    // The shebang (Redis 7) makes Redis refuse a writing script at its start when it is out
    // of memory, rather than half-way; no-writes lets the reads run then, and on replicas.
    s.source = std::string(d.writes ? "#!lua\n" : "#!lua flags=no-writes\n") +
               "local WRITABLE = " + (d.writes ? "true" : "false") + "\n" + kPreamble + d.body;
    s.sha1 = Sha1Hex(s.source);
  }
  return out;
}

}  // namespace

const Script& GetScript(ScriptId id) {
  static const std::array<Script, std::size(kDefs)> scripts = Build();
  return scripts[static_cast<size_t>(id)];
}

}  // namespace jobstore::redis
