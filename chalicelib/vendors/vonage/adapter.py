"""``vonage``: the Vonage (Nexmo) SMS API, ``POST {base_url}/sms/json``, form-encoded.

Parameters: ``api_key``, then ``api_secret`` or a signature (``timestamp`` + ``sig``), ``from``, ``to`` (E.164
without the ``+``), ``text``, ``type=unicode`` when the text needs UCS-2, ``client-ref`` (the gateway's request
id, echoed in delivery receipts), optional ``callback`` and ``ttl``. Vonage answers HTTP 200 even when it
refuses: the verdict is in ``messages[].status``, one entry per SMS part, and a multi-part message is accepted
only if every part is ("0"). The status table is docs/providers.md#vonage, from
https://developer.vonage.com/api-errors/sms.

Signing (https://developer.nexmo.com/concepts/guides/signing-messages): every parameter but
``sig``, sorted by name, as ``&name=value`` with ``&`` and ``=`` in values replaced by ``_``; then
``md5hash``: hex(md5(string + secret)), or ``md5``/``sha1``/``sha256``/``sha512``: hex(HMAC(secret, string)).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

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
    misconfigured,
    stored_text,
)
from chalicelib.providers.deadline import Answer
from chalicelib.segments import count_segments

# messages[].status -> (class, what it means). Any other non-zero status is a provider failure.
STATUSES: dict[str, tuple[AnswerClass, str]] = {
    "1": (THROTTLED, "throttled: sending faster than the account's limit"),
    "2": (REFUSED, "missing parameters"),
    "3": (REFUSED, "invalid parameters"),
    "4": (CONFIGURATION, "invalid credentials"),
    "5": (FAILURE, "internal error"),
    "6": (REFUSED, "invalid message (e.g. unrecognised number prefix)"),
    "7": (REFUSED, "number barred"),
    "8": (CONFIGURATION, "partner account barred (suspended)"),
    "9": (CONFIGURATION, "partner quota violation: not enough credit"),
    "10": (THROTTLED, "too many existing binds"),
    "11": (CONFIGURATION, "account not enabled for HTTP"),
    "12": (REFUSED, "message too long"),
    "14": (CONFIGURATION, "invalid signature"),
    "15": (REFUSED_HERE, "invalid sender address: this account's sender is not allowed for this destination"),
    "22": (CONFIGURATION, "invalid network code"),
    "23": (CONFIGURATION, "invalid callback URL"),
    "29": (REFUSED_HERE, "non-whitelisted destination (this account is in demo mode)"),
    "32": (CONFIGURATION, "signature and API secret both sent"),
    "33": (REFUSED, "number de-activated"),
}
# Fields of each part kept in the attempt record (never "to").
KEPT_PART_FIELDS = ("message-id", "status", "error-text", "message-price", "remaining-balance", "network",
                    "client-ref")

# Vonage's ttl: 20 s to 7 days, in milliseconds; a client's validity outside it is moved to its edge.
MIN_TTL_MS = 20_000
MAX_TTL_MS = 604_800_000

SignatureMethod = Literal["md5hash", "md5", "sha1", "sha256", "sha512"]


class VonageConfig(ProviderEntry):
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("api_secret", "signature_secret")
    ENDPOINT_FIELD: ClassVar[str] = "base_url"

    kind: Literal["vonage"]
    api_key: str = Field(pattern=r"^[A-Za-z0-9]{1,32}$")  # the account's public key, not a secret
    from_: str = Field(alias="from", pattern=r"^(\+?\d{5,15}|[A-Za-z0-9][A-Za-z0-9 ]{0,10})$")
    api_secret: str | None = Field(default=None, repr=False, min_length=1)
    signature_secret: str | None = Field(default=None, repr=False, min_length=1)
    signature_method: SignatureMethod = "md5hash"
    callback: str | None = Field(default=None, pattern=r"^https?://", max_length=100)
    ttl_ms: int | None = Field(default=None, ge=MIN_TTL_MS, le=MAX_TTL_MS)
    base_url: str = Field(default="https://rest.nexmo.com", pattern=r"^https?://[^/]+$")

    @property
    def configured_sender(self) -> str | None:
        # Vonage takes a number without its "+" (and the adapter removes it); a request's from is E.164.
        return f"+{self.from_}" if self.from_.isdigit() else self.from_

    def missing_secrets(self, available: frozenset[str]) -> list[str]:
        return [] if available & {"api_secret", "signature_secret"} else ["api_secret or signature_secret"]


def signature(params: Mapping[str, str], secret: str, method: SignatureMethod) -> str:
    """Vonage's request signature of ``params`` (every parameter sent, ``sig`` excluded)."""
    signed = "".join(f"&{name}={str(params[name]).replace('&', '_').replace('=', '_')}" for name in sorted(params))
    if method == "md5hash":
        return hashlib.md5((signed + secret).encode(), usedforsecurity=False).hexdigest()
    return hmac.new(secret.encode(), signed.encode(), getattr(hashlib, method)).hexdigest()


