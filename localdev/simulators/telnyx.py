"""The simulator's ``telnyx`` wire: the Telnyx Messaging API v2, as Telnyx documents it (docs/providers.md#telnyx).

    POST /v2/messages   Authorization: Bearer <api_key>   Content-Type: application/json
    {"to", "text", "from" | "messaging_profile_id", "webhook_url", "webhook_failover_url", "type", ...}
    200 {"data": {"record_type": "message", "id", "to": [{"phone_number", "status": "queued", ...}], ...}}
    4xx/5xx {"errors": [{"code": "<code>", "title", "detail", "source": {"pointer"}}]}

Its delivery receipts are ``message.finalized`` events (``message.sent`` for an interim one), POSTed as JSON to
the message's ``webhook_url`` (else the simulator's ``receipt_url``) and signed as Telnyx signs them: Ed25519 over
"<telnyx-timestamp>|<raw body>", base64 in ``telnyx-signature-ed25519``. The signing key is made per run
(``local_receipts``): the simulator keeps the private key (``receipt_secret``, base64 of its 32 raw bytes) and
the gateway's entry gets the public one (``public_key``), as Mission Control shows an account's.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chalicelib.segments import count_segments
from localdev.simulators import ErrorAnswer, Inbound, Reply, SimRequest, WireFormat, made_up_secret

PATH = "/v2/messages"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SHORT_CODE = re.compile(r"^\d{3,8}$")
# A message.finalized's status and errors[] for an undelivered message: the carrier could not reach the handset.
UNDELIVERED_ERROR = {"code": "40006", "title": "Recipient server unavailable",
                     "detail": "The recipient server is unavailable or not responding."}


class TelnyxWire(WireFormat):
    kind = "telnyx"
    CREDENTIAL_FIELDS = ("api_key",)
    # Titles: https://developers.telnyx.com/development/api-fundamentals/api-errors (10xxx, 20xxx) and
    # https://developers.telnyx.com/docs/messaging/messages/error-codes (40xxx). HTTP statuses: the code's page
    # (https://developers.telnyx.com/api/errors/<code>) where it gives one (40300: 409, 40310: 400), else the
    # general one for its kind (401 authentication, 403 authorization, 404 not found, 422 validation, 429).
    ERRORS = {
        "40300": ErrorAnswer(409, "refused", "Blocked due to STOP message"),
        "40310": ErrorAnswer(400, "refused", "Invalid 'to' address"),
        "10002": ErrorAnswer(422, "refused", "Invalid phone number"),
        "10016": ErrorAnswer(422, "refused", "Phone number must be in +E.164 format"),
        "40001": ErrorAnswer(400, "refused", "Not routable"),
        "40302": ErrorAnswer(400, "refused", "Message too large"),
        "40322": ErrorAnswer(400, "refused", "Blocked due to content"),
        "40309": ErrorAnswer(400, "refused_here", "Invalid destination region"),
        "40010": ErrorAnswer(400, "refused_here", "Unregistered 10DLC message"),
        "40329": ErrorAnswer(400, "refused_here", "Toll-free number not verified"),
        "10004": ErrorAnswer(422, "refused", "Missing required parameter"),
        "10009": ErrorAnswer(401, "unauthorized", "Authentication failed"),
        "10010": ErrorAnswer(403, "configuration", "Authorization failed"),
        "10005": ErrorAnswer(404, "configuration", "Resource not found"),
        "40305": ErrorAnswer(400, "configuration", "Invalid 'from' address"),
        "40312": ErrorAnswer(400, "configuration", "Messaging profile is disabled"),
        "40321": ErrorAnswer(400, "configuration", "No usable numbers on messaging profile"),
        "20100": ErrorAnswer(402, "configuration", "Insufficient funds"),
        "10011": ErrorAnswer(429, "throttled", "Too many requests"),
        "40318": ErrorAnswer(429, "throttled", "Message queue full"),
        "10007": ErrorAnswer(500, "failure", "Unexpected error"),
        "10008": ErrorAnswer(504, "failure", "Request timeout"),
        "40399": ErrorAnswer(400, "failure", "An error code the gateway has never seen (unclassified)"),
    }
    MODE_CODES = {"reject": ("40310",), "unauthorized": ("10009",), "throttle": ("10011",), "fail": ("10007",),
                  "flaky": ("10007", "10008")}
    RATE_LIMIT_CODE = "10011"

    def is_send(self, request: SimRequest) -> bool:
        return request.method == "POST" and request.path == PATH

    def read(self, request: SimRequest, credentials: Mapping[str, str], api_key: str | None) -> Inbound:
        auth = _check_bearer(request.headers.get("authorization"), credentials)
        if auth in ("missing", "wrong"):
            return Inbound(auth=auth, auth_code="10009")
        try:
            body = json.loads(request.body) if request.headers.get("content-type", "").startswith(
                "application/json") else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return Inbound(auth=auth, problem=self._error(400, "10015", "Bad Request", "The request failed "
                                                          "because it was not well-formed."))
        to, text, sender = body.get("to"), body.get("text"), body.get("from")
        if not to:
            return Inbound(auth=auth, problem=self.answer("10004", pointer="/to"))
        if not isinstance(text, str) or not text:
            return Inbound(auth=auth, problem=self.answer("10004", pointer="/text"))
        if not sender and not body.get("messaging_profile_id"):
            return Inbound(auth=auth, problem=self.answer("10004", pointer="/from"))
        if not isinstance(to, str) or not (E164.match(to) or SHORT_CODE.match(to)):
            return Inbound(auth=auth, problem=self.answer("40310", pointer="/to"))
        fields = {key: value for key, value in body.items() if key != "text"}
        message = {"to": to, "text": text, "reference": None, "fields": fields}
        return Inbound(auth=auth, message=message)

    def accepted(self, inbound: Inbound, message_ids: list[str]) -> Reply:
        return Reply.json(200, {"data": _message(inbound.message, message_ids[0], "queued", datetime.now(UTC))})

    def answer(self, code: str, inbound: Inbound | None = None, retry_after_s: int = 1, pointer: str | None = None
               ) -> Reply:
        error = self.ERRORS[code]
        return self._error(error.status, code, error.message, error.message, pointer)

    def new_message_id(self, name: str) -> str:
        return str(uuid.uuid4())

    def local_setup(self, base_url: str, env: Mapping[str, str]) -> tuple[dict, dict]:
        api_key = "KEY" + made_up_secret()
        # +1 312 555 0100: a fictional number (555-01xx), never a real sender.
        entry = {"api_key": api_key, "from": "+13125550100", "messaging_profile_id": str(uuid.uuid4()),
                 "base_url": base_url}
        return {"credentials": {"api_key": api_key}}, entry

    def receipt(self, *, message: dict[str, Any], message_id: str, delivered: bool, url: str,
                credentials: Mapping[str, str], secret: str | None, now: float, interim: bool = False):
        from localdev.simulators.receipts import ReceiptCall

        # To the message's webhook_url when it has one (Telnyx's order: the message's, then the profile's).
        url = message["fields"].get("webhook_url") or url
        moment = datetime.fromtimestamp(now, UTC)
        status = "sent" if interim else "delivered" if delivered else "delivery_failed"
        payload = _message(message, message_id, status, moment)
        payload["sent_at"] = _iso(moment)
        if not interim:
            payload["completed_at"] = _iso(moment)
            if not delivered:
                payload["errors"] = [UNDELIVERED_ERROR]
        event = {"data": {"event_type": "message.sent" if interim else "message.finalized", "id": str(uuid.uuid4()),
                          "occurred_at": _iso(moment), "payload": payload, "record_type": "event"},
                 "meta": {"attempt": 1, "delivered_to": url}}
        body = json.dumps(event).encode()
        timestamp = str(int(now))
        return ReceiptCall("POST", url, {"Content-Type": "application/json", "Telnyx-Timestamp": timestamp,
                                         "Telnyx-Signature-Ed25519": sign(body, timestamp, secret)}, body)

    def local_receipts(self, receipt_url: str, simulator_auth: dict, entry: dict) -> tuple[dict, dict]:
        private_key, public_key = key_pair()
        # Each message names the gateway's webhook (webhook_url), as the adapter sends it.
        return {"receipt_url": receipt_url, "receipt_secret": private_key}, {"public_key": public_key,
                                                                              "webhook_url": receipt_url}

    def _error(self, status: int, code: str, title: str, detail: str, pointer: str | None = None) -> Reply:
        error: dict[str, Any] = {"code": code, "title": title, "detail": detail,
                                 "meta": {"url": f"https://developers.telnyx.com/api/errors/{code}"}}
        if pointer:
            error["source"] = {"pointer": pointer}
        return Reply.json(status, {"errors": [error]})


def key_pair() -> tuple[str, str]:
    """(private key, public key) made for one run, each base64 of its 32 raw bytes."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode(), base64.b64encode(public).decode()


