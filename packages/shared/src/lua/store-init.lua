--[[
store-init.lua: start a fresh lineage on an uninitialised store (POST /v1/store/init, confirmed).
Explicit and destructive on purpose: the offers agents made (their tables) are dropped, and so is
any state left without a lineage. Refused on an initialised store, so it can never wipe a live one.

KEYS[1] epoch   KEYS[2] rev   KEYS[3] default   KEYS[4] pools   KEYS[5] routes
KEYS[6] refcount   KEYS[7] route-refs   KEYS[8] log   KEYS[9] audit   KEYS[10] offers

ARGV[1] the new epoch id
ARGV[2] actor (token name)
ARGV[3] audit cap (approximate MAXLEN)

Returns {"ok", epoch} or {"initialized", current_epoch} (nothing written).
]]

local current = redis.call('GET', KEYS[1])
if current then return {'initialized', current} end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[10])
redis.call('SET', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XADD', KEYS[9], 'MAXLEN', '~', ARGV[3], '*', 'rev', 0, 'at', at, 'actor', ARGV[2],
  'action', 'store.init', 'target', 'store', 'before', '', 'after', cjson.encode({epoch = ARGV[1]}))
return {'ok', ARGV[1]}
