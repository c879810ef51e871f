"""The router's rules, run against a real Redis and fakeredis alike."""

from __future__ import annotations

import bisect
import itertools
import json
import math
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

from chalicelib.errors import DependencyUnavailable, NotFound, UnprocessableEntity
from chalicelib.provider_health import MAX_PAUSE_MS, Pause
from chalicelib.router import Booking, HealthChange, Router
from chalicelib.settings import get_settings
from chalicelib.vendors.http_json import HttpJsonConfig
from tests.conftest import routing_policy

pytestmark = pytest.mark.unit

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
START_MS = 1_700_000_000_000
COOLDOWN_MS = 300_000
WINDOW_MS = 300_000
HORIZON_MS = 2000  # SLOT_WAIT_MAX_MS


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


def max_in_any_window(times: list[int], window: int) -> int:
    """The most timestamps inside any half-open window [t, t + window), in one unit."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)),
        default=0,
    )


def choose_many(router: Router, count: int, **options) -> list[str | None]:
    return [router.book(**options).provider for _ in range(count)]


def trip(router: Router, name: str) -> HealthChange:
    for _ in range(9):
        assert router.record_outcome(name, success=False) is None
    change = router.record_outcome(name, success=False)
    assert change is not None
    return change


# --- Booking: the rate limit, paced ---


def spacing_ms(limit: int, guard_ms: int = 10) -> float:
    """How far apart one provider's bookings are (pacing.lua), in ms: whole µs, rounded up."""
    return math.ceil((1000 + guard_ms) * 1000 / limit) / 1000


def earliest_free_us(booked_us: list[int], earliest_us: int, spacing_us: int) -> int:
    """The model of booking.lua: the first time from `earliest_us` on at least `spacing_us` from every booking."""
    t = earliest_us
    for b in sorted(booked_us):
        if earliest_us - spacing_us < b < t + spacing_us:
            t = max(t, b + spacing_us)
    return t


def booked_at_us(booking: Booking) -> int:
    return round((booking.decided_at_ms + booking.wait_ms) * 1000)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    limit=st.integers(min_value=1, max_value=5),
    guard_ms=st.integers(min_value=0, max_value=50),
    requests=st.lists(st.tuples(st.integers(min_value=0, max_value=4000), st.integers(min_value=0, max_value=300)),
                      max_size=40).map(sorted),
    jitter=st.lists(st.floats(min_value=0, max_value=1), min_size=40, max_size=40),
)
def test_bookings_never_put_more_than_the_limit_in_any_window(make_router, limit, guard_ms, requests, jitter):
    """Arrival schedules (when each booker asks, and how long its claim takes): every booking is the earliest
    free time, and the booked times, however each send's arrival then spreads within the guard, never
    show more than `limit` in any window of 1 s + guard, nor in any 1 s at the provider."""
    clock = ManualClock()
    router = make_router((provider("alpha", rate_limit=limit),), guard_ms=guard_ms, clock=clock)
    spacing_us = round(spacing_ms(limit, guard_ms) * 1000)
    booked: list[int] = []
    for offset, not_before in requests:
        clock.now_ms = START_MS + offset
        booking = router.book(not_before_ms=not_before)
        earliest_us = (clock.now_ms + not_before) * 1000
        expected = earliest_free_us(booked, earliest_us, spacing_us)
        if booking.provider is None:
            # Refused only when the earliest free time is past the horizon, and it says when it comes within.
            latest_us = earliest_us + HORIZON_MS * 1000
            assert booking.reason == "rate_limited"
            assert expected > latest_us
            assert booking.wait_ms == max(1, math.ceil((expected - latest_us) / 1000))
            continue
        assert (booking.provider, booking.reason, booking.guard_ms) == ("alpha", "booked", guard_ms)
        assert booked_at_us(booking) == expected
        booked.append(expected)
    arrivals = [t + math.floor(share * guard_ms * 1000) for t, share in zip(booked, jitter, strict=False)]
    assert max_in_any_window(booked, (1000 + guard_ms) * 1000) <= limit
    assert max_in_any_window(arrivals, 1_000_000) <= limit