def sign(body: bytes, timestamp: str, private_key: str | None) -> str:
    """Telnyx's telnyx-signature-ed25519 of ``body`` at ``timestamp``. Without a key (receipts not set up), a key
    of the moment: the gateway refuses the receipt, as a wrong secret makes the other kinds' refused."""
    key = (Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key)) if private_key
           else Ed25519PrivateKey.generate())
    return base64.b64encode(key.sign(timestamp.encode() + b"|" + body)).decode()


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _message(message: dict[str, Any], message_id: str, status: str, moment: datetime) -> dict[str, Any]:
    """The Message resource as the send's answer and the webhooks' payload carry it."""
    fields, segments = message["fields"], count_segments(message["text"])
    return {
        "record_type": "message", "direction": "outbound", "id": message_id, "type": "SMS",
        "messaging_profile_id": fields.get("messaging_profile_id") or str(uuid.UUID(int=0)),
        "organization_id": "b448f9cc-a842-4784-98e9-03c1a5872950",
        "from": {"phone_number": fields.get("from"), "carrier": "Telnyx", "line_type": "Wireless"},
        "to": [{"phone_number": message["to"], "status": status, "carrier": "T-MOBILE USA, INC.",
                "line_type": "Wireless"}],
        "cc": [], "text": message["text"], "media": [], "subject": None, "tags": [],
        "encoding": "GSM-7" if segments.encoding == "GSM-7" else "UCS-2", "parts": segments.segments,
        "cost": None, "errors": [], "received_at": _iso(moment), "sent_at": None, "completed_at": None,
        "valid_until": _iso(moment + timedelta(hours=4)),
        "webhook_url": fields.get("webhook_url"), "webhook_failover_url": fields.get("webhook_failover_url"),
    }


def _check_bearer(header: str | None, credentials: Mapping[str, str]) -> str:
    if not header or not header.startswith("Bearer ") or not header[7:].strip():
        return "missing"
    if not credentials.get("api_key"):
        return "unchecked"
    return "ok" if header[7:] == credentials["api_key"] else "wrong"


WIRE = TelnyxWire()
