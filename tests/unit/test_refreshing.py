"""A value read from outside (the client registry secret): a source that is down is asked again only after a
growing back-off, never once per request; a source that refuses for good (a configuration error) stops the old
value within one refresh interval."""

from __future__ import annotations

import pytest

from chalicelib.api.http_errors import status_of
from chalicelib.errors import ConfigurationError, DependencyUnavailable
from chalicelib.refreshing import FIRST_BACKOFF_S, Refreshing
from tests.conftest import CountingSource as Source

pytestmark = pytest.mark.unit

MAX_AGE_S = 60


def down() -> DependencyUnavailable:
    return DependencyUnavailable("Secrets Manager unavailable: ReadTimeoutError")


def test_after_a_failed_refresh_requests_within_the_backoff_do_not_ask_the_source_again(clock):
    source = Source("good")
    refreshing = Refreshing(source, max_age_s=MAX_AGE_S, clock=clock)
    refreshing.get()
    source.value = down()
    clock.advance(MAX_AGE_S)
    answers = [refreshing.get() for _ in range(50)]
    assert (answers, source.reads) == (["good"] * 50, 2)  # the last good value, one failed look
    clock.advance(FIRST_BACKOFF_S)
    refreshing.get()
    assert source.reads == 3


def test_the_backoff_doubles_after_each_failure_and_stops_at_the_refresh_interval(clock):
    source = Source("good")
    refreshing = Refreshing(source, max_age_s=MAX_AGE_S, clock=clock)
    refreshing.get()
    source.value = down()
    clock.advance(MAX_AGE_S)
    waits = []
    for _ in range(9):
        reads, waited = source.reads, 0.0
        while source.reads == reads:
            refreshing.get()
            clock.advance(0.25)
            waited += 0.25
        waits.append(waited)
    # The first look fails at once; each later one comes a doubled back-off after the one before.
    assert waits[1:] == [1, 2, 4, 8, 16, 32, 60, 60]
    source.value = "back"
    clock.advance(MAX_AGE_S)
    assert refreshing.get() == "back"
    source.value = down()
    clock.advance(MAX_AGE_S)
    refreshing.get()
    reads = source.reads
    clock.advance(FIRST_BACKOFF_S)
    refreshing.get()
    assert source.reads == reads + 1  # a success starts the back-off afresh


def test_with_no_value_yet_a_source_that_is_down_is_asked_once_per_backoff_and_each_request_gets_a_503(clock):
    source = Source(down())
    refreshing = Refreshing(source, max_age_s=MAX_AGE_S, clock=clock)
    for _ in range(20):
        with pytest.raises(DependencyUnavailable) as raised:
            refreshing.get()
    assert source.reads == 1
    assert status_of(raised.value) == 503 and raised.value.retry_after_s == FIRST_BACKOFF_S
    source.value = "good"
    clock.advance(FIRST_BACKOFF_S)
    assert refreshing.get() == "good"


def test_a_configuration_error_stops_the_old_value_within_the_refresh_interval_and_is_asked_again_after_it(clock):
    source = Source("good")
    refreshing = Refreshing(source, max_age_s=MAX_AGE_S, clock=clock)
    refreshing.get()
    source.value = ConfigurationError("the client registry secret does not exist (ResourceNotFoundException)")
    clock.advance(MAX_AGE_S)
    for _ in range(20):
        with pytest.raises(ConfigurationError):
            refreshing.get()
    assert source.reads == 2  # one look per interval, not one per request
    source.value = "fixed"
    clock.advance(MAX_AGE_S)
    assert refreshing.get() == "fixed"
