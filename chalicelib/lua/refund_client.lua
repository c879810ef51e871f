--[[ refund_client: give back one admission that never became a request (storing or queueing it failed).

Clock: as admit_client (ARGV[1] injected epoch ms, or "" for the Redis server's TIME).
Keys: as admit_client.
  KEYS[1]  {prefix:c:<client>}:rate   the admission log
  KEYS[2]  {prefix:c:<client>}:day    "<UTC day number>:<admitted that day>"
ARGV[1]  now_ms (epoch ms) or "" for server TIME
ARGV[2]  the admission's member in the log, "<ms>:<token>", as admit_client wrote it

Returns 1 when the admission was still there to give back, else 0 (already out of its window: only the
day's count is given back, and only when it is still the same day).
]]

-- `now` (epoch ms) comes from clock.lua, which the caller puts in front of this script.
local removed = redis.call('ZREM', KEYS[1], ARGV[2])
local stored = redis.call('GET', KEYS[2])
if stored then
  local stored_day, count = string.match(stored, '^(%d+):(%d+)$')
  local admitted_day = math.floor(tonumber(string.match(ARGV[2], '^(%d+):')) / 86400000)
  if tonumber(stored_day) == admitted_day and tonumber(count) > 0 then
    redis.call('SET', KEYS[2], stored_day .. ':' .. (tonumber(count) - 1), 'KEEPTTL')
  end
end
return removed
