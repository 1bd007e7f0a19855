--[[
cutover-create.lua: register a cutover and take its per-host locks, or do nothing.

KEYS[1]     cutovers      hash id -> JSON record
KEYS[2]     cutover-index sorted set id -> created-at ms
KEYS[3..n]  cutover-lock:<host>, one per host of the cutover

ARGV[1] cutover id
ARGV[2] JSON record
ARGV[3] created-at ms

Returns
  {"ok"}
  {"locked", lock_index (1-based among the locks), holder_id}
Invariant: one active cutover per host. A lock whose holder is missing or terminal is stale and
is taken over (a worker that died between finishing and releasing leaves one behind).
]]
local terminal = { succeeded = true, rolled_back = true, failed = true, aborted = true }
for i = 3, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder then
    local raw = redis.call('HGET', KEYS[1], holder)
    local active = false
    if raw then
      local ok, rec = pcall(cjson.decode, raw)
      active = ok and type(rec) == 'table' and not terminal[rec.state]
    end
    if active then return {'locked', i - 2, holder} end
  end
end
for i = 3, #KEYS do redis.call('SET', KEYS[i], ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return {'ok'}
