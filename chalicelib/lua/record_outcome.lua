--[[ record_outcome: one provider answer, atomically: its arrival offset into the jitter estimate, a 429 into
the rate cut (both pacing.lua), and a success or failure into the health window, tripping the provider or
reporting its recovery.

Preludes (router.py puts them in front): clock.lua (`now`: ARGV[1] injected epoch ms, or "" for the Redis
server's TIME, the clock book_send decides on), pacing.lua, health.lua (which outcomes count).

Keys (one provider; all share the routing keyspace's hash tag {prefix}):
  KEYS[1]  {prefix}:ok:<name>     sorted set of successes: score = outcome time (epoch ms), member "<ms>:<token>"
  KEYS[2]  {prefix}:fail:<name>   sorted set of failures, same shape
  KEYS[3]  {prefix}:down:<name>   string: unhealthy until (epoch ms), PX = cooldown
  KEYS[4]  {prefix}:since:<name>  string: outcomes count from this time on (epoch ms) = end of the last
                                  cooldown, PX = cooldown + window
  KEYS[5]  {prefix}:streak:<name> string: failures in a row since the last success, PX = window
  KEYS[6]  {prefix}:pace:<name>   hash: jitter estimate and rate cut (pacing.lua)
ARGV[1]  now_ms (epoch ms) or "" for server TIME
ARGV[2]  "1" success, "0" failure, "t" throttled (a 429: cuts the rate, not counted for health),
         "n" neither (an answer that says nothing about the provider's health, such as a refusal)
ARGV[3]  token making this outcome's member unique (string)
ARGV[4]  health window (ms)
ARGV[5]  failure-rate threshold in parts per million (integers keep "exactly 70% does not trip" exact)
ARGV[6]  minimum outcomes in the window before the rate is judged
ARGV[7]  cooldown (ms)
ARGV[8]  failures in a row that trip the provider whatever its rate (0 = off)
ARGV[9]  the send's arrival offset (ms, from its booked time: how late it left + its round trip), or ""
         when there is no answer to time (a timeout, a connection error)

Why a streak as well as a rate: a provider that served well for minutes has many successes in its
window, so going hard down takes it a long time to pass the rate (50/s of history: thousands of
failures). Consecutive failures say "down now" within a fraction of a second; the rate rule still
catches a provider that fails often but not in a row.

Returns {change, successes, failures, unhealthy_until (epoch ms) or -1}
  change = 0 nothing flipped, 1 became unhealthy, 2 healthy again (the first outcome counted after a cooldown)
  successes / failures = the outcomes counted after this one (0, 0 for "t" and "n")

Why "since": requests in flight when the provider trips keep failing during the cooldown. Counting them
after recovery would trip the provider again at its first outcome. So only outcomes from the end of the
cooldown on count, until the older ones have left the window anyway (which is when the key expires); the
rule is health.lua's, and provider_status.lua counts with it too.
]]

local ok_key, fail_key, down_key, since_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local pace_key = KEYS[6]
local outcome = ARGV[2]
local success = outcome == '1'
local token = ARGV[3]
local window = tonumber(ARGV[4])
local threshold_ppm = tonumber(ARGV[5])
local min_samples = tonumber(ARGV[6])
local cooldown = tonumber(ARGV[7])
local streak_key, streak_trip = KEYS[5], tonumber(ARGV[8])

if ARGV[9] ~= '' then
  observe_arrival_offset(pace_key, tonumber(ARGV[9]))
end
if outcome == 't' then
  cut_rate(pace_key, now)
end
if outcome ~= '1' and outcome ~= '0' then
  return {0, 0, 0, -1}
end

local healthy, _, successes, failures, recovering = health_of(ok_key, fail_key, down_key, since_key, window)
local first_since_recovery = recovering and successes + failures == 0

local outcome_key = success and ok_key or fail_key
redis.call('ZADD', outcome_key, now, now .. ':' .. token)
redis.call('ZREMRANGEBYSCORE', ok_key, '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', fail_key, '-inf', now - window)
-- Every outcome in the set is younger than this one, so the set may vanish one window after it.
redis.call('PEXPIRE', outcome_key, window)
local streak = 0
if success then
  successes = successes + 1
  redis.call('DEL', streak_key)
else
  failures = failures + 1
  streak = redis.call('INCR', streak_key)
  redis.call('PEXPIRE', streak_key, window)
end

local total = successes + failures
local rate_trips = total >= min_samples and failures * 1000000 > threshold_ppm * total
local streak_trips = streak_trip > 0 and streak >= streak_trip
if healthy and (rate_trips or streak_trips) then
  redis.call('DEL', streak_key)
  local unhealthy_until = now + cooldown
  redis.call('SET', down_key, unhealthy_until, 'PX', cooldown)
  redis.call('SET', since_key, unhealthy_until, 'PX', cooldown + window)
  return {1, successes, failures, unhealthy_until}
end
if first_since_recovery then
  return {2, successes, failures, -1}
end
return {0, successes, failures, -1}
