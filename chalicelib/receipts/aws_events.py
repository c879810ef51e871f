"""AWS End User Messaging SMS delivery events, from a configuration set's SNS event destination to the
``sms-delivery-events`` queue (https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-types.html).

    SQS body = SNS envelope {"Type": "Notification", "Message": "<event JSON>", ...}
               (or the event JSON itself when the subscription has raw message delivery on)
    event    = {"eventType": "TEXT_DELIVERED", "eventTimestamp": <ms>, "messageId": "...",
                "messageStatus": "DELIVERED", "context": {"request_id": "...", "attempt": "1",
                "provider": "<name>"}, ...}

``context`` is the ``Context`` the adapter sent with SendTextMessage: the request id (and the provider's name,
for a gateway with more than one aws provider). The queue and its subscription are the authentication: only
the topic may send to the queue (its policy), so there is no signature to check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection

from chalicelib.errors import MalformedMessage
from chalicelib.logs import log_context, logger
from chalicelib.receipts.applier import ReceiptApplier
from chalicelib.receipts.model import DeliveryReason, DeliveryState, Receipt
from chalicelib.sqs_batch import QueueRecord, process_batch

DELIVERED = frozenset({"TEXT_DELIVERED", "TEXT_SUCCESSFUL"})  # "used interchangeably depending on the country"
INTERIM = frozenset({"TEXT_QUEUED", "TEXT_PENDING"})
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
    if event_type in DELIVERED:
        state, reason = DeliveryState.DELIVERED, None
    elif event_type in INTERIM or not event_type.startswith("TEXT_"):
        state, reason = DeliveryState.INTERIM, None
    else:
        state, reason = DeliveryState.UNDELIVERED, REASONS.get(event_type, DeliveryReason.UNKNOWN)
    timestamp = event.get("eventTimestamp")
    occurred_at = timestamp / 1000 if isinstance(timestamp, int | float) and not isinstance(timestamp, bool) else None
    return Receipt(provider=provider, message_id=message_id, state=state,
                   error_code=None if state is not DeliveryState.UNDELIVERED else event_type, reason=reason,
                   occurred_at=occurred_at, request_id=context.get("request_id") or None, vendor_status=event_type)


class DeliveryEvents:
    """The ``sms-delivery-events`` handler: one record per event, partial batch failures as the dispatcher."""

    def __init__(self, applier: ReceiptApplier, aws_providers: Collection[str],
                 batch: Callable = process_batch):
        self._applier = applier
        # An event without a provider in its context belongs to the only aws provider, if there is one.
        self._default_provider = next(iter(aws_providers)) if len(aws_providers) == 1 else None
        self._batch = batch

    def apply_batch(self, records: list[QueueRecord]) -> dict:
        return self._batch(records, self.apply_record)

    def apply_record(self, record: QueueRecord) -> bool:
        with log_context(sqs_message_id=record.message_id):
            receipt = parse(event_of(record.body), self._default_provider)
            result = self._applier.apply(receipt)  # ReceiptTooEarly (retryable): the record comes back
            logger.debug("delivery event", extra={"result": str(result), "event_type": receipt.vendor_status})
        return True
