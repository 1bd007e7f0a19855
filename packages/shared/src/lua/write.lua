--[[
write.lua: commit a batch of ops as exactly one new revision, or write nothing.

KEYS[1] rev          string counter
KEYS[2] default      string JSON upstream
KEYS[3] pools        hash name -> JSON pool
KEYS[4] routes       hash host -> JSON route
KEYS[5] refcount     hash pool -> number of referrers
KEYS[6] route-refs   hash referrer (host or "@default") -> space-separated pool names
KEYS[7] log          stream, entry id "<rev>-0", capped exactly
KEYS[8] audit        stream, capped approximately
KEYS[9] epoch        string lineage id; absent = uninitialised (Redis restarted empty or flushed)
KEYS[10] offers      hash agent id -> JSON table offered for a restore (read for existence only)

ARGV[1] expected revision, or "" to skip the compare-and-set
ARGV[2] actor (token name)
ARGV[3] ops JSON, stored in the log and published verbatim
ARGV[4] log cap (exact MAXLEN, >= 1000)
ARGV[5] audit cap (approximate MAXLEN)
ARGV[6] pub/sub channel
ARGV[7] op count n; then op i occupies ARGV[8+4(i-1) .. 11+4(i-1)]:
        type ("pool.put" | "pool.del" | "route.put" | "route.del" | "default.put"),
        key (pool name, host, or "" for the default),
        value JSON ("" for deletes and for a null default),
        refs (space-separated pool names the value names; "" for none)
ARGV[8+4n] deadline: Unix ms (client clock) after which the write must not happen, or "" for
        none. The client sets it to its send time plus its command timeout: a write that reaches
        a hung Redis after the client answered 503 changes nothing (checked by Redis TIME, so it
        assumes the clocks agree, as they do on one host or under NTP to well under a second)
ARGV[9+4n] epoch the writer last saw ("" when it has seen none): with KEYS[9] absent, a writer
        that knew a lineage is looking at a lost store, so it must not start a new one
ARGV[10+4n] a fresh epoch id, used only when this write initialises a fresh install
ARGV[11+4n] note, optional ("" or absent for none), such as "rollback to 12": kept in the log
        entry and in every audit record of this revision (always the last ARGV)

Returns one of
  {"ok", rev, at_ms, epoch}
  {"late", now_ms, deadline_ms}    (checked first: nothing read, nothing written)
  {"uninitialized", known_epoch}   the store lost its lineage and agents may hold it: nothing written
  {"rev_mismatch", current_rev}
  {"missing_pool", op_index, pool}
  {"pool_in_use", op_index, pool, referrers}
  {"not_found", op_index}
  {"bad_op", op_index}
Invariants: every check runs before the first write; op i sees the effects of ops 1..i-1;
refcount[p] equals the number of route-refs entries naming p. The log entry's `undo` is a JSON
array holding, for op i, the value its key had just before op i ran (null when absent): undoing
ops n..1 in that order gives back the state before the revision exactly (rollback relies on it).
]]

local n = tonumber(ARGV[7])
local deadline = ARGV[8 + 4 * n] or ''
local note = ARGV[11 + 4 * n] or ''
if deadline ~= '' then
  local now = redis.call('TIME')
  local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  if nowMs > tonumber(deadline) then return {'late', nowMs, tonumber(deadline)} end
end

-- Lineage (epoch) check, before anything else is read. An absent epoch is a fresh install only
-- when neither this writer nor any agent (offers) knows an older lineage; otherwise the store was
-- lost and waits for a restore from the fleet or an explicit init (store/lineage.ts).
local epoch = redis.call('GET', KEYS[9])
local initEpoch = false
if not epoch then
  local known = ARGV[9 + 4 * n] or ''
  if known ~= '' or redis.call('EXISTS', KEYS[10]) == 1 then return {'uninitialized', known} end
  epoch = ARGV[10 + 4 * n]
  initEpoch = true -- set in phase 2 with everything else: a refused write writes nothing
end

local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then
  return {'rev_mismatch', current}
end

-- Overlays: what the state will be after the ops checked so far. false means deleted.
local vals = {}    -- "pool:"..name / "route:"..host / "default" -> JSON or false
local dirty = {}   -- slots an op changed; only these are written back
local counts = {}  -- pool -> refcount
local refs = {}    -- referrer -> refs string

