"""Listing requests on moto: by index with cursors, never a scan; and the sweeper's overdue list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.errors import ValidationFailed
from chalicelib.lifecycle import FailureReason, Status
from chalicelib.storage.queries import encode_cursor
from tests.unit.storage.helpers import create

pytestmark = pytest.mark.unit


@pytest.fixture
def history(request_store, claims, clock):
    """25 requests a minute apart: even ones sent by alpha, odd ones failed at beta, the last 3 pending."""
    ids = []
    for n in range(25):
        request_id = create(request_store)
        if n < 22:
            provider = "alpha" if n % 2 == 0 else "beta"
            claims.claim(request_id, 1, provider)
            if n % 2 == 0:
                claims.mark_sent(request_id, 1, f"m-{n}")
            else:
                claims.mark_failed(request_id, 1, FailureReason.REFUSED, "400")
        ids.append(request_id)
        clock.advance(60)
    return ids


def list_page(queries, limit=50, cursor=None, **query):
    return queries.list_requests(limit=limit, cursor=cursor,
                                 **{"status": None, "provider": None, "since": None, "until": None, **query})


def page_through(queries, limit, **query):
    seen, cursor, pages = [], None, 0
    while True:
        items, cursor = list_page(queries, limit, cursor, **query)
        seen += [item.id for item in items]
        pages += 1
        assert pages < 20
        if cursor is None:
            return seen, pages


def test_listing_everything_pages_newest_first(queries, history):
    seen, pages = page_through(queries, 10)
    assert seen == history[::-1]
    assert pages == 3


def test_listing_by_status(queries, history):
    seen, _ = page_through(queries, 4, status=Status.SENT)
    assert seen == [history[n] for n in range(20, -1, -2)]
    items, _ = list_page(queries, 10, status=Status.PENDING)
    assert [item.id for item in items] == history[:21:-1]


def test_listing_by_provider(queries, history):
    seen, _ = page_through(queries, 5, provider="beta")
    assert seen == [history[n] for n in range(21, 0, -2)]


def test_listing_by_status_and_provider(queries, history):
    seen, _ = page_through(queries, 3, status=Status.FAILED, provider="alpha")
    assert seen == []
    seen, _ = page_through(queries, 3, status=Status.SENT, provider="alpha")
    assert len(seen) == 11


def test_listing_by_time_range(queries, history, clock):
    start = datetime.fromtimestamp(clock() - 25 * 60, UTC)  # the first request's time
    since, until = start + timedelta(minutes=5), start + timedelta(minutes=9)
    seen, _ = page_through(queries, 2, since=since, until=until)
    assert seen == history[9:4:-1]


def test_listing_by_status_with_only_one_time_bound(queries, history, clock):
    start = datetime.fromtimestamp(clock() - 25 * 60, UTC)
    newer, _ = list_page(queries, status=Status.SENT, since=start + timedelta(minutes=17))
    older, _ = list_page(queries, status=Status.SENT, until=start + timedelta(minutes=3))
    assert [item.id for item in newer] == [history[20], history[18]]
    assert [item.id for item in older] == [history[2], history[0]]


def test_listing_walks_across_utc_days(request_store, queries, clock):
    clock.now = datetime(2024, 3, 1, 22, 0, tzinfo=UTC).timestamp()
    ids = []
    for _ in range(6):  # 22:00, 23:00, then 00:00 .. 03:00 the next day
        ids.append(create(request_store))
        clock.advance(3600)
    seen, pages = page_through(queries, 4)
    assert seen == ids[::-1]
    assert pages == 2


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not-base64-json", id="garbage"),
        pytest.param("WzFd", id="json-list"),
        pytest.param("eyJwIjogMX0", id="partition-not-a-string"),
        pytest.param("eyJwIjoiYSIsImsiOjF9", id="key-not-an-object"),
    ],
)
def test_invalid_cursor_is_a_validation_error_naming_the_cursor(queries, cursor):
    with pytest.raises(ValidationFailed) as raised:
        list_page(queries, 5, cursor)
    assert raised.value.field == "cursor"


def test_cursor_for_a_partition_outside_the_range_lists_nothing(queries, history):
    assert list_page(queries, 5, encode_cursor("1999-01-01", None)) == ([], None)


def test_overdue_lists_only_open_requests_past_their_deadline(request_store, claims, queries, clock):
    early = create(request_store)
    clock.advance(100)
    late = create(request_store)
    done = create(request_store)
    claims.claim(done, 1, "alpha")
    claims.mark_sent(done, 1, "m")
    clock.advance(850)  # early is 950 s old (due at 900), late 850 s
    assert [request.id for request in queries.overdue(clock())] == [early]
    clock.advance(100)
    assert sorted(request.id for request in queries.overdue(clock())) == sorted([early, late])