def _bookings_from_threads(router: Router, threads: int, seconds: float) -> list[int]:
    """Booked times (epoch µs) taken by threads hammering one router on the server clock."""
    booked: list[int] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def hammer() -> None:
        mine = []
        while time.monotonic() < stop_at:
            booking = router.book()
            if booking.provider:
                mine.append(booked_at_us(booking))
            else:
                time.sleep(booking.wait_ms / 1000)
        with lock:
            booked.extend(mine)

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return booked


def test_concurrent_bookers_never_exceed_the_limit(make_router):
    router = make_router((provider("alpha", rate_limit=20),), horizon_ms=300)
    # 2 s: at least 20 bookings even on a slow, busy machine (16 threads share one GIL with fakeredis's Lua)
    booked = _bookings_from_threads(router, threads=16, seconds=2.0)
    assert len(booked) >= 20
    assert max_in_any_window(booked, 1_010_000) <= 20
    assert min(b - a for a, b in itertools.pairwise(sorted(booked))) == spacing_ms(20) * 1000


def _hammer_from_process(redis_url: str, prefix: str, stop_at: float) -> list[int]:
    client = redis.Redis.from_url(redis_url)
    router = Router(client, (provider("alpha", rate_limit=20),), key_prefix=prefix,
                    policy=routing_policy(horizon_ms=300))
    return _bookings_from_threads(router, threads=4, seconds=stop_at - time.time())


def test_concurrent_processes_never_exceed_the_limit(real_redis):
    prefix = f"test-{uuid.uuid4().hex}"
    # 2 s: at least 20 bookings even when starting 4 processes takes most of a second on a busy machine
    stop_at = time.time() + 2.0
    try:
        with multiprocessing.get_context("fork").Pool(4) as pool:
            per_process = pool.starmap(_hammer_from_process, [(REDIS_URL, prefix, stop_at)] * 4)
    finally:
        _delete_prefix(real_redis, prefix)
    booked = [t for bookings in per_process for t in bookings]
    assert len(booked) >= 20
    assert max_in_any_window(booked, 1_010_000) <= 20


def test_a_full_schedule_books_the_next_free_time_then_refuses_past_the_horizon(make_router, clock):
    router = make_router((provider("alpha", rate_limit=5),), guard_ms=0, horizon_ms=1000, clock=clock)
    waits = [router.book().wait_ms for _ in range(6)]
    assert waits == [0, 200, 400, 600, 800, 1000]  # paced over the window: never a burst
    # The next free time is 1200 ms away, 200 ms past the horizon.
    assert router.book() == Booking(None, 200, "rate_limited")
    clock.advance(200)
    assert router.book().wait_ms == 1000


def test_the_busiest_provider_is_skipped_while_its_schedule_is_past_the_horizon(make_router, clock):
    router = make_router((provider("alpha", rate_limit=1), provider("beta", rate_limit=100)), guard_ms=0,
                         horizon_ms=500, clock=clock)
    assert [router.book().provider for _ in range(4)] == ["alpha", "beta", "beta", "beta"]
    assert router.book(only="alpha") == Booking(None, 500, "rate_limited")


def test_a_given_back_booking_is_the_next_one_taken(make_router, clock):
    router = make_router((provider("alpha", rate_limit=2),), guard_ms=0, clock=clock)
    first, second = router.book(), router.book()
    assert (first.wait_ms, second.wait_ms) == (0, 500)
    router.give_back(first)
    assert router.book().wait_ms == 0  # the freed time, before the end of the schedule
    assert router.book().wait_ms == 1000


def test_only_a_booking_with_a_send_time_can_be_given_back(make_router, clock):
    router = make_router((provider("alpha", rate_limit=1),), horizon_ms=0, clock=clock)
    router.book()
    with pytest.raises(ValueError):
        router.give_back(router.book())


def test_no_send_is_booked_before_the_callers_claim_can_be_done(make_router, clock):
    router = make_router((provider("alpha", rate_limit=2),), guard_ms=0, clock=clock)
    assert router.book(not_before_ms=120).wait_ms == 120
    assert router.book().wait_ms == 620  # spacing after the earlier booking, not a burst before it
    assert router.book().wait_ms == 1120


def test_a_long_schedule_is_searched_from_its_end(make_router, clock):
    router = make_router((provider("alpha", rate_limit=1000),), guard_ms=0, clock=clock)
    waits = [router.book().wait_ms for _ in range(40)]
    assert waits == [pytest.approx(i) for i in range(40)]  # 1 ms apart, past the 4 bookings walked


