--[[ pick_provider: one atomic routing decision across every configured provider.

Health, exclusion, rate-limit slot and smooth weighted round-robin are decided, and the chosen provider's
slot is taken, in this one script: two dispatchers can never both take the last slot of a window.

Clock: ARGV[1] is the decision time in epoch ms when the caller injects a clock (tests); when it is "",
the Redis server's TIME is used, so every Lambda decides on one clock and client clock skew cannot
widen a rate window.

All keys share one hash tag ({prefix}) so the whole routing keyspace lives in one Redis Cluster slot.
N = (#KEYS - 1) / 2 providers, in configured order; provider i (1-based) owns:
  KEYS[1]             {prefix}:wrr          hash: smooth-WRR current weight per provider name, and field
                                            ":healthy", the health signature ("101") those weights belong to
  KEYS[2 * i]         {prefix}:rate:<name>  sorted set, the slot log: score = slot time (epoch ms),
                                            member = "<ms>:<token>" (unique per decision)
  KEYS[2 * i + 1]     {prefix}:down:<name>  string: unhealthy until (epoch ms); absent or in the past = healthy
ARGV[1]             now_ms (epoch ms) or "" for server TIME
ARGV[2]             rate window (ms) = 1000 + guard
ARGV[3]             token making this decision's slot member unique (string)
ARGV[4]             TTL of the WRR state (ms): it is only smoothing, losing it when idle costs nothing
ARGV[5]             index (1-based) of the provider that failed this request last; 0 = none
ARGV[6 + 4 * (i-1)] provider i name
ARGV[7 + 4 * (i-1)] provider i rate limit (slots per window)
ARGV[8 + 4 * (i-1)] provider i configured weight
ARGV[9 + 4 * (i-1)] provider i role: 0 = eligible, 1 = excluded (the fallback may readmit it),
                    2 = never (a resend restricted to another provider)

Returns {reason, provider name or false, retry_after (ms), now (epoch ms)}
  reason = "chosen" | "rate_limited" | "no_healthy"

Rate window, limit 2, window W: a slot at s occupies the log during [s, s + W).
   s1     s2              s1+W   s2+W
   |------|---- full -----|------|        a third slot is granted from s1 + W on,
   so any W ms hold at most `limit` slots (and any 1000 ms window at the provider, as long as its
   arrival jitter stays under the guard).
]]

-- `now` (epoch ms) comes from clock.lua, which router.py puts in front of this script.
local window = tonumber(ARGV[2])
local token = ARGV[3]
local wrr_ttl = tonumber(ARGV[4])
local last_failed = tonumber(ARGV[5])
local wrr_key = KEYS[1]
local count = math.floor((#KEYS - 1) / 2)

local names, limits, weights, roles = {}, {}, {}, {}
local healthy, down_until = {}, {}
local all_healthy = true
local signature = {}
for i = 1, count do
  local arg = 6 + 4 * (i - 1)
  names[i] = ARGV[arg]
  limits[i] = tonumber(ARGV[arg + 1])
  weights[i] = tonumber(ARGV[arg + 2])
  roles[i] = tonumber(ARGV[arg + 3])
  -- The key expires by itself when the cooldown ends; the value check covers an injected clock
  -- running ahead of the server's.
  down_until[i] = tonumber(redis.call('GET', KEYS[2 * i + 1]))
  healthy[i] = down_until[i] == nil or down_until[i] <= now
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
  -- Invariant: every provider not ruled out by role is unhealthy here (the caller allows at least one).
  local retry_after
  for i = 1, count do
    if roles[i] ~= 2 then
      local wait = down_until[i] - now
      if retry_after == nil or wait < retry_after then
        retry_after = wait
      end
    end
  end
  return {'no_healthy', false, math.max(retry_after, 1), now}
end

local candidates = {}
local retry_after
for _, i in ipairs(eligible) do
  local rate_key = KEYS[2 * i]
  redis.call('ZREMRANGEBYSCORE', rate_key, '-inf', now - window)
  if redis.call('ZCARD', rate_key) < limits[i] then
    table.insert(candidates, i)
  else
    local oldest = tonumber(redis.call('ZRANGE', rate_key, 0, 0, 'WITHSCORES')[2])
    local wait = oldest + window - now
    if retry_after == nil or wait < retry_after then
      retry_after = wait
    end
  end
end
if #candidates == 0 then
  return {'rate_limited', false, math.max(retry_after, 1), now}
end

-- Smooth weighted round-robin (nginx): every candidate's current weight grows by its effective weight,
-- the largest wins and gives back the total. Configured weights while every provider is healthy, equal
-- weights otherwise. A change of the healthy set starts the currents afresh so one regime's debts do
-- not skew the next.
local health_signature = table.concat(signature)
if redis.call('HGET', wrr_key, ':healthy') ~= health_signature then
  redis.call('DEL', wrr_key)
  redis.call('HSET', wrr_key, ':healthy', health_signature)
end
local total, best, best_current = 0, nil, nil
local currents = {}
for _, i in ipairs(candidates) do
  local weight = all_healthy and weights[i] or 1
  currents[i] = (tonumber(redis.call('HGET', wrr_key, names[i])) or 0) + weight
  total = total + weight
  if best == nil or currents[i] > best_current then
    best, best_current = i, currents[i]
  end
end
currents[best] = currents[best] - total
for _, i in ipairs(candidates) do
  redis.call('HSET', wrr_key, names[i], currents[i])
end
redis.call('PEXPIRE', wrr_key, wrr_ttl)

local rate_key = KEYS[2 * best]
redis.call('ZADD', rate_key, now, now .. ':' .. token)
-- Every slot in the log is younger than the newest one, so the log may vanish one window after it.
redis.call('PEXPIRE', rate_key, window)
return {'chosen', names[best], 0, now}
