--[[ refresh_slot: move one provider's taken but still unused rate slot to now, if its window has room.

Why: the provider counts on arrival. A dispatcher that took a slot at s and could only send much later
(a slow claim) would arrive in a later window than the one the slot was counted in; the provider could
then see limit + 1. Before sending such a stale slot, the dispatcher trades it for one taken now. The
stale slot is given back in any case: it was never used.

Clock: as pick_provider (ARGV[1] injected epoch ms, or "" for the Redis server's TIME).
KEYS[1]   {prefix}:rate:<name>   sorted set, the provider's slot log: score = slot time (epoch ms)
ARGV[1]   now_ms (epoch ms) or "" for server TIME
ARGV[2]   rate window (ms) = 1000 + guard
ARGV[3]   the stale slot's member, "<ms>:<token>", as pick_provider wrote it
ARGV[4]   token making the new slot's member unique (string)
ARGV[5]   the provider's rate limit (slots per window)

Returns {granted (1 or 0), retry_after (ms, 0 when granted), now (epoch ms)}
]]

-- `now` (epoch ms) comes from clock.lua, which router.py puts in front of this script.
local rate_key = KEYS[1]
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[5])

redis.call('ZREM', rate_key, ARGV[3])
redis.call('ZREMRANGEBYSCORE', rate_key, '-inf', now - window)
if redis.call('ZCARD', rate_key) < limit then
  redis.call('ZADD', rate_key, now, now .. ':' .. ARGV[4])
  redis.call('PEXPIRE', rate_key, window)
  return {1, 0, now}
end
local oldest = tonumber(redis.call('ZRANGE', rate_key, 0, 0, 'WITHSCORES')[2])
return {0, math.max(oldest + window - now, 1), now}
