"""http-json delivery receipts: the gateway's own contract (docs/providers.md#http-json-receipts).

    POST {webhook}
    Content-Type: application/json
    X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(webhook_secret, "<t>." + raw body)>

    {"message_id": "...", "status": "delivered" | "undelivered" | "sent" | ..., "reference": "<request id>",
     "error_code": "...", "reason": "unreachable" | ..., "occurred_at": "2026-01-01T12:00:00Z"}

The timestamp is signed with the body, so a captured call cannot be sent again after ``MAX_AGE_S`` (replay).
Several ``v1=`` entries may be given (a secret being rotated): one matching is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime

from chalicelib.delivery_receipt import DeliveryReason, DeliveryState, Receipt
from chalicelib.errors import SignatureInvalid, SignatureMissing, ValidationFailed
from chalicelib.receipts.signed import digest_matches, unix_time

MAX_AGE_S = 300
HEADER = "X-Signature"
# The final statuses of the contract are the lifecycle's words; any other status is on its way (interim).
FINAL_STATES = {str(state): state for state in (DeliveryState.DELIVERED, DeliveryState.UNDELIVERED)}


def signature_header(body: bytes, secret: str, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(body: bytes, header: str | None, secret: str, now: float) -> None:
    if not header:
        raise SignatureMissing(f"{HEADER} missing", field=HEADER)
    pairs = [part.strip().partition("=") for part in header.split(",")]
    timestamps = [value for key, _, value in pairs if key == "t"]
    given = [value for key, _, value in pairs if key == "v1"]
    timestamp = unix_time(timestamps[0]) if len(timestamps) == 1 else None
    if timestamp is None or not given:
        raise SignatureInvalid(f"{HEADER} is not t=<unix>,v1=<hex>", field=HEADER)
    expected = signature_header(body, secret, timestamp).partition(",v1=")[2]
    if not any(digest_matches(expected, value) for value in given):
        raise SignatureInvalid(f"{HEADER} does not match: check the provider's webhook_secret", field=HEADER)
    if abs(now - timestamp) > MAX_AGE_S:
        raise SignatureInvalid(f"{HEADER} timestamp more than {MAX_AGE_S} s from now (replayed?)", field=HEADER)


def _occurred_at(value) -> float | None:
    """As sent; whether it can be true is the applier's question (model.occurred_at_or_now)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def parse(provider: str, body: bytes) -> Receipt:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser recurses
        data = None
    if not isinstance(data, dict):
        raise ValidationFailed("a receipt is a JSON object", field="body")
    message_id, status = data.get("message_id"), data.get("status")
    if not isinstance(message_id, str) or not message_id or not isinstance(status, str):
        raise ValidationFailed("a receipt needs message_id and status", field="message_id")
    state = FINAL_STATES.get(status, DeliveryState.INTERIM)
    reason = None
    if state is DeliveryState.UNDELIVERED:
        try:
            reason = DeliveryReason(data.get("reason") or "unknown")
        except ValueError:
            reason = DeliveryReason.UNKNOWN
    code, reference = data.get("error_code"), data.get("reference")
    return Receipt(provider=provider, message_id=message_id, state=state,
                   error_code=str(code) if code not in (None, "") else None, reason=reason,
                   occurred_at=_occurred_at(data.get("occurred_at")),
                   request_id=reference if isinstance(reference, str) and reference else None, vendor_status=status)
