"""Telnyx through the app (chalice.test.Client, moto, a real simulator of its wire): a request sent by a telnyx
provider, then its Ed25519-signed webhooks on /webhooks/{provider}: message.sent shows as progress,
message.finalized moves it once; a missing, wrong or replayed signature is refused and changes nothing."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional

TELNYX_API_KEY = "KEYfunctional-telnyx"
WEBHOOK_URL = "https://sms.example.com/prod/webhooks/tx"
SIGNING_KEY = Ed25519PrivateKey.generate()  # the account's key pair: Telnyx signs, the gateway has the public half
PUBLIC_KEY = base64.b64encode(SIGNING_KEY.public_key().public_bytes(
    serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


@pytest.fixture
def sent(gateway, simulators, monkeypatch, sqs_event, queued_bodies):
    """(request id, Telnyx's message id, the simulator) of a request the telnyx provider "tx" accepted."""
    sim = simulators("tx", kind="telnyx", credentials={"api_key": TELNYX_API_KEY})
    monkeypatch.setenv("SMS_PROVIDERS", json.dumps([{
        "name": "tx", "kind": "telnyx", "api_key": TELNYX_API_KEY, "from": "+13125550100", "timeout_s": 1,
        "base_url": sim.url, "public_key": PUBLIC_KEY, "webhook_url": WEBHOOK_URL}]))
    response = gateway.http.post("/api/sms", headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
                                 body=json.dumps({"phone": "+14155550100", "text": "hello"}))
    request_id = json.loads(response.body)["id"]
    gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies()))
    request = view(gateway, request_id)
    assert (request["status"], request["provider_used"]) == ("sent", "tx"), request
    return request_id, request["provider_message_id"], sim


def view(gateway, request_id: str) -> dict:
    return json.loads(gateway.http.get(f"/api/sms/{request_id}", headers={"X-Api-Key": API_KEY}).body)


def webhook(message_id: str, event_type: str = "message.finalized", status: str = "delivered", errors=()) -> bytes:
    return json.dumps({"data": {
        "event_type": event_type, "id": "4ee8c3a6-4995-4309-a3c6-38e3db9ea4be",
        "occurred_at": "2026-01-02T03:04:05.000+00:00", "record_type": "event",
        "payload": {"id": message_id, "record_type": "message", "direction": "outbound", "type": "SMS",
                    "to": [{"phone_number": "+14155550100", "status": status}], "errors": list(errors),
                    "completed_at": "2026-01-02T03:04:05.000+00:00"}},
        "meta": {"attempt": 1, "delivered_to": WEBHOOK_URL}}).encode()


def post(gateway, body: bytes, *, key=SIGNING_KEY, timestamp=None, query="", signature=None):
    """As Telnyx posts a webhook: to the message's webhook_url (+ the ?ref= the adapter added), signed."""
    timestamp = str(timestamp or int(time.time()))
    if signature is None:
        signature = base64.b64encode(key.sign(timestamp.encode() + b"|" + body)).decode()
    headers = {"Content-Type": "application/json", "Telnyx-Timestamp": timestamp,
               **({"Telnyx-Signature-Ed25519": signature} if signature else {})}
    return gateway.http.post("/webhooks/tx" + query, headers=headers, body=body)


def test_the_send_names_the_gateways_webhook_with_the_request_id(sent):
    request_id, _, sim = sent
    assert sim.sent()[-1]["fields"]["webhook_url"] == f"{WEBHOOK_URL}?ref={request_id}"


def test_message_sent_is_progress_then_message_finalized_delivers(gateway, sent):
    request_id, message_id, _ = sent
    query = f"?ref={request_id}"
    assert post(gateway, webhook(message_id, "message.sent", "sent"), query=query).status_code == 204
    assert view(gateway, request_id)["status"] == "sent"
    answer = post(gateway, webhook(message_id), query=query)
    assert answer.status_code == 204, answer.body
    request = view(gateway, request_id)
    assert request["status"] == "delivered" and request["delivered_at"]
    assert request["timeline"][-1]["event"] == "delivered"


def test_a_failed_delivery_is_undelivered_with_telnyxs_code_and_a_reason(gateway, sent):
    request_id, message_id, _ = sent
    body = webhook(message_id, status="delivery_failed", errors=[{"code": "40001", "title": "Not routable"}])
    assert post(gateway, body).status_code == 204  # without ?ref: found by its message id
    request = view(gateway, request_id)
    assert (request["status"], request["delivery_error_code"], request["delivery_reason"]) == (
        "undelivered", "40001", "unreachable")


@pytest.mark.parametrize(("kwargs", "status"), [
    pytest.param({"signature": ""}, 401, id="missing"),
    pytest.param({"key": Ed25519PrivateKey.generate()}, 403, id="another-accounts-key"),
    pytest.param({"timestamp": int(time.time()) - 600}, 403, id="replayed"),
    pytest.param({"signature": "not-base64!"}, 403, id="garbage"),
])
def test_a_badly_signed_webhook_is_refused_and_changes_nothing(gateway, sent, kwargs, status):
    request_id, message_id, _ = sent
    assert post(gateway, webhook(message_id), **kwargs).status_code == status
    assert view(gateway, request_id)["status"] == "sent"


def test_a_tampered_body_is_refused(gateway, sent):
    request_id, message_id, _ = sent
    timestamp = str(int(time.time()))
    signed = webhook(message_id, status="delivery_failed")
    signature = base64.b64encode(SIGNING_KEY.sign(timestamp.encode() + b"|" + signed)).decode()
    answer = post(gateway, webhook(message_id), timestamp=timestamp, signature=signature)
    assert answer.status_code == 403
    assert view(gateway, request_id)["status"] == "sent"


def test_only_post_is_taken(gateway, sent):
    assert gateway.http.get("/webhooks/tx").status_code == 405
