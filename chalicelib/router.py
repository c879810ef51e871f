"""The router: which provider sends the next SMS, decided in one atomic Redis step.

Every routing rule (docs/architecture.md, "Routing") runs inside a Lua script, so any number of
dispatchers share one exact view: a provider is eligible when it is healthy and not excluded, it needs
a free slot in its rate window, and smooth weighted round-robin chooses among the eligible ones. Each
script's header (lua/*.lua) names its KEYS and ARGV and their units; this module only fills them in.

The keyspace (all under one hash tag, so the cross-provider decision survives Redis Cluster):

    {prefix}:wrr            hash    smooth-WRR current weights (+ the health signature they belong to)
    {prefix}:rate:<name>    zset    slot log, score = slot time (ms); PEXPIRE = rate window
    {prefix}:ok:<name>      zset    successes, score = outcome time (ms); PEXPIRE = health window
    {prefix}:fail:<name>    zset    failures, same shape
    {prefix}:down:<name>    string  unhealthy until (ms); PX = cooldown
    {prefix}:since:<name>   string  outcomes count from this time (ms) on; PX = cooldown + health window
    {prefix}:streak:<name>  string  failures in a row; PX = health window

Clock: the Redis server's TIME unless a clock is injected (tests), one clock for every Lambda.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chalicelib.redis_scripts import redis_errors, script_source
from chalicelib.settings import ProviderConfig, Settings

# Smooth-WRR state is only smoothing: after an idle hour it may vanish and start afresh.
WRR_STATE_TTL_MS = 3_600_000
PROVIDER_ROLE_ELIGIBLE, PROVIDER_ROLE_EXCLUDED, PROVIDER_ROLE_NEVER = 0, 1, 2
HEALTH_CHANGE_NONE, HEALTH_CHANGE_TRIPPED, HEALTH_CHANGE_RECOVERED = 0, 1, 2


@dataclass(frozen=True)
class RoutingPolicy:
    """The health rule and the rate window's guard (HEALTH_*, UNHEALTHY_FOR_S, RATE_LIMIT_GUARD_MS)."""

    health_window_s: int
    failure_rate: float  # a provider failing more than this share of its outcomes trips ...
    min_samples: int  # ... once the window holds at least this many outcomes
    unhealthy_for_s: int
    failure_streak: int  # failures in a row that trip it at once (0 = off)
    guard_ms: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RoutingPolicy:
        return cls(health_window_s=settings.health_window_s, failure_rate=settings.health_failure_rate,
                   min_samples=settings.health_min_samples, unhealthy_for_s=settings.unhealthy_for_s,
                   failure_streak=settings.health_failure_streak, guard_ms=settings.rate_limit_guard_ms)


