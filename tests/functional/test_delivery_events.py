"""AWS End User Messaging delivery events through the app's SQS handler (configuration set -> SNS -> the
sms-delivery-events queue): a sent request ends delivered or undelivered; malformed records are dropped, a
too-early one comes back (partial batch failure)."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from chalicelib import wiring
from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional


@pytest.fixture
def aws_provider(gateway, simulators, monkeypatch):
    found = boto3.session.Session().get_credentials()
    sim = simulators("aws", kind="aws", credentials={"aws_access_key_id": found.access_key,
                                                     "aws_secret_access_key": found.secret_key})
    monkeypatch.setenv("SMS_PROVIDERS", json.dumps([{"name": "aws", "kind": "aws", "endpoint_url": sim.url,
                                                     "origination_identity": "+15005550007", "timeout_s": 1}]))
    return sim


def post_sms(gateway) -> str:
    response = gateway.http.post("/api/sms", headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
                                 body=json.dumps({"phone": "+14155550100", "text": "hello"}))
    return json.loads(response.body)["id"]


def view(gateway, request_id: str) -> dict:
    return json.loads(gateway.http.get(f"/api/sms/{request_id}", headers={"X-Api-Key": API_KEY}).body)


def sns_body(event_type: str, message_id: str, request_id: str, raw: bool = False, is_final: bool = True) -> str:
    event = {"eventType": event_type, "eventVersion": "1.0", "eventTimestamp": int(time.time() * 1000),
             "isFinal": is_final, "messageId": message_id, "messageStatus": event_type.removeprefix("TEXT_"),
             "destinationPhoneNumber": "+14155550100",
             "context": {"request_id": request_id, "attempt": "1", "provider": "aws"}}
    if raw:
        return json.dumps(event)
    return json.dumps({"Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:us-east-1:1:t",
                       "Message": json.dumps(event), "Timestamp": "2026-01-01T00:00:00.000Z"})


@pytest.fixture
def sent(gateway, aws_provider, sqs_event, queued_bodies):
    def send() -> tuple[str, str]:
        request_id = post_sms(gateway)
        gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies()))
        request = view(gateway, request_id)
        assert request["status"] == "sent"
        return request_id, request["provider_message_id"]

    return send


@pytest.mark.parametrize(("event_type", "status", "reason"), [
    pytest.param("TEXT_DELIVERED", "delivered", None, id="delivered"),
    pytest.param("TEXT_SUCCESSFUL", "delivered", None, id="successful"),
    pytest.param("TEXT_BLOCKED", "undelivered", "blocked", id="blocked"),
    pytest.param("TEXT_TTL_EXPIRED", "undelivered", "expired", id="ttl-expired"),
    pytest.param("TEXT_CARRIER_UNREACHABLE", "undelivered", "unreachable", id="unreachable"),
])
def test_a_delivery_event_moves_the_sent_request(gateway, sent, sqs_event, event_type, status, reason):
    request_id, message_id = sent()
    answer = gateway.lambda_.invoke("apply_delivery_events", sqs_event(sns_body(event_type, message_id, request_id)))
    assert answer.payload == {"batchItemFailures": []}
    request = view(gateway, request_id)
    assert (request["status"], request.get("delivery_reason")) == (status, reason)


def test_raw_delivery_and_a_late_queued_event_and_a_repeat(gateway, sent, sqs_event):
    request_id, message_id = sent()
    bodies = [sns_body("TEXT_DELIVERED", message_id, request_id, raw=True),
              sns_body("TEXT_QUEUED", message_id, request_id), sns_body("TEXT_BLOCKED", message_id, request_id)]
    for body in bodies:
        assert gateway.lambda_.invoke("apply_delivery_events", sqs_event(body)).payload == {"batchItemFailures": []}
    assert view(gateway, request_id)["status"] == "delivered"


@pytest.mark.parametrize("first", [
    pytest.param(("TEXT_SUCCESSFUL", False), id="carrier-accepted-then-delivered"),
    pytest.param(("TEXT_CARRIER_UNREACHABLE", False), id="carrier-unreachable-for-now-then-delivered"),
    pytest.param(("TEXT_SOMETHING_NEW", True), id="unknown-type-then-delivered"),
])
def test_an_intermediate_event_changes_no_status_and_the_final_one_decides(gateway, sent, sqs_event, first):
    """The sequences AWS documents: isFinal false means more events follow, and the last one is the result."""
    request_id, message_id = sent()
    event_type, is_final = first
    body = sns_body(event_type, message_id, request_id, is_final=is_final)
    assert gateway.lambda_.invoke("apply_delivery_events", sqs_event(body)).payload == {"batchItemFailures": []}
    request = view(gateway, request_id)
    assert request["status"] == "sent"
    assert [(e["event"], e.get("detail")) for e in request["timeline"]][-1] == ("progress", event_type)  # kept
    delivered = sns_body("TEXT_DELIVERED", message_id, request_id)
    assert gateway.lambda_.invoke("apply_delivery_events", sqs_event(delivered)).payload == {"batchItemFailures": []}
    request = view(gateway, request_id)
    assert (request["status"], request.get("delivery_reason")) == ("delivered", None)


def test_a_final_carrier_unreachable_ends_undelivered(gateway, sent, sqs_event):
    request_id, message_id = sent()
    unreachable = sns_body("TEXT_CARRIER_UNREACHABLE", message_id, request_id, is_final=True)
    gateway.lambda_.invoke("apply_delivery_events", sqs_event(unreachable))
    gateway.lambda_.invoke("apply_delivery_events", sqs_event(sns_body("TEXT_DELIVERED", message_id, request_id)))
    request = view(gateway, request_id)
    assert (request["status"], request.get("delivery_reason")) == ("undelivered", "unreachable")


def test_malformed_records_are_dropped_and_a_too_early_one_comes_back(gateway, aws_provider, sqs_event):
    request_id = post_sms(gateway)
    wiring.get_claims().claim(request_id, 1, "aws")  # the answer is not recorded yet
    event = sqs_event("not json", json.dumps({"eventType": "TEXT_DELIVERED"}),
                      sns_body("TEXT_DELIVERED", "m-early", request_id))
    answer = gateway.lambda_.invoke("apply_delivery_events", event)
    assert answer.payload == {"batchItemFailures": [{"itemIdentifier": event["Records"][2]["messageId"]}]}
    assert view(gateway, request_id)["status"] == "processing"
