"""Every status write's condition comes from the lifecycle's table: change the table, and the stores follow."""

from __future__ import annotations

import pytest

from chalicelib.delivery_receipt import DeliveryReason, DeliveryState, Receipt
from chalicelib.errors import ClaimConflict
from chalicelib.lifecycle import TRANSITIONS, FailureReason, IllegalTransition, Status
from chalicelib.storage.deliveries import DeliveryResults
from tests.unit.storage.helpers import ATTEMPT_ENDS, create

pytestmark = pytest.mark.unit

DELIVERED = Receipt("alpha", "m-1", DeliveryState.DELIVERED, occurred_at=1_700_000_000.0)
UNDELIVERED = Receipt("alpha", "m-1", DeliveryState.UNDELIVERED, error_code="30003",
                      reason=DeliveryReason.UNREACHABLE)


def without(source: Status, target: Status) -> frozenset[Status]:
    return TRANSITIONS[source] - {target}


def with_(source: Status, target: Status) -> frozenset[Status]:
    return TRANSITIONS[source] | {target}


def test_a_claim_starts_from_whatever_the_table_lets_reach_processing(monkeypatch, request_store, claims):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    claims.mark_failed(request_id, 1, FailureReason.REFUSED, "bad number")
    with pytest.raises(ClaimConflict):
        claims.claim(request_id, 2, "alpha")

    monkeypatch.setitem(TRANSITIONS, Status.FAILED, with_(Status.FAILED, Status.PROCESSING))
    assert claims.claim(request_id, 2, "alpha").attempt == 2


def test_a_claim_is_refused_from_a_status_the_table_takes_away(monkeypatch, request_store, claims):
    request_id = create(request_store)
    monkeypatch.setitem(TRANSITIONS, Status.PENDING, without(Status.PENDING, Status.PROCESSING))
    with pytest.raises(ClaimConflict):
        claims.claim(request_id, 1, "alpha")
    assert request_store.get(request_id).status is Status.PENDING


@pytest.mark.parametrize("target, end", ATTEMPT_ENDS)
def test_an_attempt_ends_only_by_a_move_the_table_has(monkeypatch, request_store, claims, target, end):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    monkeypatch.setitem(TRANSITIONS, Status.PROCESSING, without(Status.PROCESSING, target))
    with pytest.raises(IllegalTransition):
        end(claims, request_id)
    assert request_store.get(request_id).status is Status.PROCESSING  # nothing was written


def test_a_released_claim_goes_back_only_by_a_move_the_table_has(monkeypatch, request_store, claims):
    request_id = create(request_store)
    claim = claims.claim(request_id, 1, "alpha")
    monkeypatch.setitem(TRANSITIONS, Status.PROCESSING, without(Status.PROCESSING, Status.PENDING))
    with pytest.raises(IllegalTransition):
        claims.release(claim)
    monkeypatch.undo()
    claims.release(claim)
    assert request_store.get(request_id).status is Status.PENDING


def test_the_sweeper_expires_only_from_the_statuses_the_table_lets_fail(monkeypatch, request_store, claims):
    request_id = create(request_store)
    monkeypatch.setitem(TRANSITIONS, Status.PENDING, without(Status.PENDING, Status.FAILED))
    assert claims.expire_request(request_id) is None
    monkeypatch.undo()
    assert claims.expire_request(request_id).status is Status.FAILED


def test_a_receipt_moves_a_request_from_whatever_the_table_lets_reach_its_status(monkeypatch, tables, clock,
                                                                                  request_store, claims):
    deliveries = DeliveryResults(tables, clock)
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    claims.mark_sent(request_id, 1, "m-1")
    assert deliveries.record(request_id, UNDELIVERED)
    assert not deliveries.record(request_id, DELIVERED)  # undelivered is final

    monkeypatch.setitem(TRANSITIONS, Status.UNDELIVERED, with_(Status.UNDELIVERED, Status.DELIVERED))
    assert deliveries.record(request_id, DELIVERED)
    assert request_store.get(request_id).status is Status.DELIVERED
