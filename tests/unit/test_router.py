"""The router's rules, run against a real Redis and fakeredis alike."""

from __future__ import annotations

import bisect
import multiprocessing
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import fakeredis
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry

from chalicelib.errors import DependencyUnavailable
from chalicelib.providers import HttpJsonConfig
from chalicelib.router import Decision, HealthChange, Router
from chalicelib.settings import get_settings
from tests.conftest import routing_policy

pytestmark = pytest.mark.unit

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
START_MS = 1_700_000_000_000
COOLDOWN_MS = 300_000
WINDOW_MS = 300_000


def provider(name: str, rate_limit: int = 10_000, weight: int = 1) -> HttpJsonConfig:
    return HttpJsonConfig(name=name, url=f"http://127.0.0.1/{name}", rate_limit=rate_limit, weight=weight)


THREE = (provider("alpha"), provider("beta"), provider("gamma"))


class ManualClock:
    """An injected routing clock (epoch ms) that moves only when told."""

    def __init__(self, now_ms: int = START_MS):
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


def _real_redis() -> redis.Redis | None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=5)
    try:
        client.ping()
    except redis.exceptions.RedisError:
        return None
    return client


def _delete_prefix(client, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{{{prefix}}}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(params=["redis", "fakeredis"])
def redis_backend(request) -> Iterator[redis.Redis]:
    client = _real_redis() if request.param == "redis" else fakeredis.FakeRedis()
    if client is None:
        pytest.skip(f"no Redis answers at {REDIS_URL}")
    yield client
    client.close()


@pytest.fixture
def real_redis() -> Iterator[redis.Redis]:
    client = _real_redis()
    if client is None:
        pytest.skip(f"no Redis answers at {REDIS_URL}")
    yield client
    client.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_router(redis_backend) -> Iterator[Callable[..., Router]]:
    """Routers on a fresh key prefix each; their keys are deleted after the test."""
    prefixes = []

    def build(providers=THREE, **options) -> Router:
        prefix = f"test-{uuid.uuid4().hex}"
        prefixes.append(prefix)
        clock = options.pop("clock", None)
        return Router(redis_backend, providers, key_prefix=prefix, policy=routing_policy(**options), clock=clock)

    yield build
    for prefix in prefixes:
        _delete_prefix(redis_backend, prefix)


def max_in_any_window(times_ms: list[int], window_ms: int) -> int:
    """The most timestamps inside any half-open window [t, t + window_ms)."""
    ordered = sorted(times_ms)
    return max(
        (bisect.bisect_left(ordered, t + window_ms) - i for i, t in enumerate(ordered)),
        default=0,
    )


def choose_many(router: Router, count: int, **options) -> list[str | None]:
    return [router.pick_provider(**options).provider for _ in range(count)]


def trip(router: Router, name: str) -> HealthChange:
    for _ in range(9):
        assert router.record_outcome(name, success=False) is None
    change = router.record_outcome(name, success=False)
    assert change is not None
    return change


# --- Rate limit ---


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    limit=st.integers(min_value=1, max_value=5),
    guard_ms=st.integers(min_value=0, max_value=50),
    offsets_ms=st.lists(st.integers(min_value=0, max_value=4000), max_size=60).map(sorted),
)
def test_granted_slots_never_exceed_limit_in_any_window(make_router, limit, guard_ms, offsets_ms):
    clock = ManualClock()
    router = make_router((provider("alpha", rate_limit=limit),), guard_ms=guard_ms, clock=clock)
    window_ms = 1000 + guard_ms
    granted: list[int] = []
    for offset in offsets_ms:
        clock.now_ms = START_MS + offset
        decision = router.pick_provider()
        if decision.provider:
            granted.append(clock.now_ms)
            continue
        # A refusal is never over-strict: the window really is full, and frees exactly when promised.
        in_window = [t for t in granted if t > clock.now_ms - window_ms]
        assert decision.reason == "rate_limited"
        assert len(in_window) == limit
        assert decision.retry_after_ms == min(in_window) + window_ms - clock.now_ms
    assert max_in_any_window(granted, window_ms) <= limit
    assert max_in_any_window(granted, 1000) <= limit


