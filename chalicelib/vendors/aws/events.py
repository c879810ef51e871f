"""AWS End User Messaging SMS delivery events, from a configuration set's SNS event destination to the
``sms-delivery-events`` queue, whose consumer is chalicelib/receipts/delivery_events.py
(https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-types.html).

    SQS body = SNS envelope {"Type": "Notification", "Message": "<event JSON>", ...}
               (or the event JSON itself when the subscription has raw message delivery on)
    event    = {"eventType": "TEXT_DELIVERED", "eventTimestamp": <ms>, "messageId": "...", "isFinal": true,
                "messageStatus": "DELIVERED", "context": {"request_id": "...", "attempt": "1",
                "provider": "<name>"}, ...}

A message has several events, and ``isFinal`` says whether more may follow: ``TEXT_SUCCESSFUL`` (the carrier
accepted it) may be followed by ``TEXT_DELIVERED``, and ``TEXT_CARRIER_UNREACHABLE`` is documented as
transient. So the request's status follows the type only when the event is final:

    eventType                                isFinal         becomes
    TEXT_DELIVERED                           any             delivered
    TEXT_SUCCESSFUL                          true | absent   delivered ("used interchangeably depending on
                                                             the country": for some, the last event)
    a failure type (REASONS)                 true | absent   undelivered, its reason (TEXT_CARRIER_UNREACHABLE:
                                                             only when isFinal is true: transient)
    any of the above                         false           interim: logged, the status unchanged
    TEXT_QUEUED, TEXT_PENDING, TEXT_SENT     any             interim
    any other type (TEXT_* or not)           any             interim, logged as unknown: never final

``context`` is the ``Context`` the adapter sent with SendTextMessage: the request id (and the provider's name,
for a gateway with more than one aws provider). The queue and its subscription are the authentication: only
the topic may send to the queue (its policy), so there is no signature to check.
"""

from __future__ import annotations

import json

from chalicelib.delivery_receipt import DeliveryReason, DeliveryState, Receipt
from chalicelib.errors import MalformedMessage
from chalicelib.logs import logger

DELIVERED = frozenset({"TEXT_DELIVERED", "TEXT_SUCCESSFUL"})  # "used interchangeably depending on the country"
INTERIM = frozenset({"TEXT_QUEUED", "TEXT_PENDING", "TEXT_SENT"})
# Final only when the event says so (isFinal true): without the flag, they are read as intermediate.
TRANSIENT = frozenset({"TEXT_CARRIER_UNREACHABLE"})
REASONS = {
    "TEXT_BLOCKED": DeliveryReason.BLOCKED,
    "TEXT_CARRIER_BLOCKED": DeliveryReason.BLOCKED,
    "TEXT_SPAM": DeliveryReason.BLOCKED,
    "TEXT_PROTECT_BLOCKED": DeliveryReason.BLOCKED,
    "TEXT_TTL_EXPIRED": DeliveryReason.EXPIRED,
    "TEXT_UNREACHABLE": DeliveryReason.UNREACHABLE,
    "TEXT_CARRIER_UNREACHABLE": DeliveryReason.UNREACHABLE,
    "TEXT_INVALID": DeliveryReason.REJECTED,
    "TEXT_INVALID_MESSAGE": DeliveryReason.REJECTED,
    "TEXT_UNKNOWN": DeliveryReason.UNKNOWN,
}


def event_of(body: str) -> dict:
    """The event JSON of one SQS body, through the SNS envelope when there is one."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
            data = json.loads(data["Message"])
    except ValueError:
        raise MalformedMessage("delivery event is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedMessage("delivery event is not a JSON object")
    return data


def parse(event: dict, default_provider: str | None) -> Receipt:
    event_type, message_id = event.get("eventType"), event.get("messageId")
    if not isinstance(event_type, str) or not isinstance(message_id, str) or not message_id:
        raise MalformedMessage("delivery event without eventType or messageId")
    context = event.get("context") if isinstance(event.get("context"), dict) else {}
    provider = context.get("provider") or default_provider
    if not provider:
        raise MalformedMessage("delivery event without a provider in its context, and no single aws provider")
    state, reason = _state_of(event_type, event.get("isFinal"))
    timestamp = event.get("eventTimestamp")
    occurred_at = timestamp / 1000 if isinstance(timestamp, int | float) and not isinstance(timestamp, bool) else None
    return Receipt(provider=provider, message_id=message_id, state=state,
                   error_code=None if state is not DeliveryState.UNDELIVERED else event_type, reason=reason,
                   occurred_at=occurred_at, request_id=context.get("request_id") or None, vendor_status=event_type)


def _state_of(event_type: str, is_final: object) -> tuple[DeliveryState, DeliveryReason | None]:
    """The table above. ``is_final``: the event's isFinal, None when it has none (older events)."""
    if event_type not in DELIVERED and event_type not in REASONS:
        if event_type not in INTERIM:
            logger.warning("unknown delivery event type: kept as intermediate", extra={"event_type": event_type})
        return DeliveryState.INTERIM, None
    final = is_final if isinstance(is_final, bool) else event_type not in TRANSIENT
    if event_type == "TEXT_DELIVERED":
        return DeliveryState.DELIVERED, None
    if not final:
        return DeliveryState.INTERIM, None
    if event_type in DELIVERED:
        return DeliveryState.DELIVERED, None
    return DeliveryState.UNDELIVERED, REASONS[event_type]


def receipt_of(body: str, default_provider: str | None) -> Receipt:
    """The receipt in one record of the sms-delivery-events queue."""
    return parse(event_of(body), default_provider)
