"""``telnyx`` sending: the Telnyx Messaging API v2 (docs/providers.md#telnyx).

    POST {base_url}/v2/messages    Authorization: Bearer <api_key>    Content-Type: application/json
    {"to": "+14155550100", "text": "...", "from": "+13125550100" | "ACME", "messaging_profile_id": "<uuid>",
     "webhook_url": "<webhook_url>?ref=<request id>", "webhook_failover_url": "...", "type": "SMS"}
    200 {"data": {"id": "<uuid>", "to": [{"phone_number", "status": "queued", ...}], "parts", ...}}
    4xx/5xx {"errors": [{"code": "40300", "title", "detail", "source": {"pointer"}, "meta"}]}

The first error's ``code`` classifies an answer (ERROR_CODES, the table of docs/providers.md#telnyx), its HTTP
status only when the code is not in the table. Telnyx's send has no validity field: ``validity_s`` is not sent,
and it has no client reference: the request id travels in the webhook URL's ``ref``. Fields and types:
team-telnyx/telnyx-python, src/telnyx/types/message_send_params.py and messaging_outbound_message_payload.py.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, ClassVar, Literal

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import Field, field_validator, model_validator

from chalicelib.logs import logger
from chalicelib.providers.base import (
    CONFIGURATION,
    FAILURE,
    REFUSED,
    REFUSED_HERE,
    THROTTLED,
    AnswerClass,
    HttpProviderAdapter,
    OutgoingSms,
    ProviderEntry,
    Verdict,
    accepted,
    failed,
    stored_text,
)
from chalicelib.providers.deadline import Answer

# errors[0].code -> (class, what it means). Titles: https://developers.telnyx.com/development/api-fundamentals/
# api-errors (10xxx, 20xxx) and https://developers.telnyx.com/docs/messaging/messages/error-codes (40xxx);
# one page per code at https://developers.telnyx.com/api/errors/<code>. Codes not listed fall back on the HTTP
# status (see classify).
ERROR_CODES: dict[str, tuple[AnswerClass, str]] = {
    # About the message or the recipient itself: no provider would send it.
    "40300": (REFUSED, "blocked due to STOP message: the recipient opted out of this sender"),
    "40310": (REFUSED, "invalid 'to' address"),
    "10002": (REFUSED, "invalid phone number"),
    "10016": (REFUSED, "phone number must be in +E.164 format"),
    "40001": (REFUSED, "not routable: a landline or non-routable number"),
    "40012": (REFUSED, "invalid destination number"),
    "40301": (REFUSED, "unsupported message type for the 'to' address"),
    "40319": (REFUSED, "incompatible message type for the 'to' address"),
    "40302": (REFUSED, "message too large"),
    "40316": (REFUSED, "no content provided for message"),
    "40322": (REFUSED, "blocked due to content"),
    "10004": (REFUSED, "missing required parameter ('to' or 'text'; a missing 'from' is a configuration problem)"),
    # This account's set-up will not send it to this destination; another provider may.
    "40309": (REFUSED_HERE, "invalid destination region: not among the messaging profile's whitelisted destinations"),
    "40010": (REFUSED_HERE, "unregistered 10DLC message: this sender has no registered campaign for US traffic"),
    "40329": (REFUSED_HERE, "toll-free number not yet verified"),
    # Too fast: another provider at once.
    "10011": (THROTTLED, "too many requests"),
    "40318": (THROTTLED, "message queue full"),
    "40011": (THROTTLED, "too many requests upstream (carrier throughput)"),
    # The provider is set up wrong: every message would get the same answer.
    "10009": (CONFIGURATION, "authentication failed: check the api_key"),
    "10010": (CONFIGURATION, "authorization failed: this api_key may not send messages"),
    "20002": (CONFIGURATION, "API key revoked"),
    "10005": (CONFIGURATION, "resource not found: check the base_url"),
    "10006": (CONFIGURATION, "invalid ID: check the messaging_profile_id"),
    "40305": (CONFIGURATION, "invalid 'from' address: not a number, short code or sender ID of this account's profile"),
    "40306": (CONFIGURATION, "alphanumeric sender not configured on the messaging profile"),
    "40100": (CONFIGURATION, "the 'from' number is not messaging-enabled"),
    "40311": (CONFIGURATION, "invalid messaging profile secret"),
    "40312": (CONFIGURATION, "messaging profile is disabled"),
    "40313": (CONFIGURATION, "missing messaging profile secret"),
    "40314": (CONFIGURATION, "messaging disabled on the account"),
    "40315": (CONFIGURATION, "unhealthy 'from' address (low deliverability, high spam)"),
    "40321": (CONFIGURATION, "no usable numbers on the messaging profile"),
    "20012": (CONFIGURATION, "account inactive"),
    "20013": (CONFIGURATION, "account blocked"),
    "20100": (CONFIGURATION, "insufficient funds"),
    # Telnyx's side: try again, elsewhere.
    "10007": (FAILURE, "unexpected error"),
    "10008": (FAILURE, "request timeout"),
    "40320": (FAILURE, "temporarily unusable 'from' address (purchase pending)"),
}
# A just-sent message's to[].status; a send whose recipient reached one of them is accepted.
ACCEPTED_STATUSES = frozenset({"queued", "sending", "sent", "delivered"})
# Fields of the answer's data kept in the attempt record (never text, from or the numbers).
KEPT_FIELDS = ("id", "record_type", "type", "direction", "messaging_profile_id", "parts", "encoding", "cost",
               "received_at", "valid_until", "tcr_campaign_id")
KEPT_TO_FIELDS = ("status", "carrier", "line_type")
KEPT_ERROR_FIELDS = ("code", "title", "detail", "source")


def json_of(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser recurses
        return None


def kept_errors(errors: Any) -> list[dict[str, Any]]:
    if not isinstance(errors, list):
        return []
    return [{key: error[key] for key in KEPT_ERROR_FIELDS if key in error} for error in errors
            if isinstance(error, dict)]


def code_of(errors: list[dict[str, Any]]) -> str | None:
    """The first error's code, as text (Telnyx writes it as a string; a number is read too)."""
    code = errors[0].get("code") if errors else None
    if isinstance(code, bool) or not isinstance(code, str | int):
        return None
    return str(code).strip() or None


