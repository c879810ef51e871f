--[[ pacing: how far apart one provider's sends are booked. A prelude: router.py puts it in front of the
scripts that book, record outcomes or report status, so the rule lives here once.

  spacing (µs) = (1000 + guard) * 1000 / (limit * factor)

so any window of 1000 + guard ms holds at most limit * factor bookings (booking.lua), and arrivals that
spread by less than the guard never show more than the limit in any 1 s at the provider.

The provider's pace hash, {prefix}:pace:<name> (every field optional; absent = nothing measured yet):
  mean       ms  smoothed arrival offset: from the booked time to the send's estimated arrival
  dev        ms  smoothed mean deviation of that offset (RFC 6298's RTTVAR: gains 1/8 and 1/4)
  peak       ms  the largest recent deviation, decaying by 1/64 per send (a stall is remembered for about
                 a hundred sends, not averaged away)
  factor         share of the configured limit in force after the last 429, in (0, 1]
  factor_at  ms  when `factor` was set: it recovers linearly from then on
The hash is only a measurement: losing it (idle for an hour) starts afresh at the least guard and full rate.

  guard  = clamp(ceil(max(4 * dev, 2 * peak)), guard_min, guard_max)
           4 mean deviations: the whole range of a uniform spread; 2 peaks: the range of the recent tails
  factor = min(1, factor + RECOVERY_PER_S * seconds since factor_at)

A 429 means the provider counted more than we did: the factor drops to THROTTLE_CUT of its current value
(never below MIN_FACTOR, at most once per CUT_EVERY_MS, since one overshoot answers several 429s), then
climbs back to 1 at RECOVERY_PER_S per second (from 0.5: 10 s):

  factor 1.0 ----+        ____----
                 |___----
                 429
]]
local THROTTLE_CUT, MIN_FACTOR, RECOVERY_PER_S, CUT_EVERY_MS = 0.8, 0.5, 0.05, 1000
local PACE_TTL_MS = 3600000
local PEAK_DECAY = 63 / 64

local function rate_factor(fields, at)
  local factor, since = tonumber(fields[1]), tonumber(fields[2])
  if factor == nil or since == nil then
    return 1
  end
  return math.min(1, factor + RECOVERY_PER_S * math.max(0, at - since) / 1000)
end

-- spacing (µs), guard (ms), factor of one provider at `at` (epoch ms).
local function pace_of(key, at, limit, guard_min, guard_max)
  local fields = redis.call('HMGET', key, 'dev', 'peak', 'factor', 'factor_at')
  local guard = guard_min
  local dev, peak = tonumber(fields[1]), tonumber(fields[2])
  if dev ~= nil and peak ~= nil then
    guard = math.min(guard_max, math.max(guard_min, math.ceil(math.max(4 * dev, 2 * peak))))
  end
  local factor = rate_factor({fields[3], fields[4]}, at)
  return math.ceil((1000 + guard) * 1000 / (limit * factor)), guard, factor
end

-- One send's arrival offset (ms) into the smoothed mean and deviation.
local function observe_arrival_offset(key, offset)
  local fields = redis.call('HMGET', key, 'mean', 'dev', 'peak')
  local mean, dev, peak = tonumber(fields[1]), tonumber(fields[2]), tonumber(fields[3])
  if mean == nil or dev == nil or peak == nil then
    -- The first offset says where arrivals sit, not how far they spread: no spread is seen yet.
    mean, dev, peak = offset, 0, 0
  else
    local deviation = math.abs(offset - mean)
    dev = dev + (deviation - dev) / 4
    peak = math.max(deviation, peak * PEAK_DECAY)
    mean = mean + (offset - mean) / 8
  end
  redis.call('HSET', key, 'mean', tostring(mean), 'dev', tostring(dev), 'peak', tostring(peak))
  redis.call('PEXPIRE', key, PACE_TTL_MS)
end

-- A 429 at `at` (epoch ms): cut the rate, once per CUT_EVERY_MS.
local function cut_rate(key, at)
  local fields = redis.call('HMGET', key, 'factor', 'factor_at')
  if tonumber(fields[2]) ~= nil and at - tonumber(fields[2]) < CUT_EVERY_MS then
    return
  end
  local factor = math.max(MIN_FACTOR, rate_factor(fields, at) * THROTTLE_CUT)
  redis.call('HSET', key, 'factor', tostring(factor), 'factor_at', at)
  redis.call('PEXPIRE', key, PACE_TTL_MS)
end
