--[[ book_send: one atomic routing decision across every configured provider, and the send it books.

Health, an operator's pause, exclusion and smooth weighted round-robin choose the provider, and its earliest
free send time is booked (booking.lua, paced by pacing.lua), in this one script: two dispatchers can never
book the same time, and every provider's bookings stay `spacing` apart. The caller waits until the booked time, then
sends, or gives the booking back (ZREM of its member) if it cannot use it.

Preludes (router.py puts them in front): clock.lua (`now`, `now_us`), booking.lua, pacing.lua.
All keys share one hash tag ({prefix}) so the whole routing keyspace lives in one Redis Cluster slot.
N = (#KEYS - 1) / 4 providers, in configured order; provider i (1-based) owns:
  KEYS[1]           {prefix}:wrr           hash: smooth-WRR current weight per provider name, and field
                                           ":healthy", the health signature ("101") those weights belong to
  KEYS[4 * i - 2]   {prefix}:book:<name>   sorted set, the schedule: score = booked send time (epoch µs),
                                           member = token (unique per booking)
  KEYS[4 * i - 1]   {prefix}:down:<name>   string: unhealthy until (epoch ms); absent or in the past = healthy
  KEYS[4 * i]       {prefix}:pace:<name>   hash: jitter estimate and 429 rate cut (pacing.lua)
  KEYS[4 * i + 1]   {prefix}:paused:<name> hash: an operator's pause {reason, by, at, until}; field until = epoch
                                           ms ("" = until resumed). A paused provider counts as unhealthy.
ARGV[1]             now_ms (epoch ms) or "" for server TIME
ARGV[2]             token: this booking's member (string)
ARGV[3]             TTL of the WRR state (ms): it is only smoothing, losing it when idle costs nothing
ARGV[4]             index (1-based) of the provider that failed this request last; 0 = none
ARGV[5]             not before (ms from now): the earliest send time the caller can use (its claim takes that long)
ARGV[6]             horizon (ms from now + not before): a provider whose earliest free time is later is not a
                    candidate (the caller would wait too long)
ARGV[7]             least jitter guard (ms)
ARGV[8]             largest jitter guard (ms)
ARGV[9 + 4 * (i-1)]  provider i name
ARGV[10 + 4 * (i-1)] provider i rate limit (sends per any 1 s)
ARGV[11 + 4 * (i-1)] provider i configured weight
ARGV[12 + 4 * (i-1)] provider i role: 0 = eligible, 1 = excluded (the fallback may readmit it),
                     2 = never (a resend restricted to another provider)

Returns {reason, provider name or false, wait (µs), now (epoch µs), guard (ms)}
  reason = "booked"        wait = from now to the booked send time (>= 0); guard = the provider's guard
         | "rate_limited"  wait = until the earliest candidate's free time comes within the horizon (>= 1 ms)
         | "no_healthy"    wait = until the first cooldown or pause ends (>= 1 ms); a pause counts as ending
                                  within PAUSED_RETRY_MS at most
]]

-- A pause may end any time (an operator resumes it): a request with nowhere else to go asks again within this
-- long, not at a far `until` (up to 7 days; its queue message would stay hidden up to SQS's 12 h).
local PAUSED_RETRY_MS = 60000

local token = ARGV[2]
local wrr_ttl = tonumber(ARGV[3])
local last_failed = tonumber(ARGV[4])
local earliest = now_us + tonumber(ARGV[5]) * 1000
local latest = earliest + tonumber(ARGV[6]) * 1000
local guard_min, guard_max = tonumber(ARGV[7]), tonumber(ARGV[8])
local wrr_key = KEYS[1]
local count = math.floor((#KEYS - 1) / 4)

local names, limits, weights, roles = {}, {}, {}, {}
local healthy, down_until = {}, {}
local all_healthy = true
local signature = {}
for i = 1, count do
  local arg = 9 + 4 * (i - 1)
  names[i] = ARGV[arg]
  limits[i] = tonumber(ARGV[arg + 1])
  weights[i] = tonumber(ARGV[arg + 2])
  roles[i] = tonumber(ARGV[arg + 3])
  -- The key expires by itself when the cooldown ends; the value check covers an injected clock
  -- running ahead of the server's.
  down_until[i] = tonumber(redis.call('GET', KEYS[4 * i - 1]))
  healthy[i] = down_until[i] == nil or down_until[i] <= now
  -- An operator's pause counts exactly as a cooldown. Its key expires at `until` (PX = until - now, set by
  -- provider_health.py); the value check covers an injected clock, as for the cooldown.
  local paused_by, paused_until = unpack(redis.call('HMGET', KEYS[4 * i + 1], 'by', 'until'))
  if paused_by then
    local resumes = tonumber(paused_until)
    if resumes == nil or resumes > now then
      healthy[i] = false
      local ends = math.min(resumes or math.huge, now + PAUSED_RETRY_MS)
      if down_until[i] == nil or down_until[i] < ends then
        down_until[i] = ends
      end
    end
  end
  all_healthy = all_healthy and healthy[i]
  signature[i] = healthy[i] and '1' or '0'
end

local function healthy_where(admit)
  local found = {}
  for i = 1, count do
    if healthy[i] and admit(i) then
      table.insert(found, i)
    end
  end
  return found
end

-- Exclusion fallback: the request's failed providers, then only the last one that failed, then
-- (when it is the only healthy provider left) that one too: a retry, already delayed by backoff,
-- beats no retry at all.
local eligible = healthy_where(function(i) return roles[i] == 0 end)
if #eligible == 0 then
  eligible = healthy_where(function(i) return roles[i] ~= 2 and i ~= last_failed end)
end
if #eligible == 0 then
  eligible = healthy_where(function(i) return roles[i] ~= 2 end)
end

if #eligible == 0 then
  -- Invariant: every provider not ruled out by role is unhealthy or paused here (the caller allows at least one).
  local retry_after
  for i = 1, count do
    if roles[i] ~= 2 then
      local wait = down_until[i] - now
      if retry_after == nil or wait < retry_after then
        retry_after = wait
      end
    end
  end
  return {'no_healthy', false, math.max(retry_after, 1) * 1000, now_us, 0}
end

-- A provider is a candidate when its earliest free time is within the horizon.
local candidates = {}
local slot, spacing, guard = {}, {}, {}
local retry_after
for _, i in ipairs(eligible) do
  spacing[i], guard[i] = pace_of(KEYS[4 * i], now, limits[i], guard_min, guard_max)
  slot[i] = find_slot(KEYS[4 * i - 2], earliest, spacing[i])
  if slot[i] <= latest then
    table.insert(candidates, i)
  elseif retry_after == nil or slot[i] - latest < retry_after then
    retry_after = slot[i] - latest
  end
end
if #candidates == 0 then
  return {'rate_limited', false, math.max(math.ceil(retry_after / 1000), 1) * 1000, now_us, 0}
end

-- Smooth weighted round-robin (nginx): every candidate's current weight grows by its effective weight,
-- the largest wins and gives back the total. Configured weights while every provider is healthy, equal
-- weights otherwise. A change of the healthy set starts the currents afresh so one regime's debts do
-- not skew the next.
local health_signature = table.concat(signature)
local fields = {':healthy'}
for _, i in ipairs(candidates) do
  table.insert(fields, names[i])
end
local stored = redis.call('HMGET', wrr_key, unpack(fields))
if stored[1] ~= health_signature then
  redis.call('DEL', wrr_key)
  stored = {}
end
local total, best, best_current = 0, nil, nil
local currents = {}
for position, i in ipairs(candidates) do
  local weight = all_healthy and weights[i] or 1
  currents[i] = (tonumber(stored[position + 1]) or 0) + weight
  total = total + weight
  if best == nil or currents[i] > best_current then
    best, best_current = i, currents[i]
  end
end
currents[best] = currents[best] - total
local update = {':healthy', health_signature}
for _, i in ipairs(candidates) do
  table.insert(update, names[i])
  table.insert(update, currents[i])
end
redis.call('HSET', wrr_key, unpack(update))
redis.call('PEXPIRE', wrr_key, wrr_ttl)

book(KEYS[4 * best - 2], slot[best], spacing[best], now_us, token)
return {'booked', names[best], slot[best] - now_us, now_us, guard[best]}
