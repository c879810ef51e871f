--[[ provider_status: read-only snapshot of every provider's health and rate use, in one round trip.

Clock: ARGV[1] is epoch ms when the caller injects a clock (tests); "" reads the Redis server's TIME,
the clock the routing decisions use.

N = #KEYS / 5 providers, in configured order; provider i (1-based) owns, under the hash tag {prefix}:
  KEYS[5 * (i-1) + 1]  {prefix}:rate:<name>   slot log (score = slot time, epoch ms)
  KEYS[5 * (i-1) + 2]  {prefix}:ok:<name>     successes (score = outcome time, epoch ms)
  KEYS[5 * (i-1) + 3]  {prefix}:fail:<name>   failures (score = outcome time, epoch ms)
  KEYS[5 * (i-1) + 4]  {prefix}:down:<name>   unhealthy until (epoch ms)
  KEYS[5 * (i-1) + 5]  {prefix}:since:<name>  outcomes count from this time on (epoch ms)
ARGV[1]  now_ms (epoch ms) or "" for server TIME
ARGV[2]  health window (ms)

Returns {now, then per provider: healthy (1/0), successes, failures, unhealthy_until (epoch ms) or -1,
slots taken in the last 1000 ms}. Counts follow record_outcome.lua's rule: the window, narrowed to
outcomes since the end of a recent cooldown; while a provider is down, the whole window.
]]

-- `now` (epoch ms) comes from clock.lua, which router.py puts in front of this script.
local window = tonumber(ARGV[2])

local status = {now}
for base = 0, #KEYS - 5, 5 do
  local rate_key, ok_key, fail_key = KEYS[base + 1], KEYS[base + 2], KEYS[base + 3]
  local down_until = tonumber(redis.call('GET', KEYS[base + 4]))
  local since = tonumber(redis.call('GET', KEYS[base + 5]))
  local healthy = down_until == nil or down_until <= now
  local counted_from = now - window + 1
  if healthy and since ~= nil and since > counted_from then
    counted_from = since
  end
  table.insert(status, healthy and 1 or 0)
  table.insert(status, redis.call('ZCOUNT', ok_key, counted_from, '+inf'))
  table.insert(status, redis.call('ZCOUNT', fail_key, counted_from, '+inf'))
  table.insert(status, healthy and -1 or down_until)
  table.insert(status, redis.call('ZCOUNT', rate_key, '(' .. (now - 1000), '+inf'))
end
return status