def _grants_from_threads(router: Router, threads: int, seconds: float) -> list[int]:
    granted: list[int] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def hammer() -> None:
        mine = []
        while time.monotonic() < stop_at:
            decision = router.pick_provider()
            if decision.provider:
                mine.append(decision.decided_at_ms)
        with lock:
            granted.extend(mine)

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return granted


def test_concurrent_threads_never_exceed_limit(make_router):
    router = make_router((provider("alpha", rate_limit=20),))
    granted = _grants_from_threads(router, threads=16, seconds=1.5)
    assert len(granted) >= 20
    assert max_in_any_window(granted, 1000) <= 20


def _hammer_from_process(redis_url: str, prefix: str, stop_at: float) -> list[int]:
    client = redis.Redis.from_url(redis_url)
    router = Router(client, (provider("alpha", rate_limit=20),), key_prefix=prefix, policy=routing_policy())
    seconds = stop_at - time.time()
    return _grants_from_threads(router, threads=4, seconds=seconds)


def test_concurrent_processes_never_exceed_limit(real_redis):
    prefix = f"test-{uuid.uuid4().hex}"
    stop_at = time.time() + 1.5
    try:
        with multiprocessing.get_context("fork").Pool(4) as pool:
            per_process = pool.starmap(_hammer_from_process, [(REDIS_URL, prefix, stop_at)] * 4)
    finally:
        _delete_prefix(real_redis, prefix)
    granted = [t for grants in per_process for t in grants]
    assert len(granted) >= 20
    assert max_in_any_window(granted, 1000) <= 20


def test_single_healthy_provider_takes_its_whole_limit_then_waits(make_router, clock):
    router = make_router(
        (provider("alpha", rate_limit=5), provider("beta"), provider("gamma")), guard_ms=25, clock=clock
    )
    trip(router, "beta")
    trip(router, "gamma")
    assert choose_many(router, 5) == ["alpha"] * 5
    assert router.pick_provider() == Decision(None, 1025, "rate_limited")
    clock.advance(1024)
    assert router.pick_provider() == Decision(None, 1, "rate_limited")
    clock.advance(1)
    assert choose_many(router, 5) == ["alpha"] * 5


def test_rate_limited_retry_after_is_the_earliest_freed_slot(make_router, clock):
    router = make_router((provider("alpha", rate_limit=1), provider("beta", rate_limit=1)), clock=clock)
    assert router.pick_provider().provider == "alpha"
    clock.advance(400)
    assert router.pick_provider().provider == "beta"
    clock.advance(100)
    # alpha's slot (t=0) frees at 1025, beta's (t=400) at 1425; now is 500.
    assert router.pick_provider() == Decision(None, 525, "rate_limited")


def test_a_stale_slot_is_traded_for_one_taken_now(make_router, clock):
    router = make_router((provider("alpha", rate_limit=2),), guard_ms=25, clock=clock)
    first = router.pick_provider()
    clock.advance(300)

    fresh = router.refresh_slot(first)

    assert (fresh.provider, fresh.reason, fresh.decided_at_ms) == ("alpha", "chosen", first.decided_at_ms + 300)
    # The stale slot was given back: one more slot is free now, not zero.
    assert router.pick_provider().provider == "alpha"
    assert router.pick_provider() == Decision(None, 1025, "rate_limited")


def test_refreshing_when_others_filled_the_window_says_when_to_retry(make_router, clock):
    router = make_router((provider("alpha", rate_limit=1),), guard_ms=25, clock=clock)
    stale = router.pick_provider()  # t=0, never used
    clock.advance(1030)
    assert router.pick_provider().provider == "alpha"  # t=1030: another dispatcher fills the window
    clock.advance(10)

    assert router.refresh_slot(stale) == Decision(None, 1015, "rate_limited")  # frees at 1030 + 1025