# --- Pace: the jitter guard and the rate after a 429 ---


def test_the_jitter_guard_follows_the_measured_arrival_spread_within_its_bounds(make_router, clock):
    router = make_router((provider("alpha", rate_limit=10),), guard_ms=10, guard_max_ms=100, clock=clock)
    for offset in [5, 5, 5, 5] * 10:
        router.record_outcome("alpha", True, arrival_offset_ms=offset)
    assert router.provider_states()[0].jitter_guard_ms == 10  # steady arrivals: the least guard
    for offset in [0, 40] * 20:
        router.record_outcome("alpha", True, arrival_offset_ms=offset)
    spread = router.provider_states()[0].jitter_guard_ms
    assert 60 <= spread <= 100  # arrivals 40 ms apart: a guard that covers them
    assert router.book().guard_ms == spread
    assert router.book().wait_ms == pytest.approx(spacing_ms(10, spread))
    for offset in [0, 500] * 20:
        router.record_outcome("alpha", None, arrival_offset_ms=offset)
    assert router.provider_states()[0].jitter_guard_ms == 100  # never past the largest


def test_an_answer_without_a_time_leaves_the_guard_alone(make_router, clock):
    router = make_router((provider("alpha", rate_limit=10),), clock=clock)
    router.record_outcome("alpha", False)  # a timeout: nothing to time
    assert router.provider_states()[0].jitter_guard_ms == 10


def test_a_429_lowers_the_rate_for_a_while_then_it_climbs_back(make_router, clock):
    router = make_router((provider("alpha", rate_limit=10),), guard_ms=0, clock=clock)
    assert router.record_outcome("alpha", None, throttled=True) is None
    assert router.record_outcome("alpha", None, throttled=True) is None  # the same overshoot: one cut
    [alpha] = router.provider_states()
    assert (alpha.effective_rate_limit, alpha.healthy, alpha.failures) == (8.0, True, 0)
    assert [router.book().wait_ms for _ in range(2)] == [0, 125]  # 8/s
    clock.advance(1000)
    router.record_outcome("alpha", None, throttled=True)  # another second, another 429
    assert router.provider_states()[0].effective_rate_limit == pytest.approx(6.8, abs=0.01)  # (0.8 + 0.05) * 0.8
    for _ in range(10):
        clock.advance(1000)
        router.record_outcome("alpha", None, throttled=True)
    assert router.provider_states()[0].effective_rate_limit == 5.0  # never below half
    clock.advance(10_000)
    assert router.provider_states()[0].effective_rate_limit == 10.0  # 5% of the limit back per second

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
    assert router.book(only="beta").provider == "beta"
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
    assert router.book() == Booking(None, COOLDOWN_MS - 120_000, "no_healthy")


# --- Choice ---


NAMES = ("alpha", "beta", "gamma")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tripped=st.sets(st.sampled_from(NAMES)),
    excluded=st.lists(st.sampled_from(NAMES), unique=True),
    last_failed=st.none() | st.sampled_from(NAMES),
    gaps_ms=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=12),
)
def test_a_booking_never_goes_to_an_unhealthy_or_excluded_provider(make_router, tripped, excluded, last_failed,
                                                                  gaps_ms):
    clock = ManualClock()
    router = make_router(tuple(provider(name, rate_limit=2) for name in NAMES), clock=clock)
    for name in tripped:
        trip(router, name)
    healthy = set(NAMES) - tripped
    for gap in gaps_ms:
        clock.advance(gap)
        booking = router.book(excluded=excluded, last_failed=last_failed)
        if not healthy:
            assert booking.reason == "no_healthy"
            continue
        if booking.provider is None:  # every candidate's schedule is past the horizon
            assert booking.reason == "rate_limited"
            continue
        assert booking.provider in healthy
        if healthy - set(excluded):
            assert booking.provider not in excluded
        elif healthy - {last_failed}:
            assert booking.provider != last_failed


def test_a_provider_that_tripped_after_a_booking_is_seen_unhealthy_at_send_time(make_router, clock):
    router = make_router(clock=clock)
    booking = router.book(only="alpha")
    assert router.is_healthy(booking.provider)
    trip(router, "alpha")
    assert not router.is_healthy("alpha")
    clock.advance(COOLDOWN_MS)
    assert router.is_healthy("alpha")


