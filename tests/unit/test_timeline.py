"""A request's timeline: accepted, each attempt, sent or failed, then the delivery result, in time order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.lifecycle import FailureReason, Status
from chalicelib.storage.records import AttemptRecord, RequestSnapshot
from chalicelib.timeline import timeline_of

pytestmark = pytest.mark.unit

REQUEST = RequestSnapshot(
    id="a" * 32, client="team-a", phone="+14155550100", text=None, encoding="GSM-7", segments=1, status=Status.SENT,
    attempts=2, retries=1, provider_used="beta", provider_message_id="m-2", excluded=("alpha",), lease_until=None,
    next_attempt_at=None, last_error=None, failure_reason=None, created_at="2026-01-01T00:00:00.000Z",
    updated_at="2026-01-01T00:00:02.100Z", expires_at=0, due_at=None)
ATTEMPTS = [
    AttemptRecord(2, "beta", "accepted", "m-2", 200, 40, None, None, "2026-01-01T00:00:02.000Z"),
    AttemptRecord(1, "alpha", "provider_failure", None, 500, 30, "provider error (500)", None,
                  "2026-01-01T00:00:00.500Z"),
]


def events(request, attempts=ATTEMPTS):
    return [(e.event, e.at, e.provider, e.attempt, e.detail) for e in timeline_of(request, attempts)]


def test_an_intermediate_receipt_shows_before_the_final_result():
    delivered = replace(REQUEST, status=Status.DELIVERED, delivered_at="2026-01-01T00:00:05.000Z",
                        delivery_progress="TEXT_SUCCESSFUL", delivery_progress_at="2026-01-01T00:00:03.000Z")
    assert events(delivered)[-2:] == [
        ("progress", "2026-01-01T00:00:03.000Z", "beta", None, "TEXT_SUCCESSFUL"),
        ("delivered", "2026-01-01T00:00:05.000Z", "beta", None, None),
    ]


def test_a_retried_then_delivered_request_reads_in_time_order():
    delivered = replace(REQUEST, status=Status.DELIVERED, delivered_at="2026-01-01T00:00:05.000Z")
    assert events(delivered) == [
        ("accepted", "2026-01-01T00:00:00.000Z", None, None, None),
        ("attempt", "2026-01-01T00:00:00.500Z", "alpha", 1, "provider_failure: provider error (500)"),
        ("attempt", "2026-01-01T00:00:02.000Z", "beta", 2, "accepted"),
        ("sent", "2026-01-01T00:00:02.000Z", "beta", 2, None),
        ("delivered", "2026-01-01T00:00:05.000Z", "beta", None, None),
    ]


def test_undelivered_shows_the_reason_and_the_vendors_code():
    undelivered = replace(REQUEST, status=Status.UNDELIVERED, delivered_at="2026-01-01T00:00:05.000Z",
                          delivery_reason="unreachable", delivery_error_code="30003")
    assert events(undelivered)[-1] == ("undelivered", "2026-01-01T00:00:05.000Z", "beta", None,
                                       "unreachable (30003)")


def test_a_failed_request_ends_failed_with_its_reason():
    failed = replace(REQUEST, status=Status.FAILED, failure_reason=FailureReason.REFUSED, provider_message_id=None)
    refused = [replace(ATTEMPTS[0], outcome="refused")]
    assert [e[0] for e in events(failed, refused)] == ["accepted", "attempt", "failed"]
    assert events(failed, refused)[-1][4] == "refused"


def test_a_pending_request_has_only_its_acceptance():
    assert events(replace(REQUEST, status=Status.PENDING), []) == [
        ("accepted", "2026-01-01T00:00:00.000Z", None, None, None)]


def test_the_delivery_result_comes_last_even_when_the_vendors_clock_reads_earlier():
    delivered = replace(REQUEST, status=Status.DELIVERED, delivered_at="2026-01-01T00:00:01.000Z")  # to the second
    assert [e[0] for e in events(delivered)][-2:] == ["sent", "delivered"]
