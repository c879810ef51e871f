"""``http-json``: the gateway's own provider contract and its receipts, for in-house providers
(docs/providers.md#http-json).

    POST {url}
    Content-Type: application/json
    Idempotency-Key: {request id}-{attempt}      the same attempt resent is answered, not sent again
    Authorization: Bearer {api_key}              when the entry (or its secret) has an api_key
    {"to": "+14155550100", "text": "...", "reference": "{request id}",
     "from": "ACME", "validity_s": 600}         each only when the client gave one (the provider's default else)

  answer                                           outcome
  2xx + JSON {"message_id": "..."}                 accepted
  400, 422                                         refused
  429                                              throttled
  401, 403, 404 (wrong key, wrong URL)             provider failure, configuration problem
  other 4xx, 5xx, malformed 2xx, timeout, network  provider failure

Delivery receipts: the gateway's own contract (docs/providers.md#http-json-receipts).

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
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

from chalicelib.delivery_receipt import DeliveryReason, DeliveryState, Receipt
from chalicelib.errors import SignatureInvalid, SignatureMissing, ValidationFailed
from chalicelib.providers.base import (
    MAX_STORED_BODY,
    HttpProviderAdapter,
    Outcome,
    OutgoingSms,
    ProviderEntry,
    Verdict,
    accepted,
    failed,
    misconfigured,
    stored_text,
)
from chalicelib.providers.deadline import Answer
from chalicelib.receipts.signed import digest_matches, unix_time
from chalicelib.receipts.webhook_call import WebhookCall
from chalicelib.vendors.kind import VendorKind, http_adapter

REFUSAL_CODES = frozenset({400, 422})
CONFIGURATION_CODES = frozenset({401, 403, 404})


class HttpJsonConfig(ProviderEntry):
    # webhook_secret: the key its delivery receipts are signed with (verify, below).
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("api_key", "webhook_secret")
    ENDPOINT_FIELD: ClassVar[str] = "url"

    kind: Literal["http-json"] = "http-json"
    url: str = Field(pattern=r"^https?://")
    api_key: str | None = Field(default=None, repr=False)
    webhook_secret: str | None = Field(default=None, repr=False, min_length=1)


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def classify_answer(status_code: int, body: bytes) -> Verdict:
    """The verdict on one http-json answer; the body is kept when it is a small JSON object, else cut."""
    data = _parsed(body)
    kept = data if isinstance(data, dict) and len(body) <= MAX_STORED_BODY else stored_text(body)
    if 200 <= status_code < 300:
        message_id = data.get("message_id") if isinstance(data, dict) else None
        if isinstance(message_id, str) and message_id:
            return accepted(status_code, message_id, kept)
        return failed(status_code, f"malformed {status_code} answer: no message_id", kept)
    if status_code in REFUSAL_CODES:
        return Verdict(Outcome.REFUSED, status_code, None, f"refused by provider ({status_code})", kept)
    if status_code == 429:
        return Verdict(Outcome.THROTTLED, status_code, None, "throttled by provider (429)", kept)
    if status_code in CONFIGURATION_CODES:
        return misconfigured(status_code, f"provider error ({status_code}): check the url and the api_key", kept)
    return failed(status_code, f"provider error ({status_code})", kept)


class HttpJsonProvider(HttpProviderAdapter):
    kind = "http-json"

    def build_request(self, sms: OutgoingSms, credentials: dict[str, str]) -> httpx.Request:
        headers = {"Content-Type": "application/json", "Idempotency-Key": f"{sms.request_id}-{sms.attempt}"}
        if credentials.get("api_key"):
            headers["Authorization"] = f"Bearer {credentials['api_key']}"
        payload: dict[str, Any] = {"to": sms.phone, "text": sms.text, "reference": sms.request_id}
        if sms.sender:
            payload["from"] = sms.sender
        if sms.validity_s:
            payload["validity_s"] = sms.validity_s
        return self._http.build_request("POST", self._config.url, json=payload, headers=headers)

    def classify(self, answer: Answer) -> Verdict:
        return classify_answer(answer.status_code, answer.body)


# Delivery receipts

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
    """As sent; whether it can be true is the applier's question (occurred_at_or_now)."""
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


def webhook_receipt(config: HttpJsonConfig, call: WebhookCall, secret: str, now: float) -> Receipt:
    """Nothing is read before the signature (it covers the raw body); the JSON is parsed once it verified."""
    verify(call.body, call.headers.get(HEADER.lower()), secret, now)
    return parse(config.name, call.body)


KIND = VendorKind(name="http-json", config=HttpJsonConfig, adapter=http_adapter(HttpJsonProvider),
                  webhook_methods=("POST",), signed_with="webhook_secret", webhook_receipt=webhook_receipt)
