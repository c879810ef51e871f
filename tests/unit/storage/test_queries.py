"""Listing requests on moto: by index with cursors, never a scan; and the sweeper's overdue list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.errors import ValidationFailed
from chalicelib.lifecycle import FailureReason, Status
from chalicelib.storage.queries import PARTITIONS_PER_PAGE, encode_cursor
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
        pytest.param("Not a cursor", id="garbage"),
        pytest.param("eyJwIjoiYSIsImsiOjF9", id="base64-json"),
        pytest.param("2024-05-01~2024-05-01T00:00:00.000Z", id="created-at-without-id"),
        pytest.param("2024-05-01~~" + "0" * 32, id="empty-created-at"),
    ],
)
def test_invalid_cursor_is_a_validation_error_naming_the_cursor(queries, cursor):
    with pytest.raises(ValidationFailed) as raised:
        list_page(queries, 5, cursor)
    assert raised.value.field == "cursor"


def test_cursor_for_a_partition_outside_the_range_lists_nothing(queries, history):
    assert list_page(queries, 5, encode_cursor("1999-01-01", None)) == ([], None)


def test_a_listing_over_years_pages_through_a_bounded_number_of_days_per_call(queries, history, clock):
    now = datetime.fromtimestamp(clock(), UTC)
    since = now - timedelta(days=3 * PARTITIONS_PER_PAGE)

    first, cursor = list_page(queries, 5, since=since)
    assert [item.id for item in first] == history[::-1][:5]
    seen, pages = [item.id for item in first], 1
    while cursor:
        items, cursor = list_page(queries, 5, cursor, since=since)
        seen += [item.id for item in items]
        pages += 1
        assert pages < 20

    assert seen == history[::-1]
    assert pages >= 3  # the empty years cost pages, each a bounded number of queries


@pytest.mark.parametrize("status", [None, Status.SENT])
def test_since_after_until_lists_nothing(queries, history, clock, status):
    now = datetime.fromtimestamp(clock(), UTC)
    assert list_page(queries, 5, since=now, until=now - timedelta(hours=1), status=status) == ([], None)


def test_any_well_formed_cursor_resumes_after_its_position(queries, history, request_store):
    """A cursor the API did not hand out but of the documented shape is not refused: it resumes the
    listing after the (created_at, id) it names."""
    newest_first, _ = page_through(queries, 50, status=Status.SENT)
    third = request_store.get(newest_first[2])
    cursor = f"sent~{third.created_at}~{'f' * 32}"  # the third item's time, an id sorting after its own

    items, _ = list_page(queries, 50, cursor, status=Status.SENT)

    assert [item.id for item in items] == newest_first[2:]


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
