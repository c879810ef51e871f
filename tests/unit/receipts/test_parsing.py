"""Each vendor's receipt becomes one normalised Receipt: final or interim, with a reason from the small set."""

from __future__ import annotations

import json

import pytest

from chalicelib.delivery_receipt import DeliveryReason, DeliveryState, occurred_at_or_now
from chalicelib.errors import ValidationFailed
from chalicelib.vendors import http_json
from chalicelib.vendors.twilio import receipts as twilio
from chalicelib.vendors.vonage import receipts as vonage

pytestmark = pytest.mark.unit

D, U, INTERIM = DeliveryState.DELIVERED, DeliveryState.UNDELIVERED, DeliveryState.INTERIM


@pytest.mark.parametrize(("status", "code", "state", "reason"), [
    pytest.param("delivered", None, D, None, id="delivered"),
    pytest.param("undelivered", "30003", U, DeliveryReason.UNREACHABLE, id="undelivered-unreachable"),
    pytest.param("undelivered", "30007", U, DeliveryReason.BLOCKED, id="undelivered-filtered"),
    pytest.param("failed", "30001", U, DeliveryReason.EXPIRED, id="failed-queue-overflow"),
    pytest.param("failed", "30002", U, DeliveryReason.REJECTED, id="failed-account-suspended"),
    pytest.param("undelivered", "39999", U, DeliveryReason.UNKNOWN, id="undelivered-unlisted-code"),
    pytest.param("sent", None, INTERIM, None, id="sent-is-interim"),
    pytest.param("queued", None, INTERIM, None, id="queued-is-interim"),
    pytest.param("sending", None, INTERIM, None, id="sending-is-interim"),
])
def test_twilio_statuses(status, code, state, reason):
    params = [("MessageSid", "SM" + "1" * 32), ("MessageStatus", status), ("AccountSid", "AC" + "2" * 32)]
    if code:
        params.append(("ErrorCode", code))
    receipt = twilio.parse("tw", params)
    assert (receipt.message_id, receipt.state, receipt.reason, receipt.error_code) == ("SM" + "1" * 32, state, reason,
                                                                                       code)


def test_twilio_partially_delivered_is_delivered_with_a_note():
    """Some parts of a multi-part message reached the handset: delivered (a resend would repeat them), and the
    request's delivery_error_code says it was partial."""
    receipt = twilio.parse("tw", [("MessageSid", "SM" + "1" * 32), ("MessageStatus", "partially_delivered")])
    assert (receipt.state, receipt.reason, receipt.error_code) == (D, None, "partially_delivered")


def test_twilio_callback_without_a_sid_is_a_bad_request():
    with pytest.raises(ValidationFailed):
        twilio.parse("tw", [("MessageStatus", "delivered")])


@pytest.mark.parametrize(("status", "code", "state", "reason"), [
    pytest.param("delivered", "0", D, None, id="delivered"),
    pytest.param("failed", "2", U, DeliveryReason.UNREACHABLE, id="failed-absent-subscriber"),
    pytest.param("failed", "6", U, DeliveryReason.BLOCKED, id="failed-anti-spam"),
    pytest.param("rejected", "9", U, DeliveryReason.REJECTED, id="rejected"),
    pytest.param("expired", "1", U, DeliveryReason.EXPIRED, id="expired"),
    pytest.param("unknown", "99", INTERIM, None, id="unknown-is-not-final"),
    pytest.param("accepted", "0", INTERIM, None, id="accepted-is-interim"),
    pytest.param("buffered", "0", INTERIM, None, id="buffered-is-interim"),
])
def test_vonage_statuses(status, code, state, reason):
    receipt = vonage.parse("vg", {"messageId": "0A000000123ABCD1", "status": status, "err-code": code,
                                  "client-ref": "a" * 32, "message-timestamp": "2026-01-02 03:04:05"})
    assert (receipt.state, receipt.reason, receipt.request_id) == (state, reason, "a" * 32)
    assert receipt.error_code == (None if code == "0" else code)
    assert receipt.occurred_at == 1767323045.0


@pytest.mark.parametrize(("body", "state", "reason", "request_id"), [
    pytest.param({"message_id": "m-1", "status": "delivered", "reference": "b" * 32}, D, None, "b" * 32,
                 id="delivered"),
    pytest.param({"message_id": "m-1", "status": "undelivered", "reason": "expired", "error_code": 7}, U,
                 DeliveryReason.EXPIRED, None, id="undelivered-with-reason"),
    pytest.param({"message_id": "m-1", "status": "undelivered", "reason": "lost in space"}, U,
                 DeliveryReason.UNKNOWN, None, id="undelivered-unlisted-reason"),
    pytest.param({"message_id": "m-1", "status": "sent"}, INTERIM, None, None, id="sent-is-interim"),
])
def test_http_json_receipts(body, state, reason, request_id):
    receipt = http_json.parse("alpha", json.dumps(body).encode())
    assert (receipt.state, receipt.reason, receipt.request_id) == (state, reason, request_id)


@pytest.mark.parametrize("body", [
    pytest.param(b"not json", id="not-json"),
    pytest.param(b"[]", id="not-an-object"),
    pytest.param(b'{"status": "delivered"}', id="no-message-id"),
    pytest.param(b'{"message_id": "m-1"}', id="no-status"),
])
def test_http_json_malformed_receipt_is_a_bad_request(body):
    with pytest.raises(ValidationFailed):
        http_json.parse("alpha", body)


NOW = 1_765_000_000.0


@pytest.mark.parametrize(("occurred_at", "applied_at"), [
    pytest.param(NOW - 3600, NOW - 3600, id="an-hour-ago-is-kept"),
    pytest.param(None, NOW, id="not-given-is-now"),
    pytest.param(NOW * 1000, NOW, id="milliseconds-are-the-future"),
    pytest.param(NOW + 5, NOW, id="a-clock-ahead"),
    pytest.param(-62_167_219_200, NOW, id="year-0"),
    pytest.param(float("nan"), NOW, id="nan"),
    pytest.param(float("-inf"), NOW, id="minus-infinity"),
])
def test_a_receipt_time_that_cannot_be_true_is_replaced_by_now(occurred_at, applied_at):
    assert occurred_at_or_now(occurred_at, NOW) == applied_at
