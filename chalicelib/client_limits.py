"""Per-client limits: accepted requests in any 1 s (a sliding log, as exact as the provider limits) and per
UTC day, counted in Redis so every API Lambda shares one count (admit_client.lua, refund_client.lua)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.clients import Client
from chalicelib.errors import RateLimitState, TooManyRequests
from chalicelib.redis_scripts import RedisBacked, ScriptClock, register, text

WINDOW_MS = 1000


@dataclass(frozen=True)
class Admission:
    """An accepted request's share of its client's limits; ``rate_limit`` goes on the answer."""

    client: str
    member: str
    rate_limit: RateLimitState


def _seconds(ms: int) -> int:
    return max(1, -(-int(ms) // 1000))  # rounded up: a client that waits this long finds room


class ClientLimiter(RedisBacked):
    def __init__(self, redis_client, *, key_prefix: str, clock: Callable[[], int] | None = None):
        self._redis = redis_client
        self._prefix = key_prefix
        self._clock = ScriptClock(clock)
        self._admit = register(redis_client, "admit_client")
        self._refund = register(redis_client, "refund_client")

    def _keys(self, client: str) -> list[str]:
        tag = f"{{{self._prefix}:c:{client}}}"
        return [f"{tag}:rate", f"{tag}:day"]

    def admit(self, client: Client) -> Admission:
        """Take one request of the client's limits, or raise TooManyRequests (429) saying when to retry."""
        admitted, remaining, room_ms, left_today, day_ms, reason, member = self._admit(
            keys=self._keys(client.name), args=[self._clock.now_arg(), WINDOW_MS, client.rate_limit,
                                                client.daily_quota, self._clock.token()])
        reason, member = text(reason), text(member)
        # RateLimit-* (IETF draft): the policy that runs out first is the one a client must respect.
        if reason == "quota" or (not reason and left_today < remaining):
            state = _state(client.daily_quota, left_today, day_ms)
        else:
            state = _state(client.rate_limit, remaining, room_ms or WINDOW_MS)
        if not admitted:
            wait_ms = day_ms if reason == "quota" else room_ms
            what = (f"daily quota of {client.daily_quota} requests used up" if reason == "quota"
                    else f"rate limit of {client.rate_limit} requests per second reached")
            raise TooManyRequests(f"{what}; retry after {_seconds(wait_ms)} s", field="X-Api-Key",
                                  code="daily_quota_exceeded" if reason == "quota" else "rate_limited",
                                  retry_after_s=_seconds(wait_ms), rate_limit=state)
        return Admission(client.name, member, state)

    def refund(self, admission: Admission) -> None:
        """Give an admission back: the request it was for was never accepted (the API answered 503)."""
        self._refund(keys=self._keys(admission.client), args=[self._clock.now_arg(), admission.member])


def _state(limit: int, remaining: int, reset_ms: int) -> RateLimitState:
    return RateLimitState(limit=int(limit), remaining=max(0, int(remaining)), reset_s=_seconds(reset_ms))
