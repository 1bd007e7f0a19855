--[[
cutover-release.lua: release a cutover's host locks, only those it still holds.

KEYS[1..n] cutover-lock:<host>
ARGV[1]    cutover id
Returns the number of locks released.
]]
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    n = n + 1
  end
end
return n
