"""Per-client limits in Redis (the real server and fakeredis): no more than the limit in any 1 s window,
the daily quota per UTC day, refunds, and RateLimit-* headers a client can act on."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.client_limits import ClientLimiter
from chalicelib.clients import Client
from chalicelib.errors import RateLimitState, TooManyRequests
from localdev.provider_simulator import max_in_any_window
from tests.conftest import START_S

pytestmark = pytest.mark.unit

DAY_MS = 86_400_000


def client(rate_limit=20, daily_quota=1000, name="team-a") -> Client:
    return Client(name, frozenset({"send"}), rate_limit=rate_limit, daily_quota=daily_quota)


@pytest.fixture
def limiter(redis_client, key_prefix, clock):
    return ClientLimiter(redis_client, key_prefix=key_prefix, clock=clock.ms)


def test_the_limit_holds_in_every_1_s_window_and_frees_as_the_window_slides(limiter, clock):
    team = client(rate_limit=3)
    for _ in range(3):
        limiter.admit(team)
        clock.advance(0.2)
    with pytest.raises(TooManyRequests) as raised:
        limiter.admit(team)
    assert (raised.value.code, raised.value.retry_after_s) == ("rate_limited", 1)
    assert raised.value.rate_limit == RateLimitState(limit=3, remaining=0, reset_s=1)
    clock.advance(0.4)  # the first admission (at 0.0) is now 1.0 s old: its place is free
    admitted = limiter.admit(team)
    assert admitted.rate_limit.remaining == 0


def test_clients_do_not_share_a_limit(limiter):
    for team in ("team-a", "team-b"):
        limiter.admit(client(rate_limit=1, name=team))


def test_the_daily_quota_resets_at_midnight_utc_and_says_when(limiter, clock):
    team = client(rate_limit=100, daily_quota=2)
    limiter.admit(team)
    limiter.admit(team)
    with pytest.raises(TooManyRequests) as raised:
        limiter.admit(team)
    seconds_to_midnight = DAY_MS // 1000 - int(START_S) % 86400
    assert (raised.value.code, raised.value.retry_after_s) == ("daily_quota_exceeded", seconds_to_midnight)
    assert raised.value.rate_limit.limit == 2
    clock.advance(seconds_to_midnight)
    limiter.admit(team)


def test_a_refunded_admission_frees_its_place_and_its_share_of_the_day(limiter):
    team = client(rate_limit=1, daily_quota=1)
    limiter.refund(limiter.admit(team))
    limiter.admit(team)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gaps_ms=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=60),
       limit=st.integers(min_value=1, max_value=8))
def test_any_arrival_schedule_admits_at_most_the_limit_in_any_window(redis_client, key_prefix, gaps_ms, limit):
    now = [1_700_000_000_000]
    limiter = ClientLimiter(redis_client, key_prefix=f"{key_prefix}-{len(gaps_ms)}-{limit}-{now[0]}",
                            clock=lambda: now[0])
    team = client(rate_limit=limit, name=f"c{time.monotonic_ns()}")
    admitted = []
    for gap in gaps_ms:
        now[0] += gap
        try:
            limiter.admit(team)
            admitted.append(now[0])
        except TooManyRequests as refused:
            # a refusal is right only when the window really is full
            assert sum(1 for t in admitted if t > now[0] - 1000) == limit
            assert refused.retry_after_s >= 1
    assert max_in_any_window(admitted, 1000) <= limit


def test_concurrent_callers_on_the_server_clock_never_exceed_the_limit(redis_client, key_prefix):
    limiter = ClientLimiter(redis_client, key_prefix=key_prefix)  # Redis TIME, as on AWS
    team = client(rate_limit=20, daily_quota=10**6)
    admitted: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 1.5

    def hammer():
        while time.monotonic() < stop_at:
            try:
                admission = limiter.admit(team)
                with lock:  # the server's own admission time ("<ms>:<token>"), as a provider would count
                    admitted.append(float(admission.member.split(":", 1)[0]))
            except TooManyRequests:
                time.sleep(0.002)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) >= 20
    assert max_in_any_window(admitted, 1000) <= 20
