"""The router: which provider sends the next SMS, and when, decided in one atomic Redis step.

Every routing rule (docs/architecture.md, "Routing") runs inside a Lua script, so any number of
dispatchers share one exact view: a provider is eligible when it is healthy, not paused and not excluded, smooth
weighted round-robin chooses among the eligible ones whose schedule has room within the horizon, and the
chosen provider's earliest free send time is booked, paced so that its arrivals never bunch. The
dispatcher waits until that time and sends, or gives the booking back. Each script's header (lua/*.lua)
names its KEYS and ARGV and their units; this module only fills them in. Recording outcomes and reading
the providers' health and state is provider_health.py's (``Router.health``), over the same keys.

The keyspace (all under one hash tag, so the cross-provider decision survives Redis Cluster):

    {prefix}:wrr            hash    smooth-WRR current weights (+ the health signature they belong to)
    {prefix}:book:<name>    zset    schedule, score = booked send time (epoch µs); lives 1 min past its last
    {prefix}:pace:<name>    hash    jitter estimate and 429 rate cut (pacing.lua); PEXPIRE 1 h
    {prefix}:ok:<name>      zset    successes, score = outcome time (ms); PEXPIRE = health window
    {prefix}:fail:<name>    zset    failures, same shape
    {prefix}:down:<name>    string  unhealthy until (ms); PX = cooldown
    {prefix}:since:<name>   string  outcomes count from this time (ms) on; PX = cooldown + health window
    {prefix}:streak:<name>  string  failures in a row; PX = health window
    {prefix}:paused:<name>  hash    an operator's pause {reason, by, at, until}; PX = until - now, none without until

Clock: the Redis server's TIME unless a clock is injected (tests), one clock for every Lambda.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chalicelib.policies import RoutingPolicy  # the health rule, guard and horizon (HEALTH_*, RATE_LIMIT_GUARD_*, ...)
from chalicelib.provider_health import HealthChange, ProviderHealth, ProviderState
from chalicelib.redis_scripts import RedisBacked, ScriptClock, register, text
from chalicelib.settings import ProviderConfig

# Smooth-WRR state is only smoothing: after an idle hour it may vanish and start afresh.
WRR_STATE_TTL_MS = 3_600_000
PROVIDER_ROLE_ELIGIBLE, PROVIDER_ROLE_EXCLUDED, PROVIDER_ROLE_NEVER = 0, 1, 2
ROLE_ARGS = (b"0", b"1", b"2")


@dataclass(frozen=True)
class Booking:
    provider: str | None  # the provider a send is booked with; None when nothing could be booked
    # Booked: from the decision to the booked send time (>= 0). Otherwise: until asking again makes sense (>= 1).
    wait_ms: float
    reason: str  # "booked" | "rate_limited" | "no_healthy"
    decided_at_ms: float = field(default=0, compare=False)  # the routing clock at the decision (epoch ms)
    guard_ms: int = field(default=0, compare=False)  # booked: the provider's jitter guard
    slot: str | None = field(default=None, compare=False)  # booked: the member in the schedule, to give it back


class Router(RedisBacked):
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
        self._redis = redis_client
        self._providers = tuple(providers)
        self._by_name = {p.name: p for p in self._providers}
        self._clock = ScriptClock(clock)
        self._policy = policy

        tag = f"{{{key_prefix}}}"
        kinds = ("book", "pace", "ok", "fail", "down", "since", "streak", "paused")
        self._keys = {name: {kind: f"{tag}:{kind}:{name}" for kind in kinds} for name in self._by_name}
        # book_send's keys and each provider's part of its arguments, encoded once: it runs for every message.
        self._book_keys = [f"{tag}:wrr".encode()]
        for name in self._by_name:
            self._book_keys += [self._keys[name][kind].encode() for kind in ("book", "down", "pace", "paused")]
        self._book_provider_args = [[str(value).encode() for value in (p.name, p.rate_limit, p.weight)]
                                    for p in self._providers]
        self._book = register(redis_client, "book_send", "booking", "pacing")
        self.health = ProviderHealth(redis_client, self._providers, self._keys, policy=policy, clock=self._clock)

    def book(
        self,
        excluded: Sequence[str] = (),
        last_failed: str | None = None,
        only: str | None = None,
        not_before_ms: int = 0,
        refused_by: Sequence[str] = (),
    ) -> Booking:
        """Choose a provider and book its earliest free send time, or say why not and when to ask again.

        `excluded` are the providers that already failed this request; when they leave no healthy
        provider, only `last_failed` stays excluded. `only` restricts the choice to one provider (a
        resend of the same attempt) and ignores exclusions. `not_before_ms`: no send time earlier than
        that from now (the caller has a claim to make first). `refused_by`: providers whose account refused
        this request (refused here), never chosen for it, unless they are all the configured ones (a provider
        removed since): then they are only excluded, as the script needs one provider it may consider.
        """
        if only is not None:
            self._require_known(only)
        never = frozenset(refused_by)
        if never >= self._by_name.keys():
            excluded, never = (*excluded, *never), frozenset()
        token = self._clock.token()  # the booking's member in the schedule
        policy = self._policy
        args: list[str | int | bytes] = [self._clock.now_arg(), token, WRR_STATE_TTL_MS,
                                         self._index_of(last_failed) if only is None else 0,
                                         max(0, not_before_ms), policy.horizon_ms, policy.guard_ms, policy.guard_max_ms]
        for provider, provider_args in zip(self._providers, self._book_provider_args, strict=True):
            if only is not None:
                role = PROVIDER_ROLE_ELIGIBLE if provider.name == only else PROVIDER_ROLE_NEVER
            elif provider.name in never:
                role = PROVIDER_ROLE_NEVER
            else:
                role = PROVIDER_ROLE_EXCLUDED if provider.name in excluded else PROVIDER_ROLE_ELIGIBLE
            args += [*provider_args, ROLE_ARGS[role]]
        reason, provider, wait_us, now_us, guard_ms = self._book(keys=self._book_keys, args=args)
        return Booking(
            provider=text(provider) if provider else None,
            wait_ms=int(wait_us) / 1000,
            reason=text(reason),
            decided_at_ms=int(now_us) / 1000,
            guard_ms=int(guard_ms),
            slot=token if provider else None,
        )

    def give_back(self, booking: Booking) -> None:
        """Free a booked send time that will not be used, for the next booking to take."""
        if booking.provider is None or booking.slot is None:
            raise ValueError("only a booking that holds a send time can give it back")
        self._redis.zrem(self._keys[booking.provider]["book"], booking.slot)

    # The health side (provider_health.py), here too for the callers that hold the router.

    def is_healthy(self, provider: str) -> bool:
        return self.health.is_healthy(provider)

    def record_outcome(self, provider: str, success: bool | None, *, throttled: bool = False,
                       arrival_offset_ms: float | None = None) -> HealthChange | None:
        return self.health.record_outcome(provider, success, throttled=throttled, arrival_offset_ms=arrival_offset_ms)

    def provider_states(self) -> list[ProviderState]:
        return self.health.provider_states()

    def pause(self, provider: str, *, reason: str, by: str, until_ms: int | None = None) -> ProviderState:
        return self.health.pause(provider, reason=reason, by=by, until_ms=until_ms)

    def resume(self, provider: str, *, by: str) -> ProviderState:
        return self.health.resume(provider, by=by)

    def _require_known(self, name: str) -> None:
        if name not in self._by_name:
            raise ValueError(f"unknown provider {name!r}")

    def _index_of(self, name: str | None) -> int:
        """1-based position of a configured provider in the scripts' argument layout; 0 for none or unknown."""
        names = list(self._by_name)
        return names.index(name) + 1 if name in self._by_name else 0
