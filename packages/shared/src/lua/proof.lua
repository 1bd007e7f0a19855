--[[
proof.lua: one agent's heartbeat, and its ack when it has just applied a revision, in one step.
One command instead of MULTI/SET/ZADD/PUBLISH/EXEC: with a thousand agents acking the same write,
Redis and every agent process handle a fifth of the commands, and the ack is never seen without
the record that backs it (a controller that missed the ack reads the same revision from the record).

KEYS[1] agent record  string JSON AgentRecord, expiring
KEYS[2] agents index  sorted set id -> expiry (ms)

ARGV[1] record JSON
ARGV[2] record TTL (ms)
ARGV[3] agent id
ARGV[4] index score: the record's expiry (ms)
ARGV[5] ack channel, or "" for a heartbeat without an ack
ARGV[6] ack message JSON (when ARGV[5] is set)
ARGV[7] prune index entries that expired before this score (ms), or "" to skip

Returns the number of subscribers that received the ack (0 for a plain heartbeat).
]]

redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
if ARGV[7] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[7])
end
if ARGV[5] ~= '' then
  return redis.call('PUBLISH', ARGV[5], ARGV[6])
end
return 0
