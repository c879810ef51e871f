"""Applying receipts on moto: sent -> delivered | undelivered exactly once, whatever the order and repeats."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.api.http_errors import status_of
from chalicelib.delivery_receipt import DeliveryReason, DeliveryState, Receipt
from chalicelib.errors import DependencyUnavailable, ReceiptTooEarly
from chalicelib.lifecycle import TRANSITIONS, Status, StatusChanged, sources_of
from chalicelib.receipts.applier import ReceiptApplier, ReceiptResult
from chalicelib.storage.deliveries import DeliveryResults
from chalicelib.storage.records import RequestSnapshot
from tests.unit.storage.helpers import create

pytestmark = pytest.mark.unit

DELIVERED = Receipt("alpha", "m-1", DeliveryState.DELIVERED, occurred_at=1_700_000_000.0)
UNDELIVERED = Receipt("alpha", "m-1", DeliveryState.UNDELIVERED, error_code="30003",
                      reason=DeliveryReason.UNREACHABLE)
INTERIM = Receipt("alpha", "m-1", DeliveryState.INTERIM, vendor_status="sent")


@pytest.fixture
def changes() -> list[tuple]:
    return []


@pytest.fixture
def applier(tables, request_store, clock, changes) -> ReceiptApplier:
    def heard(request: RequestSnapshot) -> None:
        change = StatusChanged.of(request)  # what the callback publisher makes of it
        changes.append((change.request_id, change.status, change.provider, change.error, change.occurred_at))

    return ReceiptApplier(deliveries=DeliveryResults(tables, clock), requests=request_store, on_status_change=heard)


@pytest.fixture
def sent(request_store, claims):
    """sent(message_id, provider) -> the id of a request that provider accepted as message_id."""

    def make(message_id: str = "m-1", provider: str = "alpha") -> str:
        request_id = create(request_store)
        claims.claim(request_id, 1, provider)
        claims.mark_sent(request_id, 1, message_id)
        return request_id

    return make


def test_only_a_sent_request_takes_a_delivery_result():
    assert sources_of(Status.DELIVERED) == (Status.SENT,) == sources_of(Status.UNDELIVERED)
    assert TRANSITIONS[Status.DELIVERED] == TRANSITIONS[Status.UNDELIVERED] == frozenset()


def test_a_delivered_receipt_moves_a_sent_request_once_and_says_so_once(applier, sent, request_store, changes):
    request_id = sent()
    assert applier.apply(DELIVERED) is ReceiptResult.APPLIED
    request = request_store.get(request_id)
    assert (request.status, request.delivered_at, request.delivery_reason) == (
        Status.DELIVERED, "2023-11-14T22:13:20.000Z", None)
    # The callback says when, as the request does: ISO-8601 UTC, whatever the vendor's clock format.
    assert changes == [(request_id, "delivered", "alpha", None, "2023-11-14T22:13:20.000Z")]


def test_an_undelivered_receipt_keeps_the_vendors_code_and_the_reason(applier, sent, request_store, changes):
    request_id = sent()
    assert applier.apply(UNDELIVERED) is ReceiptResult.APPLIED
    request = request_store.get(request_id)
    assert (request.status, request.delivery_error_code, request.delivery_reason) == (
        Status.UNDELIVERED, "30003", "unreachable")
    # A receipt without a time: when it was recorded.
    assert changes == [(request_id, "undelivered", "alpha", "unreachable (30003)", request.delivered_at)]
    assert request.delivered_at is not None


def test_a_duplicate_receipt_is_a_no_op(applier, sent, request_store, changes):
    request_id = sent()
    applier.apply(DELIVERED)
    before = request_store.get(request_id)
    assert applier.apply(DELIVERED) is ReceiptResult.DUPLICATE
    assert request_store.get(request_id) == before
    assert len(changes) == 1


@pytest.mark.parametrize(("first", "late"), [
    pytest.param(DELIVERED, UNDELIVERED, id="undelivered-after-delivered"),
    pytest.param(UNDELIVERED, DELIVERED, id="delivered-after-undelivered"),
    pytest.param(DELIVERED, INTERIM, id="sent-after-delivered"),
])
def test_a_late_receipt_never_overwrites_a_result(applier, sent, request_store, changes, first, late):
    request_id = sent()
    applier.apply(first)
    applier.apply(late)
    assert request_store.get(request_id).status == first.status
    assert len(changes) == 1


def test_an_interim_receipt_writes_nothing(applier, sent, request_store, changes):
    request_id = sent()
    before = request_store.get(request_id)
    assert applier.apply(INTERIM) is ReceiptResult.INTERIM
    assert request_store.get(request_id) == before
    assert changes == []


def test_an_interim_receipt_naming_its_request_is_noted_for_the_timeline_only(applier, sent, request_store,
                                                                             changes):
    request_id = sent()
    carrier = Receipt("alpha", "m-1", DeliveryState.INTERIM, request_id=request_id, vendor_status="TEXT_SUCCESSFUL",
                      occurred_at=1_700_000_001.0)
    earlier = Receipt("alpha", "m-1", DeliveryState.INTERIM, request_id=request_id, vendor_status="TEXT_QUEUED",
                      occurred_at=1_700_000_000.0)
    assert applier.apply(carrier) is applier.apply(earlier) is ReceiptResult.INTERIM  # out of order
    request = request_store.get(request_id)
    assert (request.status, request.delivery_progress, request.delivery_progress_at) == (
        Status.SENT, "TEXT_SUCCESSFUL", "2023-11-14T22:13:21.000Z")
    assert changes == []
    assert applier.apply(DELIVERED) is ReceiptResult.APPLIED
    assert applier.apply(replace(carrier, occurred_at=1_700_000_009.0)) is ReceiptResult.INTERIM
    assert request_store.get(request_id).delivery_progress_at == "2023-11-14T22:13:21.000Z"  # final: left alone


def test_an_interim_receipt_is_acknowledged_when_its_note_cannot_be_written(tables, request_store, clock, sent):
    class Down(DeliveryResults):
        def note_progress(self, request_id, receipt):
            raise DependencyUnavailable("DynamoDB unavailable")

    applier = ReceiptApplier(deliveries=Down(tables, clock), requests=request_store)
    interim = Receipt("alpha", "m-1", DeliveryState.INTERIM, request_id=sent(), vendor_status="TEXT_SUCCESSFUL")
    assert applier.apply(interim) is ReceiptResult.INTERIM


def test_a_receipt_for_an_unknown_message_is_acknowledged_and_changes_nothing(applier, sent, request_store, changes):
    request_id = sent("m-1")
    assert applier.apply(Receipt("alpha", "m-other", DeliveryState.DELIVERED)) is ReceiptResult.UNKNOWN
    assert applier.apply(Receipt("alpha", "m-x", DeliveryState.DELIVERED, request_id="f" * 32)) is ReceiptResult.UNKNOWN
    assert request_store.get(request_id).status is Status.SENT
    assert changes == []


def test_the_same_message_id_at_another_provider_is_another_message(applier, sent, request_store):
    request_id = sent("m-1", provider="alpha")
    assert applier.apply(Receipt("beta", "m-1", DeliveryState.DELIVERED)) is ReceiptResult.UNKNOWN
    assert request_store.get(request_id).status is Status.SENT


def test_a_receipt_naming_our_request_finds_it_without_the_index(applier, sent, request_store):
    request_id = sent("m-1")
    receipt = Receipt("alpha", "m-1", DeliveryState.DELIVERED, request_id=request_id)
    assert applier.apply(receipt) is ReceiptResult.APPLIED
    assert request_store.get(request_id).status is Status.DELIVERED


def test_a_receipt_for_another_attempts_message_does_not_touch_the_request(applier, sent, request_store):
    request_id = sent("m-2")  # a first attempt timed out at alpha but went out as m-1; m-2 is the one we know
    assert applier.apply(Receipt("alpha", "m-1", DeliveryState.UNDELIVERED, request_id=request_id)) is (
        ReceiptResult.UNKNOWN)
    assert request_store.get(request_id).status is Status.SENT


def test_a_receipt_before_the_answer_is_recorded_is_asked_for_again(applier, request_store, claims, changes):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")  # the provider answered; the dispatcher has not written it yet
    receipt = Receipt("alpha", "m-1", DeliveryState.DELIVERED, request_id=request_id)
    with pytest.raises(ReceiptTooEarly) as raised:
        applier.apply(receipt)
    assert status_of(raised.value) == 409 and raised.value.retry_after_s
    claims.mark_sent(request_id, 1, "m-1")
    assert applier.apply(receipt) is ReceiptResult.APPLIED
    assert len(changes) == 1


def test_a_failed_request_stays_failed(applier, request_store, claims):
    from chalicelib.lifecycle import FailureReason
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    claims.mark_failed(request_id, 1, FailureReason.REFUSED, "no")
    receipt = Receipt("alpha", "m-1", DeliveryState.DELIVERED, request_id=request_id)
    assert applier.apply(receipt) is ReceiptResult.UNKNOWN
    assert request_store.get(request_id).status is Status.FAILED


def test_a_reference_that_is_not_a_request_id_falls_back_on_the_message_id(applier, sent, request_store):
    request_id = sent("m-1")
    receipt = Receipt("alpha", "m-1", DeliveryState.DELIVERED, request_id="client-ref-of-someone-else")
    assert applier.apply(receipt) is ReceiptResult.APPLIED
    assert request_store.get(request_id).status is Status.DELIVERED


def test_an_absurdly_long_message_id_is_unknown_not_an_error(applier):
    assert applier.apply(Receipt("alpha", "m" * 5000, DeliveryState.DELIVERED)) is ReceiptResult.UNKNOWN


def test_a_failing_status_listener_does_not_undo_or_fail_the_receipt(tables, request_store, clock, sent):
    def broken(*args):
        raise RuntimeError("callback endpoint down")

    applier = ReceiptApplier(deliveries=DeliveryResults(tables, clock), requests=request_store,
                             on_status_change=broken)
    request_id = sent()
    assert applier.apply(DELIVERED) is ReceiptResult.APPLIED
    assert request_store.get(request_id).status is Status.DELIVERED
