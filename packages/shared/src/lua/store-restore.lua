--[[
store-restore.lua: write an agent's table back into an empty store, keeping its lineage and
revision, so agents on that (epoch, revision) need not reload and older ones catch up by snapshot.
Succeeds only on an empty store (no epoch, no revision, no pools, routes or default): of several
controllers racing, exactly one restore wins. The change log starts empty (history before the
restore is gone); one audit record names the agent whose copy was restored.

KEYS[1] epoch   KEYS[2] rev   KEYS[3] default   KEYS[4] pools   KEYS[5] routes
KEYS[6] refcount   KEYS[7] route-refs   KEYS[8] audit   KEYS[9] offers

ARGV[1] epoch to restore
ARGV[2] revision to restore
ARGV[3] agent id whose copy this is (audited)
ARGV[4] audit cap (approximate MAXLEN)
ARGV[5] default upstream JSON ("" for none)
ARGV[6] pools the default names (space-separated, "" for none)
ARGV[7] pool count p; then pool i occupies ARGV[8+2(i-1)], ARGV[9+2(i-1)]: name, JSON
ARGV[8+2p] route count r; then route j occupies 3 slots after it: host, JSON, pools it names

Returns {"ok", epoch, revision} or {"not_empty"} (nothing written).
]]

if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) > 0 or redis.call('HLEN', KEYS[4]) > 0
  or redis.call('HLEN', KEYS[5]) > 0 then
  return {'not_empty'}
end

local counts = {}
local function addRefs(referrer, refs)
  if refs == '' then return end
  redis.call('HSET', KEYS[7], referrer, refs)
  for p in string.gmatch(refs, '%S+') do counts[p] = (counts[p] or 0) + 1 end
end

if ARGV[5] ~= '' then
  redis.call('SET', KEYS[3], ARGV[5])
  addRefs('@default', ARGV[6])
end
local np = tonumber(ARGV[7])
for i = 1, np do
  redis.call('HSET', KEYS[4], ARGV[8 + 2 * (i - 1)], ARGV[9 + 2 * (i - 1)])
end
local base = 8 + 2 * np
local nr = tonumber(ARGV[base])
for j = 1, nr do
  local b = base + 1 + 3 * (j - 1)
  redis.call('HSET', KEYS[5], ARGV[b], ARGV[b + 1])
  addRefs(ARGV[b], ARGV[b + 2])
end
for p, c in pairs(counts) do redis.call('HSET', KEYS[6], p, c) end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[9])
local t = redis.call('TIME')
local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[4], '*', 'rev', ARGV[2], 'at', at, 'actor', 'fleet-restore',
  'action', 'store.restore', 'target', ARGV[3], 'before', '',
  'after', cjson.encode({epoch = ARGV[1], revision = tonumber(ARGV[2]), agent = ARGV[3], pools = np, routes = nr}))
return {'ok', ARGV[1], tonumber(ARGV[2])}