# Parameters whose absence or refusal is the entry's doing, not the message's (errors[].source.pointer).
SENDER_POINTERS = frozenset({"/from", "/messaging_profile_id"})


def _pointer_of(errors: list[dict[str, Any]]) -> str | None:
    source = errors[0].get("source") if errors else None
    pointer = source.get("pointer") if isinstance(source, dict) else None
    return pointer if isinstance(pointer, str) else None


def _verdict_for_code(status_code: int, code: str, data: dict[str, Any], pointer: str | None = None) -> Verdict | None:
    known = ERROR_CODES.get(code)
    if known is None:
        return None
    answer_class, meaning = known
    if code == "10004" and pointer in SENDER_POINTERS:
        answer_class, meaning = CONFIGURATION, f"missing required parameter {pointer[1:]!r}: set 'from' or the profile"
    return Verdict.of(answer_class, status_code, f"telnyx {code}: {meaning}", data)


def recipient_of(data: dict[str, Any]) -> dict[str, Any]:
    to = data.get("to")
    first = to[0] if isinstance(to, list) and to else to
    return first if isinstance(first, dict) else {}


def classify(status_code: int, body: bytes) -> Verdict:
    parsed = json_of(body)
    if 200 <= status_code < 300:
        data = parsed.get("data") if isinstance(parsed, dict) else None
        if not isinstance(data, dict):
            return failed(status_code, f"malformed {status_code} answer: no data", stored_text(body))
        kept: dict[str, Any] = {key: data[key] for key in KEPT_FIELDS if key in data}
        recipient = recipient_of(data)
        kept["to"] = [{key: recipient[key] for key in KEPT_TO_FIELDS if key in recipient}]
        errors = kept_errors(data.get("errors"))
        if errors:
            kept["errors"] = errors
        message_id, status = data.get("id"), recipient.get("status", "queued")
        if not isinstance(message_id, str) or not message_id:
            return failed(status_code, f"malformed {status_code} answer: no id", kept)
        if status in ACCEPTED_STATUSES:
            return accepted(status_code, message_id, kept)
        code = code_of(errors)
        verdict = _verdict_for_code(status_code, code, kept) if code else None
        return verdict or failed(status_code, f"telnyx message {status}" + (f" ({code})" if code else ""), kept)
    errors = kept_errors(parsed.get("errors")) if isinstance(parsed, dict) else []
    kept = {"errors": errors} if errors else stored_text(body)
    code = code_of(errors)
    verdict = _verdict_for_code(status_code, code, kept, _pointer_of(errors)) if code else None
    if verdict is not None:
        return verdict
    label = f"telnyx {code}" if code else f"telnyx HTTP {status_code}"
    if status_code == 429:
        return Verdict.of(THROTTLED, status_code, f"{label}: too many requests", kept)
    if status_code in (401, 403, 404):
        return Verdict.of(CONFIGURATION, status_code, f"{label}: api_key, messaging profile or base_url refused", kept)
    if 400 <= status_code < 500:
        # Not in the table: nothing says it is about the message, and a refusal would fail the request for good.
        # A provider failure is retried elsewhere; the log asks for the code to be classified.
        logger.error("unclassified provider answer, read as a provider failure", extra={
            "kind": "telnyx", "status_code": status_code, "code": code})
        return failed(status_code, f"{label}: unclassified 4xx (provider failure)", kept)
    return failed(status_code, f"{label}: provider error", kept)


