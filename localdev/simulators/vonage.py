"""The simulator's ``vonage`` wire: the Vonage SMS API, as its API specification documents it.

    POST /sms/json  (form: api_key, api_secret | timestamp + sig, from, to, text, type, client-ref, ...)
    HTTP 200 always: {"message-count": "n", "messages": [{"status": "0", "message-id", ...} per part]}
    a refusal: {"message-count": "1", "messages": [{"status": "<code>", "error-text": "..."}]}
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from chalicelib.segments import count_segments
from chalicelib.vendors.vonage.adapter import signature
from localdev.simulators import ErrorAnswer, Inbound, Reply, SimRequest, WireFormat, form_fields, made_up_secret

NUMBER = re.compile(r"^[1-9]\d{6,14}$")  # E.164 digits, no "+"
SECRET_PARAMS = frozenset({"api_secret", "sig"})


class VonageWire(WireFormat):
    kind = "vonage"
    CREDENTIAL_FIELDS = ("api_key", "api_secret", "signature_secret", "signature_method")
    ERRORS = {
        "1": ErrorAnswer(200, "throttled", "Throughput Rate Exceeded - please wait [ 1000 ] and retry"),
        "2": ErrorAnswer(200, "refused", "Missing Parameters"),
        "3": ErrorAnswer(200, "refused", "Invalid Parameters"),
        "4": ErrorAnswer(200, "unauthorized", "Bad Credentials"),
        "5": ErrorAnswer(200, "failure", "Internal Error"),
        "6": ErrorAnswer(200, "refused", "Invalid Message"),
        "7": ErrorAnswer(200, "refused", "Number Barred"),
        "8": ErrorAnswer(200, "configuration", "Partner Account Barred"),
        "9": ErrorAnswer(200, "configuration", "Partner Quota Violation"),
        "10": ErrorAnswer(200, "throttled", "Too Many Existing Binds"),
        "11": ErrorAnswer(200, "configuration", "Account Not Enabled For HTTP"),
        "12": ErrorAnswer(200, "refused", "Message Too Long"),
        "14": ErrorAnswer(200, "configuration", "Invalid Signature"),
        "15": ErrorAnswer(200, "refused_here", "Invalid Sender Address"),
        "22": ErrorAnswer(200, "configuration", "Invalid Network Code"),
        "23": ErrorAnswer(200, "configuration", "Invalid Callback Url"),
        "29": ErrorAnswer(200, "refused_here", "Non-Whitelisted Destination"),
        "32": ErrorAnswer(200, "configuration", "Signature And API Secret Disallowed"),
        "33": ErrorAnswer(200, "refused", "Number De-activated"),
    }
    MODE_CODES = {"reject": ("6",), "unauthorized": ("4",), "throttle": ("1",), "fail": ("5",), "flaky": ("5",)}
    RATE_LIMIT_CODE = "1"
    ANSWERS_PER_PART = True

    def is_send(self, request: SimRequest) -> bool:
        return request.method == "POST" and request.path == "/sms/json"

    def read(self, request: SimRequest, credentials: Mapping[str, str], api_key: str | None) -> Inbound:
        params = form_fields(request)
        auth, auth_code = _check_auth(params, request.headers.get("authorization"), credentials)
        if auth_code is not None:
            return Inbound(auth=auth, auth_code=auth_code)
        to, text, sender = params.get("to"), params.get("text"), params.get("from")
        if not to or not text or not sender:
            return Inbound(auth=auth, problem=self.answer("2"))
        if not NUMBER.match(to):
            return Inbound(auth=auth, problem=self.answer("3"))
        segments = count_segments(text)
        fields = {key: value for key, value in params.items() if key not in SECRET_PARAMS}
        # Sent as type=text, a text that needs UCS-2 reaches the handset with its non-GSM characters lost.
        fields["garbled"] = segments.encoding == "UCS-2" and params.get("type") != "unicode"
        message = {"to": to, "text": text, "reference": params.get("client-ref"), "fields": fields}
        return Inbound(auth=auth, message=message, parts=segments.segments)

    def accepted(self, inbound: Inbound, message_ids: list[str]) -> Reply:
        return Reply.json(200, {"message-count": str(len(message_ids)),
                                "messages": [self._part(inbound, message_id) for message_id in message_ids]})

    def partly_accepted(self, inbound: Inbound, message_ids: list[str], code: str) -> Reply:
        parts = [self._part(inbound, message_id) for message_id in message_ids]
        parts.append(self._error_part(code, inbound))
        return Reply.json(200, {"message-count": str(len(parts)), "messages": parts})

    def answer(self, code: str, inbound: Inbound | None = None, retry_after_s: int = 1) -> Reply:
        return Reply.json(200, {"message-count": "1", "messages": [self._error_part(code, inbound)]})

    def new_message_id(self, name: str) -> str:
        return secrets.token_hex(8).upper()

    def local_setup(self, base_url: str, env: Mapping[str, str]) -> tuple[dict, dict]:
        api_key, api_secret = secrets.token_hex(4), made_up_secret()
        entry = {"api_key": api_key, "from": "SMSGateway", "api_secret": api_secret, "base_url": base_url}
        return {"credentials": {"api_key": api_key, "api_secret": api_secret}}, entry

    def _part(self, inbound: Inbound, message_id: str) -> dict:
        part = {"to": inbound.message["to"], "message-id": message_id, "status": "0",
                "remaining-balance": "15.53590000", "message-price": "0.03330000", "network": "23410"}
        if inbound.message["reference"]:
            part["client-ref"] = inbound.message["reference"]
        return part

    def _error_part(self, code: str, inbound: Inbound | None) -> dict:
        part = {"status": code, "error-text": self.ERRORS[code].message}
        if inbound is not None and inbound.message is not None:
            part["to"] = inbound.message["to"]
        return part


    def receipt(self, *, message: dict[str, Any], message_id: str, delivered: bool, url: str,
                credentials: Mapping[str, str], secret: str | None, now: float, interim: bool = False):
        from localdev.simulators.receipts import ReceiptCall

        # A DLR as Vonage sends it by GET, signed with the account's signature secret and method.
        moment = datetime.fromtimestamp(now, UTC)
        status = "accepted" if interim else "delivered" if delivered else "failed"
        params = {"msisdn": message["to"], "to": message["fields"].get("from", ""), "network-code": "23410",
                  "messageId": message_id, "price": "0.03330000", "status": status,
                  "scts": moment.strftime("%y%m%d%H%M"), "err-code": "0" if delivered or interim else "2",
                  "api-key": message["fields"].get("api_key", ""), "message-timestamp": moment.strftime(
                      "%Y-%m-%d %H:%M:%S"), "timestamp": str(int(now)), "nonce": secrets.token_hex(8)}
        if message.get("reference"):
            params["client-ref"] = message["reference"]
        params["sig"] = signature(params, credentials.get("signature_secret", ""),
                                  credentials.get("signature_method", "md5hash"))
        return ReceiptCall("GET", f"{url}?{urlencode(params)}")

    def local_receipts(self, receipt_url: str, simulator_auth: dict, entry: dict) -> tuple[dict, dict]:
        # Signed DLRs need the account's signature secret: the gateway then signs its sends with it too.
        secret = made_up_secret()
        credentials = {**simulator_auth.get("credentials", {}), "signature_secret": secret}
        return {"receipt_url": receipt_url, "credentials": credentials}, {"signature_secret": secret}


def _check_auth(params: dict[str, str], header: str | None, credentials: Mapping[str, str]) -> tuple[str, str | None]:
    """(auth verdict, status code to answer or None): api_secret in the body, Basic, or a signature."""
    key = params.get("api_key")
    basic = _basic(header)
    if basic is not None:
        key = key or basic[0]
    if not key:
        return "missing", "2"
    if "sig" in params and "api_secret" in params:
        return "wrong", "32"
    if credentials.get("api_key") and key != credentials["api_key"]:
        return "wrong", "4"
    if "sig" in params:
        if not credentials.get("signature_secret"):
            return ("unchecked", None) if not credentials else ("wrong", "14")
        signed = {name: value for name, value in params.items() if name != "sig"}
        expected = signature(signed, credentials["signature_secret"], credentials.get("signature_method", "md5hash"))
        return ("ok", None) if hmac.compare_digest(expected, params["sig"].lower()) else ("wrong", "14")
    secret = params.get("api_secret") or (basic[1] if basic else None)
    if not secret:
        return "missing", "2"
    if not credentials.get("api_secret"):
        return ("unchecked", None) if not credentials else ("wrong", "4")
    return ("ok", None) if hmac.compare_digest(secret, credentials["api_secret"]) else ("wrong", "4")


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        username, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return username, password