def test_health_at_send_time_reads_the_server_clock(make_router):
    router = make_router()
    assert router.is_healthy("alpha")
    trip(router, "alpha")
    assert not router.is_healthy("alpha")  # the cooldown key lives until the cooldown ends


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
    assert router.book(excluded=["alpha"], last_failed="alpha").provider == "alpha"


def test_a_provider_that_refused_the_request_here_is_never_chosen_for_it(make_router, clock):
    router = make_router(clock=clock)
    assert set(choose_many(router, 10, refused_by=["alpha"])) == {"beta", "gamma"}
    # Unlike a failed provider, it is not readmitted when the others are excluded or down.
    assert set(choose_many(router, 10, refused_by=["alpha"], excluded=["beta", "gamma"], last_failed="gamma")) == {
        "beta"}
    trip(router, "beta")
    trip(router, "gamma")
    assert router.book(refused_by=["alpha"]) == Booking(None, COOLDOWN_MS, "no_healthy")


def test_when_every_provider_refused_here_they_are_only_excluded(make_router, clock):
    """A provider removed from the configuration since: the request still has somewhere to go."""
    router = make_router((provider("alpha"), provider("beta")), clock=clock)
    assert set(choose_many(router, 6, refused_by=["alpha", "beta"], last_failed="beta")) == {"alpha"}


def test_only_resends_to_that_provider(make_router, clock):
    router = make_router((provider("alpha"), provider("beta", rate_limit=1)), clock=clock)
    assert choose_many(router, 3, only="alpha", excluded=["alpha"], last_failed="alpha") == ["alpha"] * 3
    assert router.book(only="beta").provider == "beta"
    assert router.book(only="beta").wait_ms == 1010  # beta's next free time, not alpha's
    trip(router, "alpha")
    clock.advance(1000)
    assert router.book(only="alpha") == Booking(None, COOLDOWN_MS - 1000, "no_healthy")


def test_unknown_provider_names_are_refused(make_router):
    router = make_router()
    with pytest.raises(ValueError, match="zeta"):
        router.book(only="zeta")
    with pytest.raises(ValueError, match="zeta"):
        router.record_outcome("zeta", success=True)


def test_router_needs_a_provider(redis_backend):
    with pytest.raises(ValueError, match="at least one provider"):
        Router(redis_backend, (), key_prefix="x", policy=routing_policy())


# --- An operator's pause ---


PAUSED_RETRY_MS = 60_000  # book_send.lua: a pause ends within this long at most, when nothing else is left


def test_a_paused_provider_gets_no_bookings_until_resumed(make_router, clock):
    router = make_router(clock=clock)
    state = router.pause("beta", reason="vendor incident INC-1", by="ops")
    assert state.name == "beta"
    assert state.paused == Pause(reason="vendor incident INC-1", by="ops", at_ms=START_MS, until_ms=None)
    assert state.healthy  # its health is its own: the pause is shown beside it
    assert set(choose_many(router, 12)) == {"alpha", "gamma"}
    clock.advance(1000)
    assert router.resume("beta", by="ops").paused is None
    assert "beta" in set(choose_many(router, 6))
    assert [state.paused for state in router.provider_states()] == [None, None, None]


def test_a_pause_with_an_end_ends_by_itself(make_router, redis_backend, clock):
    router = make_router(clock=clock)
    until_ms = START_MS + 120_000
    assert router.pause("alpha", reason="maintenance", by="ops", until_ms=until_ms).paused.until_ms == until_ms
    assert 119_000 < redis_backend.pttl(router._keys["alpha"]["paused"]) <= 120_000  # the key goes then
    clock.advance(119_999)
    assert "alpha" not in set(choose_many(router, 6))
    clock.advance(1)
    assert router.provider_states()[0].paused is None
    assert "alpha" in set(choose_many(router, 6))


def test_pausing_again_replaces_the_pause(make_router, redis_backend, clock):
    router = make_router(clock=clock)
    router.pause("alpha", reason="first", by="ops", until_ms=START_MS + 60_000)
    clock.advance(1000)
    state = router.pause("alpha", reason="second", by="oncall")
    assert state.paused == Pause(reason="second", by="oncall", at_ms=START_MS + 1000, until_ms=None)
    assert redis_backend.pttl(router._keys["alpha"]["paused"]) == -1  # no end any more: until resumed
    clock.advance(120_000)
    assert router.provider_states()[0].paused is not None