def test_only_a_chosen_decision_can_be_refreshed(make_router, clock):
    router = make_router((provider("alpha", rate_limit=1),), clock=clock)
    router.pick_provider()
    with pytest.raises(ValueError):
        router.refresh_slot(router.pick_provider())


# --- Health ---


@pytest.mark.parametrize(
    ("failures", "successes", "trips"),
    [
        pytest.param(8, 2, True, id="80%-trips"),
        pytest.param(7, 3, False, id="exactly-70%-does-not-trip"),
        pytest.param(21, 9, False, id="exactly-70%-of-30-does-not-trip"),
        pytest.param(9, 0, False, id="below-min-samples"),
    ],
)
def test_provider_trips_only_above_failure_rate_with_enough_samples(make_router, clock, failures, successes, trips):
    router = make_router(clock=clock, failure_streak=0)  # the rate rule alone
    changes = [router.record_outcome("alpha", success=True) for _ in range(successes)]
    changes += [router.record_outcome("alpha", success=False) for _ in range(failures)]
    expected_last = HealthChange("alpha", False, START_MS + COOLDOWN_MS, successes, failures) if trips else None
    assert changes[:-1] == [None] * (len(changes) - 1)
    assert changes[-1] == expected_last
    assert router.provider_states()[0].healthy is not trips


def test_a_streak_of_failures_trips_a_provider_with_a_good_history(make_router, clock):
    router = make_router(clock=clock, failure_streak=5)
    for _ in range(100):
        router.record_outcome("alpha", success=True)
    changes = [router.record_outcome("alpha", success=False) for _ in range(5)]

    assert changes[:4] == [None] * 4
    assert changes[4] == HealthChange("alpha", False, START_MS + COOLDOWN_MS, 100, 5)  # 5% failures: the streak
    assert router.pick_provider(only="beta").provider == "beta"
    assert "alpha" not in choose_many(router, 20)


def test_a_success_breaks_the_streak(make_router, clock):
    router = make_router(clock=clock, failure_streak=3)
    outcomes = [False, False, True, False, False, True, False, False]

    changes = [router.record_outcome("alpha", success=ok) for ok in outcomes]

    assert changes == [None] * len(outcomes)
    assert router.provider_states()[0].healthy


def test_unhealthy_provider_gets_no_traffic(make_router, clock):
    router = make_router(clock=clock)
    trip(router, "alpha")
    clock.advance(COOLDOWN_MS - 1)
    assert Counter(choose_many(router, 100)) == {"beta": 50, "gamma": 50}


def test_provider_recovers_when_the_cooldown_ends(make_router, clock):
    router = make_router(clock=clock)
    trip(router, "alpha")
    clock.advance(COOLDOWN_MS)
    assert "alpha" in choose_many(router, 3)
    assert router.record_outcome("alpha", success=True) == HealthChange("alpha", True, None, 1, 0)
    assert router.record_outcome("alpha", success=True) is None


def test_in_flight_failures_during_the_cooldown_do_not_trip_again(make_router, clock):
    router = make_router(clock=clock)
    trip(router, "alpha")
    for _ in range(10):
        clock.advance(1000)
        assert router.record_outcome("alpha", success=False) is None
    clock.now_ms = START_MS + COOLDOWN_MS
    # Only outcomes from the end of the cooldown count: one failure is below the sample minimum.
    assert router.record_outcome("alpha", success=False) == HealthChange("alpha", True, None, 0, 1)
    for _ in range(8):
        assert router.record_outcome("alpha", success=True) is None
    alpha = router.provider_states()[0]
    assert (alpha.healthy, alpha.successes, alpha.failures) == (True, 8, 1)