@dataclass(frozen=True)
class Decision:
    provider: str | None  # chosen provider, None when nothing can be sent now
    retry_after_ms: int  # when provider is None: how long until trying again makes sense (>= 1)
    reason: str  # "chosen" | "rate_limited" | "no_healthy"
    # The routing clock's time of the decision (epoch ms); for "chosen", the slot's time in the log.
    decided_at_ms: int = field(default=0, compare=False)
    # For "chosen": the slot's member in the provider's slot log, so that refresh_slot can trade it.
    slot: str | None = field(default=None, compare=False)


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
    in_use_last_second: int


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Router:
    def __init__(
        self,
        redis_client,
        providers: Sequence[ProviderConfig],
        *,
        key_prefix: str,
        policy: RoutingPolicy,
        clock: Callable[[], int] | None = None,
    ):
        if not providers:
            raise ValueError("the router needs at least one provider")
        self._providers = tuple(providers)
        self._by_name = {p.name: p for p in self._providers}
        self._clock = clock
        self._rate_window_ms = 1000 + policy.guard_ms
        self._health_window_ms = policy.health_window_s * 1000
        self._failure_rate_ppm = round(policy.failure_rate * 1_000_000)
        self._min_samples = policy.min_samples
        self._cooldown_ms = policy.unhealthy_for_s * 1000
        self._failure_streak = policy.failure_streak
        # Members of the slot and outcome logs must be unique: this router's id + a call counter.
        self._token_prefix = uuid.uuid4().hex[:12]
        self._token_counter = itertools.count()

        tag = f"{{{key_prefix}}}"
        self._keys = {
            name: {kind: f"{tag}:{kind}:{name}" for kind in ("rate", "ok", "fail", "down", "since", "streak")}
            for name in self._by_name
        }
        self._pick_keys = [f"{tag}:wrr"]
        for name in self._by_name:
            self._pick_keys += [self._keys[name]["rate"], self._keys[name]["down"]]
        self._status_keys = [
            self._keys[name][kind] for name in self._by_name for kind in ("rate", "ok", "fail", "down", "since")
        ]
        self._redis = redis_client
        self._pick = redis_client.register_script(script_source("pick_provider"))
        self._record = redis_client.register_script(script_source("record_outcome"))
        self._status = redis_client.register_script(script_source("provider_status"))
        self._refresh = redis_client.register_script(script_source("refresh_slot"))

    @classmethod
    def from_settings(cls, redis_client, settings: Settings, clock: Callable[[], int] | None = None) -> Router:
        return cls(redis_client, settings.providers, key_prefix=settings.redis_key_prefix,
                   policy=RoutingPolicy.from_settings(settings), clock=clock)

    def pick_provider(
        self, excluded: Sequence[str] = (), last_failed: str | None = None, only: str | None = None
    ) -> Decision:
        """Choose a provider and take its rate slot, or say why not and when to try again.

        `excluded` are the providers that already failed this request; when they leave no healthy
        provider, only `last_failed` stays excluded. `only` restricts the choice to one provider (a
        resend of the same attempt) and ignores exclusions.
        """
        if only is not None:
            self._require_known(only)
        token = self._next_token()
        args: list[str | int] = [
            self._now_arg(),
            self._rate_window_ms,
            token,
            WRR_STATE_TTL_MS,
            self._index_of(last_failed) if only is None else 0,
        ]
        for provider in self._providers:
            if only is not None:
                role = PROVIDER_ROLE_ELIGIBLE if provider.name == only else PROVIDER_ROLE_NEVER
            else:
                role = PROVIDER_ROLE_EXCLUDED if provider.name in excluded else PROVIDER_ROLE_ELIGIBLE
            args += [provider.name, provider.rate_limit, provider.weight, role]
        with redis_errors(self._redis):
            reason, provider, retry_after_ms, now_ms = self._pick(keys=self._pick_keys, args=args)
        return Decision(
            provider=_text(provider) if provider else None,
            retry_after_ms=int(retry_after_ms),
            reason=_text(reason),
            decided_at_ms=int(now_ms),
            slot=f"{int(now_ms)}:{token}" if provider else None,
        )

    def refresh_slot(self, decision: Decision) -> Decision:
        """Trade a chosen decision's slot, taken a while ago and not used yet, for one taken now.

        The old slot is given back either way; when the window has no room now, the answer is
        `rate_limited` with the time until it has."""
        if decision.provider is None or decision.slot is None:
            raise ValueError("only a chosen decision has a slot to refresh")
        provider = self._by_name[decision.provider]
        token = self._next_token()
        with redis_errors(self._redis):
            granted, retry_after_ms, now_ms = self._refresh(
                keys=[self._keys[provider.name]["rate"]],
                args=[self._now_arg(), self._rate_window_ms, decision.slot, token, provider.rate_limit],
            )
        if granted:
            return Decision(provider.name, 0, "chosen", decided_at_ms=int(now_ms), slot=f"{int(now_ms)}:{token}")
        return Decision(None, int(retry_after_ms), "rate_limited", decided_at_ms=int(now_ms))

    def record_outcome(self, provider: str, success: bool) -> HealthChange | None:
        """Add one outcome to the provider's health window; say so when its health flipped."""
        self._require_known(provider)
        keys = self._keys[provider]
        with redis_errors(self._redis):
            change, successes, failures, unhealthy_until_ms = self._record(
                keys=[keys["ok"], keys["fail"], keys["down"], keys["since"], keys["streak"]],
                args=[
                    self._now_arg(),
                    1 if success else 0,
                    self._next_token(),
                    self._health_window_ms,
                    self._failure_rate_ppm,
                    self._min_samples,
                    self._cooldown_ms,
                    self._failure_streak,
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
        """Every provider's live health and rate use, read in one round trip."""
        with redis_errors(self._redis):
            _now_ms, *rows = self._status(keys=self._status_keys, args=[self._now_arg(), self._health_window_ms])
        states = []
        for index, provider in enumerate(self._providers):
            healthy, successes, failures, unhealthy_until_ms, in_use = rows[5 * index : 5 * index + 5]
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
                )
            )
        return states

    def _require_known(self, name: str) -> None:
        if name not in self._by_name:
            raise ValueError(f"unknown provider {name!r}")

    def _index_of(self, name: str | None) -> int:
        """1-based position of a configured provider in the scripts' argument layout; 0 for none or unknown."""
        names = list(self._by_name)
        return names.index(name) + 1 if name in self._by_name else 0

    def _now_arg(self) -> str | int:
        return "" if self._clock is None else self._clock()

    def _next_token(self) -> str:
        return f"{self._token_prefix}{next(self._token_counter)}"
