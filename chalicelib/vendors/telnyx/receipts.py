"""``telnyx`` delivery receipts: ``message.sent`` (interim) and ``message.finalized`` events, JSON, POSTed to the
message's ``webhook_url`` (docs/providers.md#telnyx-delivery-receipts) and signed with Ed25519
(team-telnyx/telnyx-python, src/telnyx/lib/webhook_verification.py):

    telnyx-signature-ed25519: base64(Ed25519 signature of "<telnyx-timestamp>|<raw body>")
    telnyx-timestamp: <unix seconds>, within MAX_SKEW_S of now, either way (the SDK's 300 s)

checked with the account's public key (the entry's ``public_key``). Nothing of a call is read before its
signature verified: it covers the raw body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from chalicelib.delivery_receipt import DeliveryReason, DeliveryState, Receipt, undelivered
from chalicelib.errors import SignatureInvalid, SignatureMissing, ValidationFailed
from chalicelib.logs import logger
from chalicelib.receipts.signed import unix_time
from chalicelib.receipts.webhook_call import WebhookCall
from chalicelib.vendors.telnyx.adapter import (
    TelnyxConfig,
    base64_bytes,
    code_of,
    json_of,
    kept_errors,
    public_key_of,
    recipient_of,
)

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
MAX_SKEW_S = 300  # the SDK's TIMESTAMP_TOLERANCE_SECONDS, either way (too old or too new)
SIGNATURE_BYTES = 64


def signature_valid(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def verify(body: bytes, signature: str | None, timestamp: str | None, public_key: str, now: float) -> None:
    """That Telnyx signed ``body`` (the raw bytes received) at ``timestamp``, and not more than MAX_SKEW_S from
    ``now``. The signed message is "<timestamp>|<body>" (the SDK builds it from the decoded body: the same bytes
    for the UTF-8 Telnyx sends)."""
    if not signature:
        raise SignatureMissing(f"{SIGNATURE_HEADER} missing", field=SIGNATURE_HEADER)
    if not timestamp:
        raise SignatureMissing(f"{TIMESTAMP_HEADER} missing", field=TIMESTAMP_HEADER)
    key = public_key_of(public_key)
    if key is None:
        raise SignatureInvalid("the provider's public_key is not a base64 Ed25519 public key", field="provider")
    when = unix_time(timestamp)
    if when is None:
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} is not a unix time", field=TIMESTAMP_HEADER)
    given = base64_bytes(signature, SIGNATURE_BYTES)
    if given is None or not signature_valid(key, given, timestamp.encode("ascii") + b"|" + body):
        raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match: check the provider's public_key",
                               field=SIGNATURE_HEADER)
    if abs(now - when) > MAX_SKEW_S:
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} more than {MAX_SKEW_S} s from now (replayed?)",
                               field=TIMESTAMP_HEADER)


INTERIM_EVENT = "message.sent"
FINAL_EVENT = "message.finalized"
# to[].status of a message.finalized event -> state. The statuses: the SDK's OutboundMessagePayload.To.status.
STATES = {
    "delivered": DeliveryState.DELIVERED,
    "delivery_failed": DeliveryState.UNDELIVERED,  # the carrier could not deliver it
    "sending_failed": DeliveryState.UNDELIVERED,  # Telnyx could not send it
    "expired": DeliveryState.UNDELIVERED,  # not sent within its validity
    # The carrier sent no delivery receipt: final for Telnyx, unknown for us. Kept as interim, as Vonage's
    # "unknown": the request stays sent (its result is not known), and is not called undelivered.
    "delivery_unconfirmed": DeliveryState.INTERIM,
}
# errors[].code -> reason. https://developers.telnyx.com/docs/messaging/messages/error-codes (delivery errors)
REASONS = {
    "40001": DeliveryReason.UNREACHABLE,  # not routable: landline or non-routable number
    "40002": DeliveryReason.BLOCKED,  # blocked as spam, temporary
    "40003": DeliveryReason.BLOCKED,  # blocked as spam, permanent
    "40004": DeliveryReason.REJECTED,  # rejected by destination
    "40005": DeliveryReason.EXPIRED,  # expired during transmission
    "40006": DeliveryReason.UNREACHABLE,  # recipient server unavailable
    "40008": DeliveryReason.REJECTED,  # undeliverable: the carrier did not accept it
    "40009": DeliveryReason.REJECTED,  # invalid message body
    "40010": DeliveryReason.BLOCKED,  # unregistered 10DLC message
    "40011": DeliveryReason.BLOCKED,  # too many requests upstream: flagged as spam
    "40012": DeliveryReason.REJECTED,  # invalid destination number
    "40013": DeliveryReason.REJECTED,  # invalid source number
    "40014": DeliveryReason.EXPIRED,  # expired in queue
    "40015": DeliveryReason.BLOCKED,  # Telnyx's internal spam filter
    "40016": DeliveryReason.REJECTED,  # T-Mobile 10DLC sending limit reached
    "40017": DeliveryReason.BLOCKED,  # AT&T 10DLC spam rejection
    "40018": DeliveryReason.REJECTED,  # AT&T 10DLC sending limit reached
    "40300": DeliveryReason.BLOCKED,  # blocked due to STOP message
    "40329": DeliveryReason.BLOCKED,  # toll-free number not verified
}
STATUS_REASONS = {"expired": DeliveryReason.EXPIRED}


def _occurred_at(value: Any) -> float | None:
    """An ISO 8601 time as Telnyx writes it ("2019-12-09T21:32:14.148+00:00"); None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def parse(provider: str, body: bytes, query: list[tuple[str, str]] = ()) -> Receipt:
    """A verified webhook's receipt. ``query``: the webhook URL's own query; ``ref`` is our request id when the
    provider's webhook_url made the URL. Any event but message.sent and message.finalized (an inbound
    message.received, when the profile's webhook points here too) is acknowledged as interim."""
    event = json_of(body)
    data = event.get("data") if isinstance(event, dict) else None
    payload = data.get("payload") if isinstance(data, dict) else None
    if not isinstance(payload, dict):
        raise ValidationFailed("a Telnyx webhook is a JSON object with data.payload", field="body")
    message_id, event_type = payload.get("id"), data.get("event_type")
    if not isinstance(message_id, str) or not message_id or not isinstance(event_type, str):
        raise ValidationFailed("a delivery receipt needs data.event_type and data.payload.id", field="data")
    recipient = recipient_of(payload)
    status = recipient.get("status") if isinstance(recipient.get("status"), str) else ""
    errors = kept_errors(payload.get("errors"))
    code = code_of(errors)
    state = STATES.get(status, DeliveryState.INTERIM) if event_type == FINAL_EVENT else DeliveryState.INTERIM
    if event_type not in (INTERIM_EVENT, FINAL_EVENT):
        logger.info("webhook event that is not a delivery receipt: acknowledged", extra={"event_type": event_type})
    reason = None
    if state is DeliveryState.UNDELIVERED:
        reason = undelivered(REASONS, code, STATUS_REASONS.get(status, DeliveryReason.UNKNOWN))
    ref = dict(query).get("ref") or None
    return Receipt(provider=provider, message_id=message_id, state=state,
                   error_code=code if state is DeliveryState.UNDELIVERED else None, reason=reason,
                   occurred_at=_occurred_at(payload.get("completed_at") or data.get("occurred_at")),
                   request_id=ref, vendor_status=f"{event_type}:{status}" if status else event_type)


def webhook_receipt(config: TelnyxConfig, call: WebhookCall, public_key: str, now: float) -> Receipt:
    """Nothing is read before the signature (it covers the raw body); the JSON is parsed once it verified."""
    verify(call.body, call.headers.get(SIGNATURE_HEADER), call.headers.get(TIMESTAMP_HEADER), public_key, now)
    return parse(config.name, call.body, call.query)
