"""AWS End User Messaging delivery events: the SNS envelope (or a raw event) becomes one Receipt."""

from __future__ import annotations

import json

import pytest

from chalicelib.delivery_receipt import DeliveryReason, DeliveryState
from chalicelib.errors import MalformedMessage
from chalicelib.vendors.aws.events import event_of, parse

pytestmark = pytest.mark.unit

# The documented example (configuration-sets-event-format), with the Context our adapter sends.
EVENT = {"eventType": "TEXT_SUCCESSFUL", "eventVersion": "1.0", "eventTimestamp": 1686975103470, "isFinal": True,
         "originationPhoneNumber": "+12065550152", "destinationPhoneNumber": "+14255550156", "mcc": "310",
         "mnc": "800", "messageId": "862a8790-60c0-4430-9b2b-658bdexample", "messageRequestTimestamp": 1686975103170,
         "messageEncoding": "GSM", "messageType": "PROMOTIONAL", "messageStatus": "SUCCESSFUL",
         "messageStatusDescription": "Message has been accepted by phone carrier",
         "context": {"request_id": "d" * 32, "attempt": "1", "provider": "aws-eu"}, "totalMessageParts": 1}


def test_the_sns_envelope_and_the_raw_event_read_the_same():
    envelope = json.dumps({"Type": "Notification", "Message": json.dumps(EVENT)})
    assert event_of(envelope) == event_of(json.dumps(EVENT)) == EVENT


@pytest.mark.parametrize(("event_type", "state", "reason"), [
    pytest.param("TEXT_DELIVERED", DeliveryState.DELIVERED, None, id="delivered"),
    pytest.param("TEXT_SUCCESSFUL", DeliveryState.DELIVERED, None, id="successful"),
    pytest.param("TEXT_QUEUED", DeliveryState.INTERIM, None, id="queued"),
    pytest.param("TEXT_PENDING", DeliveryState.INTERIM, None, id="pending"),
    pytest.param("TEXT_BLOCKED", DeliveryState.UNDELIVERED, DeliveryReason.BLOCKED, id="blocked"),
    pytest.param("TEXT_SPAM", DeliveryState.UNDELIVERED, DeliveryReason.BLOCKED, id="spam"),
    pytest.param("TEXT_TTL_EXPIRED", DeliveryState.UNDELIVERED, DeliveryReason.EXPIRED, id="ttl-expired"),
    pytest.param("TEXT_CARRIER_UNREACHABLE", DeliveryState.UNDELIVERED, DeliveryReason.UNREACHABLE,
                 id="carrier-unreachable"),
    pytest.param("TEXT_INVALID", DeliveryState.UNDELIVERED, DeliveryReason.REJECTED, id="invalid"),
    pytest.param("TEXT_UNKNOWN", DeliveryState.UNDELIVERED, DeliveryReason.UNKNOWN, id="unknown"),
    pytest.param("TEXT_SENT", DeliveryState.INTERIM, None, id="sent-from-botocores-enum"),
    pytest.param("TEXT_SOMETHING_NEW", DeliveryState.INTERIM, None, id="unlisted-type-never-final"),
    pytest.param("VOICE_COMPLETED", DeliveryState.INTERIM, None, id="not-a-text-event"),
])
def test_event_types(event_type, state, reason):
    receipt = parse({**EVENT, "eventType": event_type}, None)
    assert (receipt.state, receipt.reason) == (state, reason)
    assert (receipt.provider, receipt.request_id, receipt.occurred_at) == ("aws-eu", "d" * 32, 1686975103.47)


@pytest.mark.parametrize(("event_type", "is_final", "state"), [
    pytest.param("TEXT_SUCCESSFUL", False, DeliveryState.INTERIM, id="successful-more-to-come"),
    pytest.param("TEXT_SUCCESSFUL", None, DeliveryState.DELIVERED, id="successful-without-isfinal"),
    pytest.param("TEXT_DELIVERED", False, DeliveryState.DELIVERED, id="delivered-whatever-the-flag"),
    pytest.param("TEXT_CARRIER_UNREACHABLE", False, DeliveryState.INTERIM, id="carrier-unreachable-transient"),
    pytest.param("TEXT_CARRIER_UNREACHABLE", None, DeliveryState.INTERIM, id="carrier-unreachable-without-isfinal"),
    pytest.param("TEXT_CARRIER_UNREACHABLE", True, DeliveryState.UNDELIVERED, id="carrier-unreachable-final"),
    pytest.param("TEXT_BLOCKED", False, DeliveryState.INTERIM, id="blocked-more-to-come"),
    pytest.param("TEXT_BLOCKED", None, DeliveryState.UNDELIVERED, id="blocked-without-isfinal"),
    pytest.param("TEXT_SOMETHING_NEW", True, DeliveryState.INTERIM, id="unknown-type-final-or-not"),
])
def test_is_final_decides_whether_the_event_moves_the_request(event_type, is_final, state):
    event = {**EVENT, "eventType": event_type, "isFinal": is_final}
    if is_final is None:
        del event["isFinal"]
    assert parse(event, None).state is state


def test_an_unknown_event_type_is_logged(log_output):
    receipt = parse({**EVENT, "eventType": "TEXT_SOMETHING_NEW"}, None)
    assert (receipt.state, receipt.vendor_status) == (DeliveryState.INTERIM, "TEXT_SOMETHING_NEW")
    [line] = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert (line["level"], line["message"], line["event_type"]) == (
        "WARNING", "unknown delivery event type: kept as intermediate", "TEXT_SOMETHING_NEW")


def test_an_event_without_a_provider_belongs_to_the_only_aws_provider():
    event = {**EVENT, "context": {"request_id": "d" * 32}}
    assert parse(event, "aws").provider == "aws"
    with pytest.raises(MalformedMessage):
        parse(event, None)


@pytest.mark.parametrize("body", [pytest.param("nope", id="not-json"), pytest.param("[1]", id="not-an-object"),
                                  pytest.param('{"Type": "Notification", "Message": "nope"}', id="bad-message")])
def test_malformed_bodies_are_malformed_messages(body):
    with pytest.raises(MalformedMessage):
        event_of(body)