def test_outcomes_older_than_the_window_stop_counting(make_router, clock):
    router = make_router(clock=clock)
    for _ in range(9):
        router.record_outcome("alpha", success=False)
    clock.advance(WINDOW_MS)
    assert router.record_outcome("alpha", success=False) is None
    alpha = router.provider_states()[0]
    assert (alpha.healthy, alpha.successes, alpha.failures) == (True, 0, 1)


def test_no_healthy_provider_says_when_the_first_cooldown_ends(make_router, clock):
    router = make_router(clock=clock)
    trip(router, "alpha")
    clock.advance(20_000)
    trip(router, "beta")
    trip(router, "gamma")
    clock.advance(100_000)
    # alpha's cooldown started 120 s ago, the others' 100 s ago.
    assert router.pick_provider() == Decision(None, COOLDOWN_MS - 120_000, "no_healthy")


# --- Choice ---


def test_weights_give_smooth_proportional_shares(make_router, clock):
    router = make_router(
        (provider("alpha", weight=5), provider("beta", weight=3), provider("gamma", weight=2)), clock=clock
    )
    chosen = choose_many(router, 1000)
    assert Counter(chosen) == {"alpha": 500, "beta": 300, "gamma": 200}
    # Smooth: every 10 consecutive choices hold exactly the weights, so no provider runs long.
    for start in range(len(chosen) - 10):
        assert Counter(chosen[start : start + 10]) == {"alpha": 5, "beta": 3, "gamma": 2}


def test_one_unhealthy_provider_leaves_equal_shares_to_the_others(make_router, clock):
    router = make_router(
        (provider("alpha", weight=5), provider("beta", weight=3), provider("gamma", weight=2)), clock=clock
    )
    trip(router, "gamma")
    assert Counter(choose_many(router, 1000)) == {"alpha": 500, "beta": 500}


def test_excluded_providers_are_not_chosen(make_router, clock):
    router = make_router(clock=clock)
    assert set(choose_many(router, 10, excluded=["alpha"], last_failed="alpha")) == {"beta", "gamma"}
    assert set(choose_many(router, 10, excluded=["alpha", "beta"], last_failed="beta")) == {"gamma"}


def test_when_every_provider_is_excluded_only_the_last_failed_stays_excluded(make_router, clock):
    router = make_router(clock=clock)
    chosen = choose_many(router, 10, excluded=["alpha", "beta", "gamma"], last_failed="beta")
    assert set(chosen) == {"alpha", "gamma"}


def test_excluded_healthy_providers_return_when_the_others_are_down(make_router, clock):
    router = make_router(clock=clock)
    trip(router, "gamma")
    assert set(choose_many(router, 6, excluded=["alpha", "beta"], last_failed="alpha")) == {"beta"}


def test_last_failed_is_retried_when_it_is_the_only_healthy_provider(make_router, clock):
    router = make_router(clock=clock)
    trip(router, "beta")
    trip(router, "gamma")
    assert router.pick_provider(excluded=["alpha"], last_failed="alpha").provider == "alpha"


def test_only_resends_to_that_provider(make_router, clock):
    router = make_router((provider("alpha"), provider("beta", rate_limit=1)), clock=clock)
    assert choose_many(router, 3, only="alpha", excluded=["alpha"], last_failed="alpha") == ["alpha"] * 3
    assert router.pick_provider(only="beta").provider == "beta"
    assert router.pick_provider(only="beta") == Decision(None, 1025, "rate_limited")
    trip(router, "alpha")
    clock.advance(1000)
    assert router.pick_provider(only="alpha") == Decision(None, COOLDOWN_MS - 1000, "no_healthy")


def test_unknown_provider_names_are_refused(make_router):
    router = make_router()
    with pytest.raises(ValueError, match="zeta"):
        router.pick_provider(only="zeta")
    with pytest.raises(ValueError, match="zeta"):
        router.record_outcome("zeta", success=True)


