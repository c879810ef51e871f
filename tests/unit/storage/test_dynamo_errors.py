"""Every store maps DynamoDB's errors the same way: an outage is retryable, a missing table is the
operator's to fix, a malformed call is a bug, and nothing escapes as a raw PynamoDB error."""

from __future__ import annotations

import pytest

from chalicelib.errors import ConfigurationError, DependencyUnavailable, StorageRejected
from chalicelib.lifecycle import FailureReason
from chalicelib.provider_health import ProviderState
from chalicelib.providers import Outcome, SendResult
from chalicelib.storage.claims import ClaimLedger
from chalicelib.storage.health_snapshots import HealthSnapshots
from chalicelib.storage.idempotency import IdempotencyKeys, KeyTaken, Reservation
from chalicelib.storage.queries import ListFilter, RequestQueries
from chalicelib.storage.records import Claim
from chalicelib.storage.requests import MAX_STORED_ANSWER, RequestStore
from chalicelib.storage.tables import TableNames, bind_tables
from tests.unit.storage.helpers import create, ok

pytestmark = pytest.mark.unit

REQUEST_ID = "0" * 32


def _nested(depth: int) -> dict:
    answer: dict = {}
    for _ in range(depth):
        answer = {"n": answer}
    return answer


def every_call(tables, clock):
    """Each store call the API, the dispatcher and the sweeper make."""
    requests = RequestStore(tables, clock, sweep_after_s=900, retention_s=86400)
    claims = ClaimLedger(tables, requests, clock, lease_s=60, sweep_after_s=900, text_retention_s=86400)
    queries = RequestQueries(tables, clock)
    keys = IdempotencyKeys(tables, clock, ttl_s=60)
    snapshots = HealthSnapshots(tables, clock)
    claim = Claim(REQUEST_ID, 1, "alpha", "+14155550100", "hi", 0, ())
    return {
        "create": lambda: create(requests),
        "get": lambda: requests.get(REQUEST_ID),
        "attempts_of": lambda: requests.attempts_of(REQUEST_ID),
        "record_attempt": lambda: requests.record_attempt(REQUEST_ID, 1, ok()),
        "list": lambda: queries.list_requests(ListFilter("team-a", provider="alpha"), limit=5, cursor=None,
                                              cursor_key=b"k"),
        "overdue": lambda: list(queries.overdue(0)),
        "claim": lambda: claims.claim(REQUEST_ID, 1, "alpha"),
        "reclaim": lambda: claims.reclaim_abandoned(REQUEST_ID, 1, "alpha", 0),
        "release": lambda: claims.release(claim),
        "mark_sent": lambda: claims.mark_sent(REQUEST_ID, 1, "m"),
        "mark_failed": lambda: claims.mark_failed(REQUEST_ID, 1, FailureReason.REFUSED, None),
        "expire": lambda: claims.expire_request(REQUEST_ID),
        "push_due": lambda: claims.push_due(REQUEST_ID, 0),
        "reserve": lambda: keys.reserve("k", "b", "r"),
        "take_over": lambda: keys.take_over(KeyTaken("k", "b", "r", "2023-11-14T22:13:20.000Z", 0), "r2"),
        "remove_text": lambda: claims.remove_text(REQUEST_ID, 0),
        "snapshot": lambda: snapshots.save([ProviderState("alpha", True, 0.0, 0, 0, None, 50, 1, 0, 0, 10, 50.0)]),
    }


CALLS = ("create", "get", "attempts_of", "record_attempt", "list", "overdue", "claim", "reclaim", "release",
         "mark_sent", "mark_failed", "expire", "push_due", "reserve", "take_over", "remove_text", "snapshot")
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there
NAMES = TableNames(requests="req", responses="resp", health="hlth", idempotency="idem")  # at least 3 characters each


@pytest.mark.parametrize("call", CALLS)
def test_unreachable_dynamodb_is_a_dependency_outage(call, clock):
    tables = bind_tables(NAMES, "us-east-1", UNREACHABLE)
    with pytest.raises(DependencyUnavailable):
        every_call(tables, clock)[call]()


@pytest.mark.parametrize("call", CALLS)
def test_missing_tables_are_a_configuration_error(call, aws, clock):
    tables = bind_tables(TableNames(requests="no-r", responses="no-s", health="no-h", idempotency="no-i"), "us-east-1")
    with pytest.raises(ConfigurationError):
        every_call(tables, clock)[call]()


def test_best_effort_calls_never_raise_during_an_outage(clock):
    tables = bind_tables(NAMES, "us-east-1", UNREACHABLE)
    assert RequestStore(tables, clock, sweep_after_s=900, retention_s=86400).forget_unqueued(REQUEST_ID) is False
    IdempotencyKeys(tables, clock, ttl_s=60).release(Reservation("k", REQUEST_ID))


def test_an_item_dynamodb_refuses_is_a_storage_bug_not_an_outage(request_store):
    with pytest.raises(StorageRejected):
        request_store.create(REQUEST_ID, client="team-a", phone="+14155550100", text="x" * 500_000,
                             encoding="GSM-7", segments=1, ttl_s=60)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"raw": "x" * 500_000}, id="huge"),
        pytest.param({"price": float("nan"), "balance": float("inf")}, id="nan-and-infinity"),
        pytest.param({"n": 10**400}, id="number-beyond-dynamodb"),
        pytest.param(_nested(200), id="deep-nesting"),
        pytest.param({1: "non-string key", "set": {1, 2}}, id="not-json"),
    ],
)
def test_any_provider_answer_is_recorded_as_bounded_text(request_store, claims, answer):
    """Recording the attempt must never fail because of what a provider answered (the SMS may be sent)."""
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    request_store.record_attempt(request_id, 1, SendResult("alpha", Outcome.ACCEPTED, 200, 5, "m", None, answer))
    [record] = request_store.attempts_of(request_id)
    assert record.outcome == "accepted"
    assert 0 < len(record.response_data) <= MAX_STORED_ANSWER


def test_a_read_timeout_is_a_dependency_outage_not_a_crash():
    """Under load moto (or DynamoDB) may not answer in time: botocore's ReadTimeoutError has no response."""
    from botocore.exceptions import ReadTimeoutError
    from pynamodb.exceptions import PutError

    from chalicelib.storage.dynamo import translate

    timeout = ReadTimeoutError(endpoint_url="http://127.0.0.1:5055/")
    assert isinstance(translate(PutError("Failed to put item", timeout)), DependencyUnavailable)
