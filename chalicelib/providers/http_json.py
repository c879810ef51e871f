"""``http-json``: the gateway's own provider contract, for in-house providers (docs/providers.md#http-json).

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
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

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

REFUSAL_CODES = frozenset({400, 422})
CONFIGURATION_CODES = frozenset({401, 403, 404})


class HttpJsonConfig(ProviderEntry):
    # webhook_secret: the key its delivery receipts are signed with (chalicelib/receipts/http_json.py).
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
