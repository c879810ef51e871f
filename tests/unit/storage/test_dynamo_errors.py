"""Every store maps DynamoDB's errors the same way: an outage is retryable, a missing table is the
operator's to fix, a malformed call is a bug, and nothing escapes as a raw PynamoDB error."""

from __future__ import annotations

import pytest

from chalicelib.errors import ConfigurationError, DependencyUnavailable, StorageRejected
from chalicelib.lifecycle import FailureReason
from chalicelib.providers import Outcome, SendResult
from chalicelib.router import ProviderState
from chalicelib.storage.claims import ClaimLedger
from chalicelib.storage.health_snapshots import HealthSnapshots
from chalicelib.storage.idempotency import IdempotencyKeys, Reservation
from chalicelib.storage.queries import RequestQueries
from chalicelib.storage.records import Claim
from chalicelib.storage.requests import RequestStore
from chalicelib.storage.tables import TableNames, bind_tables
from tests.unit.storage.helpers import create, ok

pytestmark = pytest.mark.unit

REQUEST_ID = "0" * 32


def every_call(tables, clock):
    """Each store call the API, the dispatcher and the sweeper make."""
    requests = RequestStore(tables, clock, sweep_after_s=900)
    claims = ClaimLedger(tables, requests, clock, lease_s=60, sweep_after_s=900)
    queries = RequestQueries(tables, clock)
    keys = IdempotencyKeys(tables, clock, ttl_s=60)
    snapshots = HealthSnapshots(tables, clock)
    claim = Claim(REQUEST_ID, 1, "alpha", "+14155550100", "hi", 0, ())
    return {
        "create": lambda: create(requests),
        "get": lambda: requests.get(REQUEST_ID),
        "attempts_of": lambda: requests.attempts_of(REQUEST_ID),
        "record_attempt": lambda: requests.record_attempt(REQUEST_ID, 1, ok()),
        "list": lambda: queries.list_requests(status=None, provider="alpha", since=None, until=None, limit=5,
                                              cursor=None),
        "overdue": lambda: list(queries.overdue(0)),
        "claim": lambda: claims.claim(REQUEST_ID, 1, "alpha"),
        "reclaim": lambda: claims.reclaim_abandoned(REQUEST_ID, 1, "alpha", 0),
        "release": lambda: claims.release(claim),
        "mark_sent": lambda: claims.mark_sent(REQUEST_ID, 1, "m"),
        "mark_failed": lambda: claims.mark_failed(REQUEST_ID, 1, FailureReason.REFUSED, None),
        "expire": lambda: claims.expire(REQUEST_ID),
        "push_due": lambda: claims.push_due(REQUEST_ID, 0),
        "reserve": lambda: keys.reserve("k", "b", "r"),
        "snapshot": lambda: snapshots.save([ProviderState("alpha", True, 0.0, 0, 0, None, 50, 1, 0, 0, 10, 50.0)]),
    }


CALLS = ("create", "get", "attempts_of", "record_attempt", "list", "overdue", "claim", "reclaim", "release",
         "mark_sent", "mark_failed", "expire", "push_due", "reserve", "snapshot")
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.mark.parametrize("call", CALLS)
def test_unreachable_dynamodb_is_a_dependency_outage(call, clock):
    tables = bind_tables(TableNames("r", "s", "h", "i"), "us-east-1", UNREACHABLE)
    with pytest.raises(DependencyUnavailable):
        every_call(tables, clock)[call]()


@pytest.mark.parametrize("call", CALLS)
def test_missing_tables_are_a_configuration_error(call, aws, clock):
    tables = bind_tables(TableNames("no-r", "no-s", "no-h", "no-i"), "us-east-1")
    with pytest.raises(ConfigurationError):
        every_call(tables, clock)[call]()


def test_best_effort_calls_never_raise_during_an_outage(clock):
    tables = bind_tables(TableNames("r", "s", "h", "i"), "us-east-1", UNREACHABLE)
    assert RequestStore(tables, clock, sweep_after_s=900).forget_unqueued(REQUEST_ID) is False
    IdempotencyKeys(tables, clock, ttl_s=60).release(Reservation("k", REQUEST_ID))


def test_an_item_dynamodb_refuses_is_a_storage_bug_not_an_outage(request_store, claims):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    too_big = SendResult("alpha", Outcome.ACCEPTED, 200, 5, "m", None, {"raw": "x" * 500_000})
    with pytest.raises(StorageRejected):
        request_store.record_attempt(request_id, 1, too_big)
