--[[ book_slot: the booking primitive on its own, for any paced limit that is not a provider's: the earliest
time at which one schedule has room for one more event, booked atomically. book_send.lua books a
provider's sends with the same two functions (booking.lua).

Preludes (booking.py puts them in front): clock.lua (`now`, `now_us`), booking.lua.
KEYS[1]  the schedule: sorted set, score = booked time (epoch µs), member = token; name it under the
         caller's own hash tag
ARGV[1]  now_ms (epoch ms) or "" for server TIME
ARGV[2]  token: this booking's member (string, unique)
ARGV[3]  limit: events in any window (> 0)
ARGV[4]  window (ms)
ARGV[5]  least spacing between two events (ms); the spacing used is max(this, window / limit), which is
         what keeps every window at `limit` (booking.lua)
ARGV[6]  not before (ms from now)
ARGV[7]  horizon (ms from now + not before): book nothing later; 0 = only an immediate time

Returns {booked (1 or 0), wait (µs): from now to the booked time, or until a booking within the horizon
becomes possible (>= 1 ms), now (epoch ms)}
]]

local token = ARGV[2]
local limit, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local spacing = math.ceil(math.max(tonumber(ARGV[5]), window / limit) * 1000)
local earliest = now_us + tonumber(ARGV[6]) * 1000
local latest = earliest + tonumber(ARGV[7]) * 1000

local t = find_slot(KEYS[1], earliest, spacing)
if t > latest then
  return {0, math.max(math.ceil((t - latest) / 1000), 1) * 1000, now}
end
book(KEYS[1], t, spacing, now_us, token)
return {1, t - now_us, now}
