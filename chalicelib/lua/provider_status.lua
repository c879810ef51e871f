--[[ provider_status: read-only snapshot of every provider's health, pace and use, in one round trip.

Preludes (router.py puts them in front): clock.lua (`now`, `now_us`: ARGV[1] injected epoch ms, or "" for
the Redis server's TIME, the clock the routing decisions use), pacing.lua, health.lua.

N = #KEYS / 7 providers, in configured order; provider i (1-based) owns, under the hash tag {prefix}:
  KEYS[7 * (i-1) + 1]  {prefix}:book:<name>   schedule (score = booked send time, epoch µs)
  KEYS[7 * (i-1) + 2]  {prefix}:ok:<name>     successes (score = outcome time, epoch ms)
  KEYS[7 * (i-1) + 3]  {prefix}:fail:<name>   failures (score = outcome time, epoch ms)
  KEYS[7 * (i-1) + 4]  {prefix}:down:<name>   unhealthy until (epoch ms)
  KEYS[7 * (i-1) + 5]  {prefix}:since:<name>  outcomes count from this time on (epoch ms)
  KEYS[7 * (i-1) + 6]  {prefix}:pace:<name>   jitter estimate and rate cut (pacing.lua)
  KEYS[7 * (i-1) + 7]  {prefix}:paused:<name> an operator's pause: hash {reason, by, at (epoch ms), until (epoch ms
                                              or "" = until resumed)}
ARGV[1]  now_ms (epoch ms) or "" for server TIME
ARGV[2]  health window (ms)
ARGV[3]  least jitter guard (ms)
ARGV[4]  largest jitter guard (ms)

Returns {now, then per provider: healthy (1/0), successes, failures, unhealthy_until (epoch ms) or -1,
sends booked in the last 1000 ms, sends booked ahead of now, jitter guard (ms), rate factor (ppm), paused
(1/0), then the pause's reason, by, at, until ("" each when not paused)}. A pause whose until has passed
(an injected clock ahead of the server's) is not shown, as book_send.lua no longer counts it.
Counts follow the rule record_outcome.lua judges by (health.lua): the window, narrowed to outcomes since
the end of a recent cooldown; while a provider is down, the whole window.
]]

local window = tonumber(ARGV[2])
local guard_min, guard_max = tonumber(ARGV[3]), tonumber(ARGV[4])

local status = {now}
for base = 0, #KEYS - 7, 7 do
  local book_key = KEYS[base + 1]
  local healthy, down_until, successes, failures = health_of(KEYS[base + 2], KEYS[base + 3], KEYS[base + 4],
    KEYS[base + 5], window)
  local _, guard, factor = pace_of(KEYS[base + 6], now, 1, guard_min, guard_max)
  table.insert(status, healthy and 1 or 0)
  table.insert(status, successes)
  table.insert(status, failures)
  table.insert(status, healthy and -1 or down_until)
  table.insert(status, redis.call('ZCOUNT', book_key, string.format('(%.0f', now_us - 1000000),
    string.format('%.0f', now_us)))
  table.insert(status, redis.call('ZCOUNT', book_key, string.format('(%.0f', now_us), '+inf'))
  table.insert(status, guard)
  table.insert(status, math.floor(factor * 1000000))
  local pause = redis.call('HMGET', KEYS[base + 7], 'reason', 'by', 'at', 'until')
  local resumes = tonumber(pause[4])
  if pause[2] and (resumes == nil or resumes > now) then
    table.insert(status, 1)
    for field = 1, 4 do
      table.insert(status, pause[field] or '')
    end
  else
    table.insert(status, 0)
    for _ = 1, 4 do
      table.insert(status, '')
    end
  end
end
return status