def test_every_provider_paused_is_every_provider_unhealthy(make_router, clock):
    router = make_router(clock=clock)
    router.pause("alpha", reason="r", by="ops", until_ms=START_MS + 30_000)
    router.pause("beta", reason="r", by="ops")
    trip(router, "gamma")
    # The first to come back: alpha's pause ends in 30 s (beta's pause is asked again in 60 s, gamma's cooldown
    # ends in 300 s).
    assert router.book() == Booking(None, 30_000, "no_healthy")
    router.pause("alpha", reason="r", by="ops")
    assert router.book() == Booking(None, PAUSED_RETRY_MS, "no_healthy")
    # A far end is asked again within a minute all the same: an operator may resume it any time.
    router.pause("alpha", reason="r", by="ops", until_ms=START_MS + 7_200_000)
    router.pause("beta", reason="r", by="ops", until_ms=START_MS + 7_200_000)
    assert router.book() == Booking(None, PAUSED_RETRY_MS, "no_healthy")
    # Paused and down: back when both have ended.
    router.pause("gamma", reason="r", by="ops", until_ms=START_MS + 10_000)
    assert router.book(only="gamma") == Booking(None, COOLDOWN_MS, "no_healthy")
    router.pause("gamma", reason="r", by="ops")
    assert router.book(only="gamma") == Booking(None, COOLDOWN_MS, "no_healthy")
    router.resume("beta", by="ops")
    assert router.book().provider == "beta"


def test_a_resend_to_a_paused_provider_waits_like_one_to_an_unhealthy_one(make_router, clock):
    router = make_router(clock=clock)
    router.pause("alpha", reason="r", by="ops", until_ms=START_MS + 5000)
    assert router.book(only="alpha") == Booking(None, 5000, "no_healthy")
    assert router.book(excluded=["beta", "gamma"]).provider in ("beta", "gamma")


def test_resuming_a_provider_in_rotation_changes_nothing(make_router, clock, log_output):
    router = make_router(clock=clock)
    assert router.resume("alpha", by="ops").paused is None
    assert log_output.getvalue() == ""


def test_pause_and_resume_are_logged_with_who_and_why(make_router, clock, log_output):
    router = make_router(clock=clock)
    router.pause("alpha", reason="vendor incident", by="ops", until_ms=START_MS + 1000)
    router.resume("alpha", by="oncall")
    paused, resumed = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert (paused["level"], paused["message"], paused["provider"], paused["by"], paused["reason"],
            paused["until_ms"]) == ("WARNING", "provider paused", "alpha", "ops", "vendor incident", START_MS + 1000)
    assert (resumed["level"], resumed["message"], resumed["provider"], resumed["by"]) == (
        "WARNING", "provider resumed", "alpha", "oncall")


@pytest.mark.parametrize("until_ms", [START_MS, START_MS - 1, START_MS + MAX_PAUSE_MS + 1],
                         ids=["now", "past", "past 7 days"])
def test_a_pause_ends_in_the_future_within_7_days(make_router, clock, until_ms):
    router = make_router(clock=clock)
    with pytest.raises(UnprocessableEntity) as refused:
        router.pause("alpha", reason="r", by="ops", until_ms=until_ms)
    assert (refused.value.field, refused.value.code) == ("until", "invalid_until")
    assert router.pause("alpha", reason="r", by="ops", until_ms=START_MS + MAX_PAUSE_MS).paused is not None


@pytest.mark.parametrize("call", [lambda router: router.pause("zeta", reason="r", by="ops"),
                                  lambda router: router.resume("zeta", by="ops")], ids=["pause", "resume"])
def test_pausing_an_unknown_provider_is_not_found(make_router, call):
    with pytest.raises(NotFound) as refused:
        call(make_router())
    assert (refused.value.field, refused.value.code) == ("name", "provider_not_found")


def test_a_pause_on_the_server_clock(make_router, redis_backend):
    router = make_router()
    seconds, micros = redis_backend.time()
    now_ms = seconds * 1000 + micros // 1000
    pause = router.pause("alpha", reason="r", by="ops", until_ms=now_ms + 60_000).paused
    assert 0 <= pause.at_ms - now_ms < 5000
    assert pause.until_ms == now_ms + 60_000
    assert {router.book().provider for _ in range(4)} == {"beta", "gamma"}


