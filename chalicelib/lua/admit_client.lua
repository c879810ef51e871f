--[[ admit_client: take one request of a client's rate limit and daily quota, or say why not, atomically.

Clock: ARGV[1] is epoch ms when the caller injects a clock (tests); "" reads the Redis server's TIME, one
clock for every API Lambda (the same clock the provider limits use).

Keys (one client; both share the hash tag {prefix:c:<client>}):
  KEYS[1]  {prefix:c:<client>}:rate   sorted set, the admission log: score = admission time (epoch ms),
                                      member "<ms>:<token>"; PEXPIRE = window
  KEYS[2]  {prefix:c:<client>}:day    string "<UTC day number>:<admitted that day>"; PX = until the day ends
ARGV[1]  now_ms (epoch ms) or "" for server TIME
ARGV[2]  window (ms): 1000
ARGV[3]  limit: admissions in any window
ARGV[4]  daily quota: admissions per UTC day
ARGV[5]  token making this admission's member unique (string)

Returns {admitted (1/0), remaining in the window, ms until the window has room again (0 when it has),
remaining today, ms until the day ends, reason: "" | "rate" | "quota", the admission's member or ""}

The window is a sliding log, as the provider limit's: an admission at s occupies the log during
[s, s + window), so no window of that length ever holds more than `limit` admissions.
]]

-- `now` (epoch ms) comes from clock.lua, which the caller puts in front of this script.
local rate_key, day_key = KEYS[1], KEYS[2]
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local quota = tonumber(ARGV[4])
local day_ms = 86400000
local day = math.floor(now / day_ms)
local day_left = (day + 1) * day_ms - now

local used_today = 0
local stored = redis.call('GET', day_key)
if stored then
  local stored_day, count = string.match(stored, '^(%d+):(%d+)$')
  if tonumber(stored_day) == day then
    used_today = tonumber(count)
  end
end
redis.call('ZREMRANGEBYSCORE', rate_key, '-inf', now - window)
local in_window = redis.call('ZCARD', rate_key)
local function room_in()
  if in_window < limit then
    return 0
  end
  local oldest = tonumber(redis.call('ZRANGE', rate_key, 0, 0, 'WITHSCORES')[2])
  return math.max(oldest + window - now, 1)
end

if used_today >= quota then
  return {0, math.max(limit - in_window, 0), room_in(), 0, day_left, 'quota', ''}
end
if in_window >= limit then
  return {0, 0, room_in(), quota - used_today, day_left, 'rate', ''}
end
local member = now .. ':' .. ARGV[5]
redis.call('ZADD', rate_key, now, member)
redis.call('PEXPIRE', rate_key, window)
redis.call('SET', day_key, day .. ':' .. (used_today + 1), 'PX', day_left)
in_window = in_window + 1
return {1, limit - in_window, room_in(), quota - used_today - 1, day_left, '', member}
