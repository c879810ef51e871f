"""The request store on moto: conditional transitions, listing by index with cursors, idempotency keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.errors import ClaimBusy, ClaimConflict, DependencyUnavailable, ValidationFailed
from chalicelib.models import ProviderHealthModel, SmsRequestModel
from chalicelib.providers import Outcome, SendResult
from chalicelib.request_store import _encode_cursor, iso
from chalicelib.router import ProviderState

pytestmark = pytest.mark.unit


def create(store, ttl_s: int = 3600) -> str:
    request_id = uuid.uuid4().hex
    store.create(request_id, phone="+14155550100", text="hi", encoding="GSM-7", segments=1, ttl_s=ttl_s)
    return request_id


def ok(provider: str = "alpha") -> SendResult:
    return SendResult(provider, Outcome.ACCEPTED, 200, 5, "m-1", None, {"message_id": "m-1"})


def test_iso_timestamps_sort_as_text():
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(1.5) < iso(10) < iso(100.25)


def test_created_request_is_pending_and_on_the_sweeper_index(store, clock):
    request_id = create(store)
    item = store.get(request_id)
    assert (item.status, item.attempts, item.retries) == ("pending", 0, 0)
    assert item.created_day == "2023-11-14"
    assert item.due_at == int(clock()) + 900
    assert item.open_shard.startswith("open#")


def test_request_id_is_never_reused(store):
    request_id = create(store)
    with pytest.raises(DependencyUnavailable):
        store.create(request_id, phone="+1", text="x", encoding="GSM-7", segments=1, ttl_s=60)


def test_unknown_request_reads_as_none(store):
    assert store.get(uuid.uuid4().hex) is None
    assert store.attempts_of(uuid.uuid4().hex) == []


def test_claiming_the_same_attempt_twice_fails_the_second_time(store):
    request_id = create(store)
    claim = store.claim(request_id, 1, "alpha")
    assert (claim.attempt, claim.provider, claim.phone, claim.text) == (1, "alpha", "+14155550100", "hi")
    with pytest.raises(ClaimBusy):  # the first holder's lease is live
        store.claim(request_id, 1, "beta")
    assert store.get(request_id).provider_used == "alpha"


def test_claim_of_a_finished_request_conflicts_and_carries_the_item(store):
    request_id = create(store)
    store.claim(request_id, 1, "alpha")
    store.mark_sent(request_id, 1, "m-1")
    with pytest.raises(ClaimConflict) as raised:
        store.claim(request_id, 2, "alpha")
    assert raised.value.item.status == "sent"


def test_claim_of_an_unknown_request_conflicts(store):
    with pytest.raises(ClaimConflict) as raised:
        store.claim(uuid.uuid4().hex, 1, "alpha")
    assert getattr(raised.value, "item", None) is None


def test_claim_out_of_order_conflicts(store):
    request_id = create(store)
    with pytest.raises(ClaimConflict):
        store.claim(request_id, 2, "alpha")


def test_finishing_with_the_wrong_attempt_conflicts(store):
    request_id = create(store)
    store.claim(request_id, 1, "alpha")
    for finish in (
        lambda: store.mark_sent(request_id, 2, "m"),
        lambda: store.mark_failed(request_id, 2, "refused", None),
        lambda: store.mark_retrying(request_id, 2, retries=1, excluded=("alpha",), delay_s=1, error="x"),
        lambda: store.mark_requeued(request_id, 2, "throttled"),
    ):
        with pytest.raises(ClaimConflict):
            finish()
    assert store.get(request_id).status == "processing"


def test_a_released_claim_can_be_claimed_again_but_not_released_twice(store):
    request_id = create(store)
    store.claim(request_id, 1, "alpha")

    store.release_claim(request_id, 1, status="pending")

    item = store.get(request_id)
    assert (item.status, item.attempts, item.lease_until) == ("pending", 0, None)
    with pytest.raises(ClaimConflict):
        store.release_claim(request_id, 1, status="pending")
    assert store.claim(request_id, 1, "beta").provider == "beta"


def test_abandoned_claim_is_taken_over_once(store, clock):
    request_id = create(store)
    store.claim(request_id, 1, "alpha")
    clock.advance(61)
    with pytest.raises(ClaimConflict) as raised:
        store.claim(request_id, 1, "beta")
    seen = raised.value.item.lease_until
    claim = store.reclaim_abandoned(request_id, 1, "alpha", seen)
    assert (claim.attempt, claim.provider) == (1, "alpha")
    with pytest.raises(ClaimBusy):
        store.reclaim_abandoned(request_id, 1, "alpha", seen)


def test_retrying_then_sent_keeps_every_attempt_record(store, clock):
    request_id = create(store)
    store.claim(request_id, 1, "alpha")
    store.record_attempt(request_id, 1, SendResult("alpha", Outcome.PROVIDER_FAILURE, 500, 3, error="boom"))
    store.mark_retrying(request_id, 1, retries=1, excluded=("alpha",), delay_s=1, error="boom")
    item = store.get(request_id)
    assert (item.status, item.retries, item.excluded, item.last_error) == ("retrying", 1, ["alpha"], "boom")
    assert item.next_attempt_at == iso(clock() + 1)
    claim = store.claim(request_id, 2, "beta")
    assert (claim.retries, claim.excluded) == (1, ("alpha",))
    store.record_attempt(request_id, 2, ok("beta"))
    store.mark_sent(request_id, 2, "m-1")
    item = store.get(request_id)
    assert (item.status, item.provider_message_id, item.last_error, item.lease_until) == ("sent", "m-1", None, None)
    records = store.attempts_of(request_id)
    assert [(r.attempt, r.provider, r.outcome) for r in records] == [(1, "alpha", "provider_failure"),
                                                                     (2, "beta", "accepted")]


def test_requeued_request_is_pending_again(store):
    request_id = create(store)
    store.claim(request_id, 1, "alpha")
    store.mark_requeued(request_id, 1, "throttled")
    item = store.get(request_id)
    assert (item.status, item.attempts, item.last_error) == ("pending", 1, "throttled")
    store.claim(request_id, 2, "beta")


def test_expire_ends_a_waiting_request_but_never_a_live_claim(store, clock):
    waiting, held = create(store), create(store)
    store.claim(held, 1, "alpha")
    assert store.expire(waiting) is True
    assert store.expire(held) is False
    item = store.get(waiting)
    assert (item.status, item.failure_reason, item.open_shard) == ("failed", "expired", None)
    assert store.expire(waiting) is False  # already finished
    clock.advance(61)
    assert store.expire(held) is True  # its holder died


def test_push_due_moves_the_deadline_once(store, clock):
    request_id = create(store)
    seen = int(store.get(request_id).due_at)
    clock.advance(1000)
    assert store.push_due(request_id, seen) is True
    assert store.push_due(request_id, seen) is False
    assert store.get(request_id).due_at == int(clock()) + 900


def test_overdue_lists_only_open_requests_past_their_deadline(store, clock):
    early = create(store)
    clock.advance(100)
    late = create(store)
    done = create(store)
    store.claim(done, 1, "alpha")
    store.mark_sent(done, 1, "m")
    clock.advance(850)  # early is 950 s old (due at 900), late 850 s
    assert [item.id for item in store.overdue(clock())] == [early]
    clock.advance(100)
    assert sorted(item.id for item in store.overdue(clock())) == sorted([early, late])


# ------------------------------------------------------------------ listing


@pytest.fixture
def history(store, clock):
    """25 requests a minute apart: even ones sent by alpha, odd ones failed at beta, the last 3 pending."""
    ids = []
    for n in range(25):
        request_id = create(store)
        if n < 22:
            provider = "alpha" if n % 2 == 0 else "beta"
            store.claim(request_id, 1, provider)
            if n % 2 == 0:
                store.mark_sent(request_id, 1, f"m-{n}")
            else:
                store.mark_failed(request_id, 1, "refused", "400")
        ids.append(request_id)
        clock.advance(60)
    return ids


def page_through(store, limit, **query):
    query = {"status": None, "provider": None, "since": None, "until": None, **query}
    seen, cursor, pages = [], None, 0
    while True:
        items, cursor = store.list_requests(limit=limit, cursor=cursor, **query)
        seen += [item.id for item in items]
        pages += 1
        assert pages < 20
        if cursor is None:
            return seen, pages


def test_listing_everything_pages_newest_first(store, history):
    seen, pages = page_through(store, 10)
    assert seen == history[::-1]
    assert pages == 3


def test_listing_by_status(store, history):
    seen, _ = page_through(store, 4, status="sent")
    assert seen == [history[n] for n in range(20, -1, -2)]
    items, _ = store.list_requests(status="pending", provider=None, since=None, until=None, limit=10, cursor=None)
    assert [item.id for item in items] == history[:21:-1]


def test_listing_by_provider(store, history):
    seen, _ = page_through(store, 5, provider="beta")
    assert seen == [history[n] for n in range(21, 0, -2)]


def test_listing_by_status_and_provider(store, history):
    seen, _ = page_through(store, 3, status="failed", provider="alpha")
    assert seen == []
    seen, _ = page_through(store, 3, status="sent", provider="alpha")
    assert len(seen) == 11


def test_listing_by_time_range(store, history, clock):
    start = datetime.fromtimestamp(clock() - 25 * 60, UTC)  # the first request's time
    since, until = start + timedelta(minutes=5), start + timedelta(minutes=9)
    seen, _ = page_through(store, 2, since=since, until=until)
    assert seen == history[9:4:-1]


def test_listing_walks_across_utc_days(store, clock):
    clock.now = datetime(2024, 3, 1, 22, 0, tzinfo=UTC).timestamp()
    ids = []
    for _ in range(6):  # 22:00, 23:00, then 00:00 .. 03:00 the next day
        ids.append(create(store))
        clock.advance(3600)
    seen, pages = page_through(store, 4)
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
def test_invalid_cursor_is_a_validation_error_naming_the_cursor(store, cursor):
    with pytest.raises(ValidationFailed) as raised:
        store.list_requests(status=None, provider=None, since=None, until=None, limit=5, cursor=cursor)
    assert raised.value.field == "cursor"


def test_cursor_for_a_partition_outside_the_range_lists_nothing(store, history):
    items, cursor = store.list_requests(status=None, provider=None, since=None, until=None, limit=5,
                                        cursor=_encode_cursor("1999-01-01", None))
    assert (items, cursor) == ([], None)


# ------------------------------------------------------------------ idempotency keys


def test_idempotency_key_is_reserved_once_then_replayed(store):
    owned, record = store.reserve_idempotency_key("k", "body-1", "req-1", ttl_s=60)
    assert owned and record.request_id == "req-1"
    owned, record = store.reserve_idempotency_key("k", "body-2", "req-2", ttl_s=60)
    assert not owned
    assert (record.request_id, record.body_hash) == ("req-1", "body-1")


def test_expired_idempotency_key_can_be_taken_again(store, clock):
    store.reserve_idempotency_key("k", "body-1", "req-1", ttl_s=60)
    clock.advance(61)
    owned, record = store.reserve_idempotency_key("k", "body-2", "req-2", ttl_s=60)
    assert owned and record.request_id == "req-2"


def test_released_idempotency_key_is_free(store):
    store.reserve_idempotency_key("k", "body-1", "req-1", ttl_s=60)
    store.release_idempotency_key("k")
    assert store.reserve_idempotency_key("k", "body-2", "req-2", ttl_s=60)[0]


def test_forget_unqueued_removes_only_a_pending_request(store):
    waiting, held = create(store), create(store)
    store.claim(held, 1, "alpha")
    store.forget_unqueued(waiting)
    store.forget_unqueued(held)
    assert store.get(waiting) is None
    assert store.get(held).status == "processing"


# ------------------------------------------------------------------ health snapshots and outages


def test_provider_health_snapshot_is_saved(store):
    states = [ProviderState("alpha", True, 0.0, 3, 0, None, 50, 1, 2),
              ProviderState("beta", False, 0.9, 1, 9, 1_700_000_300_000, 50, 1, 0)]
    store.save_provider_health(states, transition=True)
    saved = {s.provider_name: s for s in ProviderHealthModel.scan()}
    assert (saved["alpha"].is_healthy, saved["beta"].is_healthy) == ("true", "false")
    assert saved["beta"].unhealthy_until == iso(1_700_000_300)
    assert int(saved["beta"].failure_count) == 9


def test_periodic_snapshot_keeps_the_time_of_the_last_transition(store, clock):
    tripped = ProviderState("beta", False, 0.9, 1, 9, 1_700_000_300_000, 50, 1, 0)
    store.save_provider_health([tripped], transition=True)
    transition_at = ProviderHealthModel.get("beta").last_transition_at
    clock.advance(400)

    store.save_provider_health([ProviderState("beta", True, 0.0, 0, 0, None, 50, 1, 0)])

    saved = ProviderHealthModel.get("beta")
    assert saved.last_transition_at == transition_at
    assert (saved.is_healthy, saved.unhealthy_until) == ("true", None)
    assert saved.last_checked > transition_at


def test_store_outage_is_dependency_unavailable(store, monkeypatch):
    """With the tables gone, every call the dispatcher and API make says 503/retry, not a crash."""
    request_id = create(store)
    store.claim(request_id, 1, "alpha")
    for model in (SmsRequestModel, ProviderHealthModel):
        model.delete_table()
    from chalicelib.models import IdempotencyModel, SmsResponseModel

    SmsResponseModel.delete_table()
    IdempotencyModel.delete_table()
    calls = [
        lambda: create(store),
        lambda: store.get(request_id),
        lambda: store.attempts_of(request_id),
        lambda: store.list_requests(status="sent", provider=None, since=None, until=None, limit=5, cursor=None),
        lambda: list(store.overdue(0)),
        lambda: store.claim(request_id, 2, "alpha"),
        lambda: store.reclaim_abandoned(request_id, 1, "alpha", 0),
        lambda: store.record_attempt(request_id, 1, ok()),
        lambda: store.mark_sent(request_id, 1, "m"),
        lambda: store.release_claim(request_id, 1, status="pending"),
        lambda: store.expire(request_id),
        lambda: store.push_due(request_id, 0),
        lambda: store.reserve_idempotency_key("k", "b", "r", 60),
        lambda: store.save_provider_health([ProviderState("alpha", True, 0.0, 0, 0, None, 50, 1, 0)]),
    ]
    for call in calls:
        with pytest.raises(DependencyUnavailable):
            call()
    store.forget_unqueued(request_id)  # best effort: never raises
    store.release_idempotency_key("k")


def test_listing_by_status_with_only_one_time_bound(store, history, clock):
    start = datetime.fromtimestamp(clock() - 25 * 60, UTC)
    newer, _ = store.list_requests(status="sent", provider=None, since=start + timedelta(minutes=17), until=None,
                                   limit=50, cursor=None)
    older, _ = store.list_requests(status="sent", provider=None, since=None, until=start + timedelta(minutes=3),
                                   limit=50, cursor=None)
    assert [item.id for item in newer] == [history[20], history[18]]
    assert [item.id for item in older] == [history[2], history[0]]
