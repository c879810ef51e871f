"""The providers' health and live state, as the router's scripts keep them in Redis: one outcome in
(``record_outcome.lua``: the health window, the failure streak, the jitter estimate and the 429 rate cut),
every provider's state out (``provider_status.lua``), and the one GET the dispatcher makes before a send
booked a while ago (``is_healthy``), and an operator's pause and resume of a provider (``pause``, ``resume``:
book_send.lua treats a paused provider exactly as an unhealthy one). The booking decision that reads the same
keys is the router's (router.py, which also names the keyspace and builds this).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.errors import NotFound, UnprocessableEntity
from chalicelib.logs import logger
from chalicelib.redis_scripts import RedisBacked, ScriptClock, register, text
from chalicelib.settings import ProviderConfig

if TYPE_CHECKING:
    from chalicelib.policies import RoutingPolicy

HEALTH_CHANGE_NONE, HEALTH_CHANGE_TRIPPED, HEALTH_CHANGE_RECOVERED = 0, 1, 2
# An operator's pause ends by itself at most this far ahead (a longer one is a configuration change: remove the
# provider); without an end it lasts until resumed.
MAX_PAUSE_MS = 7 * 24 * 3600 * 1000
PAUSE_ROW = 5  # provider_status.lua: paused (1/0), reason, by, at, until


@dataclass(frozen=True)
class HealthChange:
    provider: str
    healthy: bool
    unhealthy_until_ms: int | None
    successes: int
    failures: int


@dataclass(frozen=True)
class Pause:
    """An operator took the provider out of rotation: why, who (the client name of the operator's key), when."""

    reason: str
    by: str
    at_ms: int  # epoch ms, the routing clock
    until_ms: int | None  # epoch ms; None: until resumed


@dataclass(frozen=True)
class ProviderState:
    name: str
    healthy: bool
    failure_rate: float
    successes: int
    failures: int
    unhealthy_until_ms: int | None
    rate_limit: int
    weight: int
    in_use_last_second: int  # sends booked in the last second
    booked_ahead: int  # sends booked for later
    jitter_guard_ms: int  # added to the 1 s window, from the measured arrival spread
    effective_rate_limit: float  # rate_limit, lowered for a while after a 429
    paused: Pause | None = None  # an operator's pause: no new bookings while it lasts


class ProviderHealth(RedisBacked):
    def __init__(self, redis_client, providers: Sequence[ProviderConfig], keys: Mapping[str, Mapping[str, str]], *,
                 policy: RoutingPolicy, clock: ScriptClock):
        self._redis = redis_client
        self._providers = tuple(providers)
        self._keys = keys  # provider name -> key kind -> key (router.py names them)
        self._clock = clock
        self._policy = policy
        self._health_window_ms = policy.health_window_s * 1000
        self._failure_rate_ppm = round(policy.failure_rate * 1_000_000)
        self._cooldown_ms = policy.unhealthy_for_s * 1000
        self._status_keys = [
            keys[name][kind] for name in keys for kind in ("book", "ok", "fail", "down", "since", "pace", "paused")
        ]
        self._record = register(redis_client, "record_outcome", "pacing", "health")
        self._status = register(redis_client, "provider_status", "pacing", "health")

    def is_healthy(self, provider: str) -> bool:
        """One GET: whether the provider is out of any cooldown now (a booking made before it tripped must
        not be used after)."""
        self._require_known(provider)
        down_until = self._redis.get(self._keys[provider]["down"])
        # The key expires when the cooldown ends (server clock); an injected clock compares the value.
        injected = self._clock.injected
        return down_until is None or (injected is not None and int(down_until) <= injected())

    def record_outcome(self, provider: str, success: bool | None, *, throttled: bool = False,
                       arrival_offset_ms: float | None = None) -> HealthChange | None:
        """One answer of a provider: its arrival offset into the jitter estimate, a 429 (`throttled`) into
        the rate cut, a success or failure (`success` None: neither) into the health window. Says so when
        the provider's health flipped."""
        self._require_known(provider)
        keys = self._keys[provider]
        outcome = "t" if throttled else "n" if success is None else "1" if success else "0"
        change, successes, failures, unhealthy_until_ms = self._record(
            keys=[keys[kind] for kind in ("ok", "fail", "down", "since", "streak", "pace")],
            args=[
                self._clock.now_arg(),
                outcome,
                self._clock.token(),
                self._health_window_ms,
                self._failure_rate_ppm,
                self._policy.min_samples,
                self._cooldown_ms,
                self._policy.failure_streak,
                "" if arrival_offset_ms is None else f"{max(0.0, arrival_offset_ms):.3f}",
            ],
        )
        if change == HEALTH_CHANGE_NONE:
            return None
        return HealthChange(
            provider=provider,
            healthy=change == HEALTH_CHANGE_RECOVERED,
            unhealthy_until_ms=int(unhealthy_until_ms) if change == HEALTH_CHANGE_TRIPPED else None,
            successes=int(successes),
            failures=int(failures),
        )

    def provider_states(self) -> list[ProviderState]:
        """Every provider's live health, pace and use, read in one round trip."""
        _now_ms, *rows = self._status(keys=self._status_keys, args=[
            self._clock.now_arg(), self._health_window_ms, self._policy.guard_ms, self._policy.guard_max_ms])
        states = []
        width = 8 + PAUSE_ROW
        for index, provider in enumerate(self._providers):
            healthy, successes, failures, unhealthy_until_ms, in_use, ahead, guard_ms, factor_ppm = rows[
                width * index : width * index + 8]
            paused, reason, by, at_ms, until_ms = rows[width * index + 8 : width * (index + 1)]
            total = successes + failures
            states.append(
                ProviderState(
                    name=provider.name,
                    healthy=healthy == 1,
                    failure_rate=failures / total if total else 0.0,
                    successes=successes,
                    failures=failures,
                    unhealthy_until_ms=None if healthy == 1 else unhealthy_until_ms,
                    rate_limit=provider.rate_limit,
                    weight=provider.weight,
                    in_use_last_second=in_use,
                    booked_ahead=ahead,
                    jitter_guard_ms=guard_ms,
                    effective_rate_limit=round(provider.rate_limit * factor_ppm / 1_000_000, 2),
                    paused=Pause(reason=text(reason), by=text(by), at_ms=int(at_ms),
                                 until_ms=int(until_ms) if until_ms else None) if paused == 1 else None,
                )
            )
        return states

    def pause(self, provider: str, *, reason: str, by: str, until_ms: int | None = None) -> ProviderState:
        """Take a provider out of rotation: no new bookings (book_send.lua) until ``until_ms`` (epoch ms, at most
        MAX_PAUSE_MS ahead; the key expires then) or until resumed. Pausing a paused provider replaces its pause.
        Sends booked before go ahead. ``by`` is the operator's client name."""
        key = self._paused_key(provider)
        now_ms = self._now_ms()
        if until_ms is not None and not now_ms < until_ms <= now_ms + MAX_PAUSE_MS:
            raise UnprocessableEntity(f"until must be in the future and at most {MAX_PAUSE_MS // 86_400_000} days "
                                      "ahead", field="until", code="invalid_until")
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"reason": reason, "by": by, "at": now_ms,
                                    "until": "" if until_ms is None else until_ms})
            if until_ms is not None:
                pipe.pexpire(key, until_ms - now_ms)  # on the routing clock: the server's, or the injected one
            pipe.execute()
        logger.warning("provider paused", extra={"provider": provider, "by": by, "reason": reason,
                                                 "until_ms": until_ms})
        return self._state_of(provider)

    def resume(self, provider: str, *, by: str) -> ProviderState:
        """Back in rotation now; resuming a provider that is not paused changes nothing."""
        if self._redis.delete(self._paused_key(provider)):
            logger.warning("provider resumed", extra={"provider": provider, "by": by})
        return self._state_of(provider)

    def _paused_key(self, provider: str) -> str:
        if provider not in self._keys:
            raise NotFound(f"no provider named {provider!r}", field="name", code="provider_not_found")
        return self._keys[provider]["paused"]

    def _now_ms(self) -> int:
        injected = self._clock.injected
        if injected is not None:
            return injected()
        seconds, microseconds = self._redis.time()
        return seconds * 1000 + microseconds // 1000

    def _state_of(self, provider: str) -> ProviderState:
        return next(state for state in self.provider_states() if state.name == provider)

    def _require_known(self, name: str) -> None:
        if name not in self._keys:
            raise ValueError(f"unknown provider {name!r}")
