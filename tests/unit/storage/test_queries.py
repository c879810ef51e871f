"""Listing requests on moto: a client's own, by index with signed cursors, never a scan; and the sweeper's list."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.errors import ValidationFailed
from chalicelib.lifecycle import FailureReason, Status
from chalicelib.storage import queries as queries_module
from chalicelib.storage.queries import CursorCodec, ListFilter
from tests.unit.storage.helpers import create

pytestmark = pytest.mark.unit

KEY = b"k" * 32


@pytest.fixture
def history(request_store, claims, clock):
    """25 requests of team-a a minute apart: even ones sent by alpha, odd ones failed at beta, the last 3
    pending; and 5 of team-b in between."""
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
        if n % 5 == 0:
            create(request_store, client="team-b")
        ids.append(request_id)
        clock.advance(60)
    return ids


def list_page(queries, limit=50, cursor=None, client="team-a", **query):
    return queries.list_requests(ListFilter(client, **query), limit=limit, cursor=cursor, cursor_key=KEY)


def page_through(queries, limit, **query):
    seen, cursor, pages = [], None, 0
    while True:
        items, cursor = list_page(queries, limit, cursor, **query)
        seen += [item.id for item in items]
        pages += 1
        assert pages < 40
        if cursor is None:
            return seen, pages


def test_listing_everything_pages_newest_first(queries, history):
    seen, pages = page_through(queries, 10)
    assert seen == history[::-1]
    assert pages == 3


def test_a_client_lists_only_its_own_requests(queries, history):
    seen, _ = page_through(queries, 10, client="team-b")
    assert len(seen) == 5 and not set(seen) & set(history)


def test_listing_by_status(queries, history):
    seen, _ = page_through(queries, 4, status=Status.SENT)
    assert seen == [history[n] for n in range(20, -1, -2)]
    items, _ = list_page(queries, 10, status=Status.PENDING)
    assert [item.id for item in items][:3] == history[:21:-1]


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


def test_a_sparse_filter_reads_a_bounded_amount_and_goes_on_with_a_cursor(queries, history, monkeypatch):
    """Each call reads at most MAX_EVALUATED items: a rare status costs several short pages, never one
    unbounded read."""
    monkeypatch.setattr(queries_module, "MAX_EVALUATED", 4)
    items, cursor = list_page(queries, 10, status=Status.FAILED, provider="alpha")
    assert items == [] and cursor is not None  # nothing matched in what one call may read: go on
    seen, pages = page_through(queries, 10, status=Status.FAILED, provider="alpha")
    assert seen == [] and pages >= 25 // 4
    seen, _ = page_through(queries, 10, status=Status.SENT)
    assert seen == [history[n] for n in range(20, -1, -2)]


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not-base64-json", id="garbage"),
        pytest.param("WzFd", id="json-list"),
        pytest.param(base64.urlsafe_b64encode(b'{"id":{"S":"x"}}' + b"0" * 16).decode(), id="unsigned-key"),
        pytest.param("", id="empty-signature"),
    ],
)
def test_a_cursor_the_api_did_not_sign_is_refused_naming_the_cursor(queries, cursor):
    with pytest.raises(ValidationFailed) as raised:
        list_page(queries, 5, cursor or "AA")
    assert (raised.value.field, raised.value.code) == ("cursor", "invalid_cursor")


def test_a_cursor_is_good_only_for_its_client_and_filter(queries, history):
    _, cursor = list_page(queries, 5, status=Status.SENT)
    assert list_page(queries, 5, cursor, status=Status.SENT)[0]  # good where it was made
    for other in ({"client": "team-b", "status": Status.SENT}, {"status": Status.FAILED}, {}):
        with pytest.raises(ValidationFailed):
            list_page(queries, 5, cursor, **other)


def test_an_edited_cursor_is_refused(queries, history):
    _, cursor = list_page(queries, 5)
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    position = json.loads(raw[:-16])
    position["client"] = {"S": "team-b"}
    forged = base64.urlsafe_b64encode(json.dumps(position).encode() + raw[-16:]).decode()
    with pytest.raises(ValidationFailed):
        list_page(queries, 5, forged)


def test_a_cursor_signed_with_another_key_is_refused(queries, history):
    _, cursor = list_page(queries, 5)
    with pytest.raises(ValidationFailed):
        CursorCodec(b"other" * 8).decode(cursor, ListFilter("team-a"))


def test_overdue_lists_only_requests_past_their_deadline(request_store, claims, queries, clock):
    early = create(request_store)
    clock.advance(100)
    late = create(request_store)
    done = create(request_store)
    claims.claim(done, 1, "alpha")
    claims.mark_sent(done, 1, "m")
    clock.advance(850)  # early is 950 s old (due at 900), late 850 s; done's text is due in 7 days
    assert [request.id for request in queries.overdue(clock())] == [early]
    clock.advance(100)
    assert sorted(request.id for request in queries.overdue(clock())) == sorted([early, late])
    clock.advance(7 * 86400)
    assert done in [request.id for request in queries.overdue(clock())]


def test_reference_filters_the_clients_own_requests_only(request_store, queries, claims, clock):
    def sent_with(reference, client="team-a"):
        request_id = create(request_store, client=client, reference=reference)
        clock.advance(1)
        return request_id

    first, _, third = sent_with("order-1"), sent_with("order-2"), sent_with("order-1")
    sent_with("order-1", client="team-b")
    claims.claim(first, 1, "alpha")
    claims.mark_sent(first, 1, "m-1")
    items, cursor = list_page(queries, reference="order-1")
    assert ([item.id for item in items], cursor) == ([third, first], None)
    assert [item.reference for item in items] == ["order-1", "order-1"]
    sent, _ = list_page(queries, reference="order-1", status=Status.SENT)
    assert [item.id for item in sent] == [first]


def test_a_cursor_belongs_to_its_reference(request_store, queries):
    for _ in range(2):
        create(request_store, reference="r")
    _, cursor = list_page(queries, limit=1, reference="r")
    with pytest.raises(ValidationFailed):
        list_page(queries, limit=1, cursor=cursor, reference="other")
    with pytest.raises(ValidationFailed):
        list_page(queries, limit=1, cursor=cursor)
