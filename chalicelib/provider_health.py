"""The providers' health and live state, as the router's scripts keep them in Redis: one outcome in
(``record_outcome.lua``: the health window, the failure streak, the jitter estimate and the 429 rate cut),
every provider's state out (``provider_status.lua``), and the one GET the dispatcher makes before a send
booked a while ago (``is_healthy``). The booking decision that reads the same keys is the router's
(router.py, which also names the keyspace and builds this).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.redis_scripts import RedisBacked, ScriptClock, register
from chalicelib.settings import ProviderConfig

if TYPE_CHECKING:
    from chalicelib.policies import RoutingPolicy

HEALTH_CHANGE_NONE, HEALTH_CHANGE_TRIPPED, HEALTH_CHANGE_RECOVERED = 0, 1, 2


@dataclass(frozen=True)
class HealthChange:
    provider: str
    healthy: bool
    unhealthy_until_ms: int | None
    successes: int
    failures: int


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
            keys[name][kind] for name in keys for kind in ("book", "ok", "fail", "down", "since", "pace")
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
        for index, provider in enumerate(self._providers):
            healthy, successes, failures, unhealthy_until_ms, in_use, ahead, guard_ms, factor_ppm = rows[
                8 * index : 8 * index + 8]
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
                )
            )
        return states

    def _require_known(self, name: str) -> None:
        if name not in self._keys:
            raise ValueError(f"unknown provider {name!r}")
