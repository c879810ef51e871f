"""``twilio``: Programmable Messaging, ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``.

The request is form-encoded (``To``, ``From`` or ``MessagingServiceSid``, ``Body``, optional
``StatusCallback`` and ``ValidityPeriod``), authenticated with HTTP Basic: the account SID and its auth
token, or an API key SID (``SK…``) and its secret with the account SID still in the path. A created message
answers ``201`` with the Message resource (``sid``, ``status``, ``error_code``); an error answers its HTTP
status with ``{"code", "message", "more_info", "status"}``. The classification below is the table of
docs/providers.md#twilio, from Twilio's error dictionary (https://www.twilio.com/docs/api/errors/<code>).
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, model_validator

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
    misconfigured,
    stored_text,
)
from chalicelib.providers.deadline import Answer

API_VERSION = "2010-04-01"
MAX_VALIDITY_PERIOD_S = 36_000  # Twilio's ValidityPeriod: 1 to 36000 s (10 h); a longer validity is cut to it
# The statuses a just-created message can have (queued without a Messaging Service, accepted or scheduled
# with one); a send that reached one of them is accepted.
ACCEPTED_STATUSES = frozenset({"queued", "accepted", "scheduled", "sending", "sent"})
# Fields of the Message resource kept in the attempt record (never Body, To or From).
KEPT_FIELDS = ("sid", "status", "error_code", "error_message", "num_segments", "messaging_service_sid",
               "price", "price_unit", "date_created", "api_version")

# Twilio error code -> (class, what it means). Codes not listed fall back on the HTTP status (see classify).
ERROR_CODES: dict[int, tuple[AnswerClass, str]] = {
    21211: (REFUSED, "invalid 'To' phone number"),
    21266: (REFUSED, "'To' and 'From' are the same number"),
    21268: (REFUSED, "premium-rate or information-service number"),
    21602: (REFUSED, "message body required"),
    21604: (REFUSED, "'To' phone number required"),
    21610: (REFUSED, "recipient unsubscribed (replied STOP)"),
    21614: (REFUSED, "'To' is not a mobile number"),
    21635: (REFUSED, "'To' is a landline"),
    # This account's set-up will not send it; another provider may (the request goes on at once).
    21408: (REFUSED_HERE, "destination region not enabled for this account (Messaging Geo Permissions)"),
    21608: (REFUSED_HERE, "trial account: 'To' is not a verified number of this account"),
    21612: (REFUSED_HERE, "this 'To' cannot be reached from this 'From' (sender or network restriction)"),
    20003: (CONFIGURATION, "authentication failed: account SID, auth token or API key"),
    20404: (CONFIGURATION, "not found: account SID or base_url"),
    21601: (CONFIGURATION, "'From' is not a number of this account"),
    21606: (CONFIGURATION, "'From' is not an SMS-capable number of this account"),
    21659: (CONFIGURATION, "'From' is not a Twilio number, or a short code of another country"),
    21661: (CONFIGURATION, "'From' is not SMS-capable"),
    21609: (CONFIGURATION, "invalid StatusCallback URL (the provider's webhook_url or status_callback)"),
    21705: (CONFIGURATION, "invalid Messaging Service SID"),
    20429: (THROTTLED, "too many concurrent requests"),
    21611: (THROTTLED, "this 'From' has exceeded its queue of messages (more than 10 h of sending queued)"),
    21730: (FAILURE, "Twilio is under maintenance: try again later"),
    20500: (FAILURE, "internal server error (the message may have been created)"),
    20503: (FAILURE, "service unavailable"),
}


class TwilioConfig(ProviderEntry):
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("auth_token", "api_key_secret")
    ENDPOINT_FIELD: ClassVar[str] = "base_url"

    kind: Literal["twilio"]
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    from_: str | None = Field(default=None, alias="from", pattern=r"^(\+[1-9]\d{1,14}|[A-Za-z0-9 ]{1,11})$")
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    api_key_sid: str | None = Field(default=None, pattern=r"^SK[0-9a-fA-F]{32}$")
    auth_token: str | None = Field(default=None, repr=False, min_length=1)
    api_key_secret: str | None = Field(default=None, repr=False, min_length=1)
    status_callback: str | None = Field(default=None, pattern=r"^https?://[^_]+$", max_length=1024)
    validity_period_s: int | None = Field(default=None, ge=1, le=MAX_VALIDITY_PERIOD_S)
    # The gateway's public /webhooks/<name> URL: sent as each message's StatusCallback with ?ref=<request id>
    # (so a receipt names its request), and the URL Twilio's signature is checked against (behind API Gateway
    # the Lambda sees another host and path). Replaces status_callback.
    webhook_url: str | None = Field(default=None, pattern=r"^https?://[^_?#]+$", max_length=900)
    base_url: str = Field(default="https://api.twilio.com", pattern=r"^https?://[^/]+$")

    @model_validator(mode="after")
    def _one_sender(self) -> TwilioConfig:
        if (self.from_ is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of 'from' and 'messaging_service_sid'")
        if self.webhook_url and self.status_callback:
            raise ValueError("give at most one of 'webhook_url' (the gateway's receipts) and 'status_callback'")
        return self

    @property
    def configured_sender(self) -> str | None:
        return self.from_  # None with a Messaging Service: Twilio picks from its pool

    def missing_secrets(self, available: frozenset[str]) -> list[str]:
        needed = "api_key_secret" if self.api_key_sid else "auth_token"
        return [] if needed in available else [needed]


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _code_of(data: dict[str, Any]) -> int | None:
    code = data.get("code", data.get("error_code"))
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def _verdict_for_code(status_code: int, code: int, data: dict[str, Any]) -> Verdict | None:
    known = ERROR_CODES.get(code)
    if known is None:
        return None
    answer_class, meaning = known
    return Verdict.of(answer_class, status_code, f"twilio {code}: {meaning}", data)


def classify(status_code: int, body: bytes) -> Verdict:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return failed(status_code, f"malformed {status_code} answer: not a JSON object", stored_text(body))
    if 200 <= status_code < 300:
        kept = {key: data[key] for key in KEPT_FIELDS if key in data}
        sid, status = data.get("sid"), data.get("status")
        if not isinstance(sid, str) or not sid:
            return failed(status_code, f"malformed {status_code} answer: no sid", kept)
        if status in ACCEPTED_STATUSES:
            return accepted(status_code, sid, kept)
        code = _code_of(data)
        verdict = _verdict_for_code(status_code, code, kept) if code is not None else None
        return verdict or failed(status_code, f"twilio message {status}" + (f" ({code})" if code else ""), kept)
    kept = {key: data[key] for key in ("code", "message", "more_info", "status") if key in data}
    code = _code_of(data)
    verdict = _verdict_for_code(status_code, code, kept) if code is not None else None
    if verdict is not None:
        return verdict
    label = f"twilio {code}" if code is not None else f"twilio HTTP {status_code}"
    if status_code == 429:
        return Verdict(THROTTLED, status_code, None, f"{label}: too many requests", kept)
    if status_code in (401, 403, 404):
        return misconfigured(status_code, f"{label}: credentials, account SID or base_url refused", kept)
    if 400 <= status_code < 500:
        # Not in the table: nothing says it is about the message, and a refusal would fail the request for good.
        # A provider failure is retried elsewhere; the log asks for the code to be classified.
        logger.error("unclassified provider answer, read as a provider failure", extra={
            "kind": "twilio", "status_code": status_code, "code": code})
        return failed(status_code, f"{label}: unclassified 4xx (provider failure)", kept)
    return failed(status_code, f"{label}: provider error", kept)


class TwilioProvider(HttpProviderAdapter):
    kind = "twilio"
    _config: TwilioConfig

    def build_request(self, sms: OutgoingSms, credentials: dict[str, str]) -> httpx.Request:
        config = self._config
        sender = sms.sender
        form = {"To": sms.phone}
        # The client's sender wins; with a Messaging Service it must be a sender of the service's pool.
        if sender or config.from_:
            form["From"] = sender or config.from_
        if config.messaging_service_sid:
            form["MessagingServiceSid"] = config.messaging_service_sid
        form["Body"] = sms.text
        if config.webhook_url:
            form["StatusCallback"] = f"{config.webhook_url}?ref={sms.request_id}"
        elif config.status_callback:
            form["StatusCallback"] = config.status_callback
        validity = sms.validity_s or config.validity_period_s
        if validity:
            form["ValidityPeriod"] = str(min(MAX_VALIDITY_PERIOD_S, validity))
        if config.api_key_sid:
            authorization = _basic(config.api_key_sid, credentials["api_key_secret"])
        else:
            authorization = _basic(config.account_sid, credentials["auth_token"])
        url = f"{config.base_url}/{API_VERSION}/Accounts/{config.account_sid}/Messages.json"
        return self._http.build_request("POST", url, data=form, headers={
            "Accept": "application/json", "Authorization": authorization})

    def classify(self, answer: Answer) -> Verdict:
        return classify(answer.status_code, answer.body)