def test_router_needs_a_provider(redis_backend):
    with pytest.raises(ValueError, match="at least one provider"):
        Router(redis_backend, (), key_prefix="x", policy=routing_policy())


# --- Status, settings, server clock, failures of Redis ---


def test_provider_states_reflect_counts_health_and_rate_use(make_router, clock):
    router = make_router((provider("alpha", rate_limit=7, weight=2), provider("beta"), provider("gamma")), clock=clock)
    router.record_outcome("alpha", success=True)
    router.record_outcome("alpha", success=False)
    trip(router, "beta")
    choose_many(router, 3, only="alpha")
    clock.advance(999)
    alpha, beta, gamma = router.provider_states()
    assert alpha.name == "alpha"
    assert (alpha.healthy, alpha.successes, alpha.failures, alpha.failure_rate) == (True, 1, 1, 0.5)
    assert (alpha.rate_limit, alpha.weight, alpha.in_use_last_second, alpha.unhealthy_until_ms) == (7, 2, 3, None)
    assert (beta.healthy, beta.failures, beta.failure_rate) == (False, 10, 1.0)
    assert beta.unhealthy_until_ms == START_MS + COOLDOWN_MS
    assert (gamma.successes, gamma.failures, gamma.failure_rate) == (0, 0, 0.0)
    clock.advance(1)
    assert router.provider_states()[0].in_use_last_second == 0


def test_from_settings_applies_the_routing_settings(redis_backend, clock):
    env = {
        "SMS_PROVIDERS": '[{"name": "solo", "url": "http://127.0.0.1:9001/send", "rate_limit": 1}]',
        "REDIS_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "RATE_LIMIT_GUARD_MS": "0",
        "HEALTH_MIN_SAMPLES": "2",
        "UNHEALTHY_FOR_S": "60",
    }
    router = Router.from_settings(redis_backend, get_settings(env), clock=clock)
    try:
        assert router.pick_provider().provider == "solo"
        assert router.pick_provider() == Decision(None, 1000, "rate_limited")
        router.record_outcome("solo", success=False)
        assert router.record_outcome("solo", success=False).unhealthy_until_ms == START_MS + 60_000
    finally:
        _delete_prefix(redis_backend, env["REDIS_KEY_PREFIX"])


def test_server_clock_decides_when_no_clock_is_injected(make_router, redis_backend):
    router = make_router()
    seconds, micros = redis_backend.time()
    decision = router.pick_provider()
    assert decision.provider == "alpha"
    assert 0 <= decision.decided_at_ms - (seconds * 1000 + micros // 1000) < 5000
    assert router.record_outcome("alpha", success=True) is None
    assert router.provider_states()[0].in_use_last_second == 1


def test_decisions_survive_a_script_flush(make_router, redis_backend, clock):
    router = make_router(clock=clock)
    assert router.pick_provider().provider == "alpha"
    router.record_outcome("alpha", success=True)
    redis_backend.script_flush()
    assert router.pick_provider().provider == "beta"
    assert router.record_outcome("beta", success=True) is None
    assert router.provider_states()[0].successes == 1


@pytest.fixture
def unreachable_redis() -> redis.Redis:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # redis-py retries a refused connection with backoff by default; the caller decides that, not the router.
    return redis.Redis(port=port, socket_connect_timeout=0.2, socket_timeout=0.2, retry=Retry(NoBackoff(), 0))


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda router: router.pick_provider(), id="pick_provider"),
        pytest.param(lambda router: router.record_outcome("alpha", success=True), id="record_outcome"),
        pytest.param(lambda router: router.provider_states(), id="provider_states"),
    ],
)
def test_unreachable_redis_is_a_dependency_failure(unreachable_redis, call):
    router = Router(unreachable_redis, THREE, key_prefix="x", policy=routing_policy())
    with pytest.raises(DependencyUnavailable, match="Redis unavailable"):
        call(router)
