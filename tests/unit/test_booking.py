"""The booking primitive on its own (any paced limit: a client's, a tenant's), on real Redis and fakeredis."""

from __future__ import annotations

import bisect
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.booking import SlotBook, SlotBooking

pytestmark = pytest.mark.unit

START_MS = 1_700_000_000_000


def most_in_a_window(times: list[int], window: int) -> int:
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)), default=0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    limit=st.integers(min_value=1, max_value=6),
    window_ms=st.integers(min_value=100, max_value=2000),
    spacing_ms=st.integers(min_value=0, max_value=300),
    asks=st.lists(st.tuples(st.integers(min_value=0, max_value=3000), st.integers(min_value=0, max_value=200),
                            st.integers(min_value=0, max_value=1500)), max_size=30).map(sorted),
)
def test_booked_times_never_put_more_than_the_limit_in_a_window(redis_client, key_prefix, limit, window_ms,
                                                                 spacing_ms, asks):
    now = [START_MS]
    book = SlotBook(redis_client, clock=lambda: now[0])
    key = f"{{{key_prefix}}}:client:{limit}:{window_ms}:{spacing_ms}:{len(asks)}"
    redis_client.delete(key)
    spacing_us = math.ceil(max(spacing_ms, window_ms / limit) * 1000)
    booked: list[int] = []
    for offset, not_before, horizon in asks:
        now[0] = START_MS + offset
        booking = book.book(key, limit=limit, window_ms=window_ms, spacing_ms=spacing_ms, not_before_ms=not_before,
                            horizon_ms=horizon)
        if not booking.booked:
            assert booking.wait_ms >= 1
            continue
        at = now[0] * 1000 + round(booking.wait_ms * 1000)
        assert not_before * 1000 <= at - now[0] * 1000 <= (not_before + horizon) * 1000
        assert all(abs(at - other) >= spacing_us for other in booked)
        booked.append(at)
    assert most_in_a_window(booked, window_ms * 1000) <= limit


def test_a_limit_without_a_horizon_admits_now_or_says_when(redis_client, key_prefix):
    now = [START_MS]
    book = SlotBook(redis_client, clock=lambda: now[0])
    key = f"{{{key_prefix}}}:client:acme"
    assert book.book(key, limit=2, window_ms=1000).wait_ms == 0
    refused = book.book(key, limit=2, window_ms=1000)
    assert refused == SlotBooking(False, 500)
    now[0] += 500
    admitted = book.book(key, limit=2, window_ms=1000)
    assert admitted.booked
    book.give_back(key, admitted)
    assert book.book(key, limit=2, window_ms=1000).booked  # the time given back is taken again


def test_server_clock_and_bad_limits(redis_client, key_prefix):
    book = SlotBook(redis_client)
    key = f"{{{key_prefix}}}:client:server-clock"
    assert book.book(key, limit=10, window_ms=1000, horizon_ms=1000).booked
    with pytest.raises(ValueError):
        book.book(key, limit=0, window_ms=1000)
    with pytest.raises(ValueError):
        book.give_back(key, SlotBooking(False, 5))