local function words(s)
  local t = {}
  for w in string.gmatch(s, '%S+') do t[#t + 1] = w end
  return t
end

local function val(kind, key)
  local slot = kind == 'default' and 'default' or (kind .. ':' .. key)
  local v = vals[slot]
  if v == nil then
    if kind == 'pool' then v = redis.call('HGET', KEYS[3], key)
    elseif kind == 'route' then v = redis.call('HGET', KEYS[4], key)
    else v = redis.call('GET', KEYS[2]) end
    vals[slot] = v
  end
  return v
end

local function setVal(kind, key, v)
  local slot = kind == 'default' and 'default' or (kind .. ':' .. key)
  vals[slot] = v
  dirty[slot] = true
end

local function count(pool)
  local c = counts[pool]
  if c == nil then
    c = tonumber(redis.call('HGET', KEYS[5], pool) or '0')
    counts[pool] = c
  end
  return c
end

local function refsOf(referrer)
  local r = refs[referrer]
  if r == nil then
    r = redis.call('HGET', KEYS[6], referrer) or ''
    refs[referrer] = r
  end
  return r
end

local function setRefs(referrer, newRefs)
  for _, p in ipairs(words(refsOf(referrer))) do counts[p] = count(p) - 1 end
  for _, p in ipairs(words(newRefs)) do counts[p] = count(p) + 1 end
  refs[referrer] = newRefs
end

local function referrers(pool)
  local out, seen = {}, {}
  for referrer, r in pairs(refs) do
    seen[referrer] = true
    for _, p in ipairs(words(r)) do if p == pool then out[#out + 1] = referrer end end
  end
  local all = redis.call('HGETALL', KEYS[6])
  for j = 1, #all, 2 do
    if #out >= 10 then break end
    if not seen[all[j]] then
      for _, p in ipairs(words(all[j + 1])) do if p == pool then out[#out + 1] = all[j] end end
    end
  end
  return table.concat(out, ' ')
end

-- Phase 1: check every op against the overlay; remember "before" values for the audit.
local before = {}
for i = 1, n do
  local b = 8 + (i - 1) * 4
  local typ, key, value, r = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local kind = string.match(typ, '^(%a+)%.')
  if kind ~= 'pool' and kind ~= 'route' and kind ~= 'default' then return {'bad_op', i} end
  before[i] = val(kind, key) or ''
  if typ == 'pool.put' then
    setVal('pool', key, value)
  elseif typ == 'pool.del' then
    if not val('pool', key) then return {'not_found', i} end
    if count(key) > 0 then return {'pool_in_use', i, key, referrers(key)} end
    setVal('pool', key, false)
  elseif typ == 'route.put' or typ == 'default.put' then
    for _, p in ipairs(words(r)) do
      if not val('pool', p) then return {'missing_pool', i, p} end
    end
    setRefs(typ == 'route.put' and key or '@default', r)
    setVal(kind, key, value ~= '' and value or false)
  elseif typ == 'route.del' then
    if not val('route', key) then return {'not_found', i} end
    setRefs(key, '')
    setVal('route', key, false)
  else
    return {'bad_op', i}
  end
end

-- Phase 2: write the final overlay.
if initEpoch then redis.call('SET', KEYS[9], epoch) end
for slot in pairs(dirty) do
  local v = vals[slot]
  local kind, key = string.match(slot, '^(%a+):(.*)$')
  if slot == 'default' then
    if v then redis.call('SET', KEYS[2], v) else redis.call('DEL', KEYS[2]) end
  elseif kind == 'pool' then
    if v then redis.call('HSET', KEYS[3], key, v) else redis.call('HDEL', KEYS[3], key) end
  else
    if v then redis.call('HSET', KEYS[4], key, v) else redis.call('HDEL', KEYS[4], key) end
  end
end
for pool, c in pairs(counts) do
  if c > 0 then redis.call('HSET', KEYS[5], pool, c) else redis.call('HDEL', KEYS[5], pool) end
end
for referrer, r in pairs(refs) do
  if r ~= '' then redis.call('HSET', KEYS[6], referrer, r) else redis.call('HDEL', KEYS[6], referrer) end
end

local rev = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Stored values are JSON texts, so the undo array is assembled from them as they are.
local undo = {}
for i = 1, n do undo[i] = before[i] ~= '' and before[i] or 'null' end
local logFields = {'epoch', epoch, 'at', at, 'actor', ARGV[2], 'ops', ARGV[3], 'undo', '[' .. table.concat(undo, ',') .. ']'}
if note ~= '' then logFields[#logFields + 1] = 'note'; logFields[#logFields + 1] = note end
redis.call('XADD', KEYS[7], 'MAXLEN', '=', ARGV[4], rev .. '-0', unpack(logFields))
for i = 1, n do
  local b = 8 + (i - 1) * 4
  local target = ARGV[b + 1] ~= '' and ARGV[b + 1] or 'default'
  local fields = {'rev', rev, 'at', at, 'actor', ARGV[2], 'action', ARGV[b], 'target', target,
    'before', before[i], 'after', ARGV[b + 2]}
  if note ~= '' then fields[#fields + 1] = 'note'; fields[#fields + 1] = note end
  redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[5], '*', unpack(fields))
end
redis.call('PUBLISH', ARGV[6],
  '{"v":2,"epoch":' .. cjson.encode(epoch) .. ',"rev":' .. rev .. ',"at":' .. at .. ',"actor":' .. cjson.encode(ARGV[2]) .. ',"ops":' .. ARGV[3] .. '}')
return {'ok', rev, at, epoch}
