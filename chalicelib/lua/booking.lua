--[[ booking: the earliest free time in one schedule, paced. A prelude (router.py puts it in front of
book_send.lua); the two functions take the schedule key, so a further paced limit books by the same rule.

A schedule is a sorted set: score = booked time (epoch µs, whole), member = a token unique per booking.
The rule: no two bookings closer than `spacing` µs. With spacing >= window / limit, no half-open window of
`window` µs ever holds more than `limit` bookings, because limit + 1 bookings span >= limit * spacing >= window:

   b1      b2      b3         limit 2, window W, spacing W / 2
   |-------|-------|          any [x, x + W) holds at most two of them

find_slot(key, earliest, spacing)
  the earliest time t >= earliest (µs) at least `spacing` (µs) away from every booking. Holes left by given-back
  bookings are filled: the walk looks at the first WALK bookings from earliest - spacing on, then goes after
  the last booking. A hole further out is found once it comes within WALK bookings of `earliest` (a schedule
  booked seconds ahead is walked in four steps, not its whole length).
book(key, t, spacing, now_us, member)
  books `t` (found by find_slot in the same script) and drops bookings that no walk or status count needs
  any more (older than now - spacing - 1 s). The set lives until one minute after its last booking.
]]
local WALK = 4
local RETAIN_US = 1000000
local IDLE_TTL_MS = 60000

-- An exclusive score bound, written out in full: Lua's own number-to-string keeps 14 digits, and epoch µs have 16.
local function exclusive(us)
  return string.format('(%.0f', us)
end

local function find_slot(key, earliest, spacing)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2]
  if last == nil or tonumber(last) + spacing <= earliest then
    return earliest  -- nothing booked near or after `earliest`: the common case below capacity
  end
  local t = earliest
  local near = redis.call('ZRANGEBYSCORE', key, exclusive(earliest - spacing), '+inf', 'WITHSCORES', 'LIMIT', 0,
    WALK)
  for i = 2, #near, 2 do
    local booked = tonumber(near[i])
    if booked >= t + spacing then
      return t
    end
    t = math.max(t, booked + spacing)
  end
  return math.max(t, tonumber(last) + spacing)
end

local function book(key, t, spacing, now_us, member)
  redis.call('ZADD', key, t, member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', exclusive(now_us - spacing - RETAIN_US))
  local ttl = math.ceil((t - now_us) / 1000) + IDLE_TTL_MS
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end