def _part_verdict(status: str) -> tuple[AnswerClass, str]:
    return STATUSES.get(status, (FAILURE, "unknown status"))


def classify(status_code: int, body: bytes) -> Verdict:
    if status_code != 200:
        if status_code == 429:
            return Verdict(THROTTLED, status_code, None, "vonage HTTP 429: too many requests", stored_text(body))
        if status_code in (401, 403, 404):
            return misconfigured(status_code, f"vonage HTTP {status_code}: credentials or base_url refused",
                                 stored_text(body))
        return failed(status_code, f"vonage HTTP {status_code}: provider error", stored_text(body))
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    parts = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(parts, list) or not parts or not all(isinstance(part, dict) for part in parts):
        return failed(status_code, "malformed answer: no messages", stored_text(body))
    kept: dict[str, Any] = {
        "message-count": data.get("message-count"),
        "messages": [{key: part[key] for key in KEPT_PART_FIELDS if key in part} for part in parts],
    }
    statuses = [str(part.get("status")) for part in parts]
    if all(status == "0" for status in statuses):
        ids = [part.get("message-id") for part in parts]
        if not all(isinstance(message_id, str) and message_id for message_id in ids):
            return failed(status_code, "malformed answer: a part without message-id", kept)
        # Delivery receipts come per part: every part's id is kept; the first one names the message.
        kept["message_ids"] = ids
        return accepted(status_code, ids[0], kept)
    status = next(status for status in statuses if status != "0")
    outcome, meaning = _part_verdict(status)
    sent_parts = statuses.count("0")
    partly = f" ({sent_parts} of {len(parts)} parts accepted)" if sent_parts else ""
    return Verdict.of(outcome, status_code, f"vonage status {status}: {meaning}{partly}", kept)


class VonageProvider(HttpProviderAdapter):
    kind = "vonage"
    _config: VonageConfig

    def __init__(self, *args, clock: Callable[[], float] = time.time, **kwargs):
        super().__init__(*args, **kwargs)
        self._clock = clock

    def build_request(self, sms: OutgoingSms, credentials: dict[str, str]) -> httpx.Request:
        config = self._config
        params = {"api_key": config.api_key, "from": (sms.sender or config.from_).removeprefix("+"),
                  "to": sms.phone.removeprefix("+"), "text": sms.text, "client-ref": sms.request_id}
        if count_segments(sms.text).encoding == "UCS-2":
            params["type"] = "unicode"  # else Vonage sends GSM-7 and every other character is lost
        if config.callback:
            params["callback"] = config.callback
        ttl_ms = sms.validity_s * 1000 if sms.validity_s else config.ttl_ms
        if ttl_ms:
            params["ttl"] = str(min(MAX_TTL_MS, max(MIN_TTL_MS, ttl_ms)))
        if credentials.get("signature_secret"):
            params["timestamp"] = str(int(self._clock()))
            params["sig"] = signature(params, credentials["signature_secret"], config.signature_method)
        else:
            params["api_secret"] = credentials["api_secret"]
        return self._http.build_request("POST", f"{config.base_url}/sms/json", data=params,
                                        headers={"Accept": "application/json"})

    def classify(self, answer: Answer) -> Verdict:
        return classify(answer.status_code, answer.body)