# --- Status, settings, server clock, failures of Redis ---


def test_provider_states_reflect_counts_health_and_rate_use(make_router, clock):
    router = make_router((provider("alpha", rate_limit=7, weight=2), provider("beta"), provider("gamma")), clock=clock)
    router.record_outcome("alpha", success=True)
    router.record_outcome("alpha", success=False)
    trip(router, "beta")
    choose_many(router, 3, only="alpha")  # booked 0, 144.3 and 288.6 ms from now: 7/s, paced
    clock.advance(100)
    alpha, beta, gamma = router.provider_states()
    assert alpha.name == "alpha"
    assert (alpha.healthy, alpha.successes, alpha.failures, alpha.failure_rate) == (True, 1, 1, 0.5)
    assert (alpha.rate_limit, alpha.weight, alpha.unhealthy_until_ms) == (7, 2, None)
    assert (alpha.in_use_last_second, alpha.booked_ahead) == (1, 2)
    assert (alpha.jitter_guard_ms, alpha.effective_rate_limit) == (10, 7.0)  # nothing measured yet: the least
    assert (beta.healthy, beta.failures, beta.failure_rate) == (False, 10, 1.0)
    assert beta.unhealthy_until_ms == START_MS + COOLDOWN_MS
    assert (gamma.successes, gamma.failures, gamma.failure_rate) == (0, 0, 0.0)
    clock.advance(1200)
    assert (router.provider_states()[0].in_use_last_second, router.provider_states()[0].booked_ahead) == (0, 0)


def test_the_routing_settings_are_the_routers_policy(redis_backend, clock):
    env = {
        "STAGE": "local",
        "SMS_PROVIDERS": '[{"name": "solo", "url": "http://127.0.0.1:9001/send", "rate_limit": 1}]',
        "REDIS_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "RATE_LIMIT_GUARD_MS": "0",
        "SLOT_WAIT_MAX_MS": "400",
        "HEALTH_MIN_SAMPLES": "2",
        "UNHEALTHY_FOR_S": "60",
    }
    settings = get_settings(env)
    router = Router(redis_backend, settings.providers, key_prefix=settings.redis_key_prefix, policy=settings.routing,
                    clock=clock)
    try:
        assert router.book().provider == "solo"
        assert router.book() == Booking(None, 600, "rate_limited")  # free at 1000 ms, 600 past the horizon
        router.record_outcome("solo", success=False)
        assert router.record_outcome("solo", success=False).unhealthy_until_ms == START_MS + 60_000
    finally:
        _delete_prefix(redis_backend, env["REDIS_KEY_PREFIX"])


def test_server_clock_decides_when_no_clock_is_injected(make_router, redis_backend):
    router = make_router()
    seconds, micros = redis_backend.time()
    decision = router.book()
    assert decision.provider == "alpha"
    assert 0 <= decision.decided_at_ms - (seconds * 1000 + micros // 1000) < 5000
    assert router.record_outcome("alpha", success=True) is None
    assert router.provider_states()[0].in_use_last_second == 1


def test_decisions_survive_a_script_flush(make_router, redis_backend, clock):
    router = make_router(clock=clock)
    assert router.book().provider == "alpha"
    router.record_outcome("alpha", success=True)
    redis_backend.script_flush()
    assert router.book().provider == "beta"
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
        pytest.param(lambda router: router.book(), id="book"),
        pytest.param(lambda router: router.give_back(Booking("alpha", 0, "booked", slot="x")), id="give_back"),
        pytest.param(lambda router: router.is_healthy("alpha"), id="is_healthy"),
        pytest.param(lambda router: router.record_outcome("alpha", success=True), id="record_outcome"),
        pytest.param(lambda router: router.provider_states(), id="provider_states"),
        pytest.param(lambda router: router.pause("alpha", reason="r", by="ops"), id="pause"),
        pytest.param(lambda router: router.resume("alpha", by="ops"), id="resume"),
    ],
)
def test_unreachable_redis_is_a_dependency_failure(unreachable_redis, call):
    router = Router(unreachable_redis, THREE, key_prefix="x", policy=routing_policy())
    with pytest.raises(DependencyUnavailable, match="Redis unavailable"):
        call(router)
