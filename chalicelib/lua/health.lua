--[[ health: which of a provider's outcomes count, and whether it is out of its cooldown. A prelude:
router.py puts it in front of record_outcome.lua (which judges the counts) and provider_status.lua (which
shows them), so both count by this one rule.

health_of(ok_key, fail_key, down_key, since_key, window)
  ok_key, fail_key  sorted sets of successes / failures, score = outcome time (epoch ms)
  down_key          string: unhealthy until (epoch ms), PX = cooldown
  since_key         string: outcomes count from this time on (epoch ms) = end of the last cooldown
  window            the health window (ms)
  returns healthy, down_until (epoch ms or nil), successes, failures (counted now, before any new outcome),
  recovering (healthy, and the last cooldown ended less than one window ago)

The window is (now - window, now], narrowed to [since, now] after a recent cooldown, so the requests that
failed while the provider was down do not trip it again once it is back; while it is down, the whole window:
  trip         until = trip + cooldown              until + window
   |--- down ----|
   |--- since ---------------------------------------|
   in-flight outcomes in [trip, until): shown while down, never counted after recovery
]]

local function health_of(ok_key, fail_key, down_key, since_key, window)
  local down_until = tonumber(redis.call('GET', down_key))
  local healthy = down_until == nil or down_until <= now
  local since = tonumber(redis.call('GET', since_key))
  local recovering = healthy and since ~= nil and since > now - window
  local counted_from = now - window + 1
  if recovering then
    counted_from = since
  end
  local successes = redis.call('ZCOUNT', ok_key, counted_from, '+inf')
  local failures = redis.call('ZCOUNT', fail_key, counted_from, '+inf')
  return healthy, down_until, successes, failures, recovering
end
