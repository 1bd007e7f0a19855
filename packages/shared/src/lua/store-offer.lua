--[[
store-offer.lua: an agent offers the table it serves while the store is uninitialised, so the
newest copy in the fleet can be written back (store-restore.lua). Written only while the store
has no lineage: an offer can never land on (or outlive the start of) an initialised store.

KEYS[1] epoch    string lineage id
KEYS[2] offers   hash agent id -> JSON StoreOffer

ARGV[1] agent id
ARGV[2] offer JSON
ARGV[3] offers TTL (ms): offers from agents that died go away

Returns 1 when the offer was recorded, 0 when the store is initialised (nothing written).
]]

if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
