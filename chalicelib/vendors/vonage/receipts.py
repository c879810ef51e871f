"""Vonage SMS API delivery receipts (DLR): ``messageId``, ``status``, ``err-code``, ``client-ref``,
``message-timestamp`` ..., as a GET query, a form POST or a JSON POST (the dashboard's "HTTP method").
https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts

Signed (the account's "signed webhooks" setting) with the signature secret and method used for sending: every
parameter but ``sig``, sorted by name, as ``&name=value`` with ``&`` and ``=`` in values replaced by ``_``;
``md5hash`` = hex(md5(that + secret)), the others hex(HMAC(secret, that)): ``adapter.signature``,
checked against the vectors of Vonage's SDK. Its ``timestamp`` must be within ``MAX_SKEW_S`` of now (replay).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from chalicelib.delivery_receipt import DeliveryReason, DeliveryState, Receipt, undelivered
from chalicelib.errors import SignatureInvalid, SignatureMissing, ValidationFailed
from chalicelib.receipts.signed import digest_matches, unix_time
from chalicelib.receipts.webhook_call import WebhookCall, form_or_json
from chalicelib.vendors.vonage.adapter import SignatureMethod, VonageConfig, signature

MAX_SKEW_S = 300
METHODS = ("GET", "POST")
SIGNED_WITH = "signature_secret"

STATES = {
    "delivered": DeliveryState.DELIVERED,
    "failed": DeliveryState.UNDELIVERED,
    "rejected": DeliveryState.UNDELIVERED,
    "expired": DeliveryState.UNDELIVERED,
    # No answer from the carrier (yet): not final, a later DLR may still say delivered or failed. A request that
    # never gets one stays sent, as one whose receipts never come.
    "unknown": DeliveryState.INTERIM,
    "accepted": DeliveryState.INTERIM,
    "buffered": DeliveryState.INTERIM,
}
# err-code -> reason. https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts#dlr-error-codes
REASONS = {
    "1": DeliveryReason.UNKNOWN,  # unknown
    "2": DeliveryReason.UNREACHABLE,  # absent subscriber, temporary
    "3": DeliveryReason.UNREACHABLE,  # absent subscriber, permanent
    "4": DeliveryReason.BLOCKED,  # call barred by user
    "5": DeliveryReason.UNKNOWN,  # portability error
    "6": DeliveryReason.BLOCKED,  # anti-spam rejection
    "7": DeliveryReason.UNREACHABLE,  # handset busy
    "8": DeliveryReason.UNKNOWN,  # network error
    "9": DeliveryReason.REJECTED,  # illegal number
    "10": DeliveryReason.REJECTED,  # illegal message
    "11": DeliveryReason.UNREACHABLE,  # unroutable
    "12": DeliveryReason.UNREACHABLE,  # destination unreachable
    "13": DeliveryReason.BLOCKED,  # subscriber age restriction
    "14": DeliveryReason.BLOCKED,  # number blocked by carrier
    "15": DeliveryReason.REJECTED,  # prepaid insufficient funds
    "16": DeliveryReason.REJECTED,  # gateway quota exceeded
    "50": DeliveryReason.BLOCKED,  # entity filter
    "51": DeliveryReason.BLOCKED,  # header filter
    "52": DeliveryReason.BLOCKED,  # content filter
    "53": DeliveryReason.BLOCKED,  # consent filter
    "54": DeliveryReason.BLOCKED,  # regulation error
    "99": DeliveryReason.UNKNOWN,  # general error
}
STATUS_REASONS = {"rejected": DeliveryReason.REJECTED, "expired": DeliveryReason.EXPIRED}


def verify(params: Mapping[str, str], secret: str, method: SignatureMethod, now: float) -> None:
    given = params.get("sig")
    if not given:
        raise SignatureMissing("sig missing: turn on signed webhooks for the account", field="sig")
    timestamp = unix_time(params.get("timestamp"))
    if timestamp is None:
        raise SignatureInvalid("timestamp missing or not a number", field="timestamp")
    expected = signature({name: value for name, value in params.items() if name != "sig"}, secret, method)
    if not digest_matches(expected, given.lower()):
        raise SignatureInvalid("sig does not match: check the signature_secret and signature_method", field="sig")
    if abs(now - timestamp) > MAX_SKEW_S:
        raise SignatureInvalid(f"timestamp more than {MAX_SKEW_S} s from now (replayed?)", field="timestamp")


def _occurred_at(value: str | None) -> float | None:
    """``message-timestamp``, "2020-01-01 12:00:00" in UTC."""
    try:
        return datetime.strptime(value or "", "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def parse(provider: str, params: Mapping[str, str]) -> Receipt:
    message_id, status = params.get("messageId"), (params.get("status") or "").lower()
    if not message_id or not status:
        raise ValidationFailed("a delivery receipt needs messageId and status", field="messageId")
    state = STATES.get(status, DeliveryState.INTERIM)
    code = params.get("err-code") or None
    reason = None
    if state is DeliveryState.UNDELIVERED:
        reason = STATUS_REASONS.get(status) or undelivered(REASONS, code)
    return Receipt(provider=provider, message_id=message_id, state=state,
                   error_code=None if code == "0" else code, reason=reason,
                   occurred_at=_occurred_at(params.get("message-timestamp")),
                   request_id=params.get("client-ref") or None, vendor_status=status)


def webhook_receipt(config: VonageConfig, call: WebhookCall, secret: str, now: float) -> Receipt:
    """The parameters (the query of a GET; the form or JSON object of a POST, bounded), checked, then parsed."""
    params = dict(call.query) if call.method == "GET" else form_or_json(call)
    verify(params, secret, config.signature_method, now)
    return parse(config.name, params)
