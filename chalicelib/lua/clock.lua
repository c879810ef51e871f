--[[ clock: the prelude every routing script starts with (router.py prepends it when loading a script).

ARGV[1] is the time in epoch ms when the caller injects a clock (tests); when it is "", the Redis server's
TIME is used, so every Lambda decides on one clock and client clock skew cannot widen a window.
Defines `now` (epoch ms, whole) and `now_us` (epoch µs, whole: the unit of booked send times).
]]
local now, now_us
if ARGV[1] == "" then
  local time = redis.call('TIME')
  now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
  now = math.floor(now_us / 1000)
else
  now = tonumber(ARGV[1])
  now_us = now * 1000
end