# The account's Ed25519 public key, as Mission Control shows it: base64 of its 32 bytes.
PUBLIC_KEY_BYTES = 32


def base64_bytes(text: str, size: int) -> bytes | None:
    """The ``size`` bytes base64 ``text`` holds, or None (not base64, another length, not ASCII)."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None


def public_key_of(text: str) -> Ed25519PublicKey | None:
    """The Ed25519 public key in ``text`` (base64 of its 32 raw bytes, as Mission Control shows it), or None."""
    raw = base64_bytes(text, PUBLIC_KEY_BYTES)
    if raw is None:
        return None
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class TelnyxConfig(ProviderEntry):
    # public_key is not a secret, but may be kept with the api_key: read (and never shown) like one.
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("api_key", "public_key")
    ENDPOINT_FIELD: ClassVar[str] = "base_url"

    kind: Literal["telnyx"]
    api_key: str | None = Field(default=None, repr=False, min_length=1)
    # An E.164 number, a short code or an alphanumeric sender ID (this one needs the profile).
    from_: str | None = Field(default=None, alias="from", pattern=r"^(\+[1-9]\d{1,14}|\d{3,8}|[A-Za-z0-9 ]{1,11})$")
    messaging_profile_id: str | None = Field(default=None, pattern=UUID)
    # The account's Ed25519 public key (base64 of its 32 bytes): checks the signed receipts.
    public_key: str | None = Field(default=None, repr=False, min_length=1)
    # The gateway's public /webhooks/<name> URL: sent as each message's webhook_url with ?ref=<request id> (so a
    # receipt names its request). Without it, Telnyx posts to the messaging profile's webhook URL, if any.
    webhook_url: str | None = Field(default=None, pattern=r"^https?://[^?#]+$", max_length=1900)
    webhook_failover_url: str | None = Field(default=None, pattern=r"^https?://", max_length=2000)
    base_url: str = Field(default="https://api.telnyx.com", pattern=r"^https?://[^/]+$")

    @model_validator(mode="after")
    def _a_sender(self) -> TelnyxConfig:
        if self.from_ is None and self.messaging_profile_id is None:
            raise ValueError("give 'from', 'messaging_profile_id' or both")
        return self

    @field_validator("public_key")
    @classmethod
    def _an_ed25519_key(cls, value: str | None) -> str | None:
        if value is not None and public_key_of(value) is None:
            raise ValueError("not an Ed25519 public key: base64 of 32 bytes, as Mission Control shows it")
        return value

    @property
    def configured_sender(self) -> str | None:
        return self.from_  # None with a profile alone: Telnyx picks from its number pool

    def missing_secrets(self, available: frozenset[str]) -> list[str]:
        return [] if "api_key" in available else ["api_key"]


class TelnyxProvider(HttpProviderAdapter):
    kind = "telnyx"
    _config: TelnyxConfig

    def build_request(self, sms: OutgoingSms, credentials: dict[str, str]) -> httpx.Request:
        config = self._config
        payload: dict[str, Any] = {"to": sms.phone, "text": sms.text}
        if sms.sender or config.from_:  # the client's sender wins; with a profile it must be one of its senders
            payload["from"] = sms.sender or config.from_
        if config.messaging_profile_id:
            payload["messaging_profile_id"] = config.messaging_profile_id
        if config.webhook_url:
            payload["webhook_url"] = f"{config.webhook_url}?ref={sms.request_id}"
        if config.webhook_failover_url:
            payload["webhook_failover_url"] = config.webhook_failover_url
        payload["type"] = "SMS"
        return self._http.build_request("POST", f"{config.base_url}/v2/messages", json=payload, headers={
            "Accept": "application/json", "Authorization": f"Bearer {credentials['api_key']}"})

    def classify(self, answer: Answer) -> Verdict:
        return classify(answer.status_code, answer.body)
