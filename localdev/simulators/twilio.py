"""The simulator's ``twilio`` wire: Programmable Messaging's Messages.json, as Twilio documents it.

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json   (form: To, From | MessagingServiceSid, Body, ...)
    Authorization: Basic base64(AccountSid:AuthToken) or base64(ApiKeySid:ApiKeySecret)
    201 {Message resource} | 4xx/5xx {"code", "message", "more_info", "status"}
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any
from urllib.parse import urlencode

from chalicelib.segments import count_segments
from chalicelib.vendors.twilio.receipts import signature as receipt_signature
from localdev.simulators import ErrorAnswer, Inbound, Reply, SimRequest, WireFormat, form_fields, made_up_secret

PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class TwilioWire(WireFormat):
    kind = "twilio"
    CREDENTIAL_FIELDS = ("account_sid", "auth_token", "api_key_sid", "api_key_secret")
    ERRORS = {
        "21211": ErrorAnswer(400, "refused", "The 'To' number is not a valid phone number."),
        "21408": ErrorAnswer(400, "refused_here", "Permission to send an SMS has not been enabled for the region "
                                             "indicated by the 'To' number."),
        "21602": ErrorAnswer(400, "refused", "Message body is required."),
        "21603": ErrorAnswer(400, "configuration", "A 'From' phone number is required."),
        "21604": ErrorAnswer(400, "refused", "A 'To' phone number is required."),
        "21606": ErrorAnswer(400, "configuration", "The 'From' phone number is not a valid, SMS-capable inbound "
                                                   "phone number or short code for your account."),
        "21608": ErrorAnswer(400, "refused_here", "The number is unverified. Trial accounts cannot send messages to "
                                             "unverified numbers."),
        "21610": ErrorAnswer(400, "refused", "Attempt to send to unsubscribed recipient"),
        "21612": ErrorAnswer(400, "refused_here", "The 'To' phone number is not currently reachable using the 'From' "
                                             "phone number via SMS."),
        "21614": ErrorAnswer(400, "refused", "'To' number is not a valid mobile number"),
        "21635": ErrorAnswer(400, "refused", "'To' number cannot be a landline"),
        "21609": ErrorAnswer(400, "configuration", "Invalid StatusCallback"),
        "21611": ErrorAnswer(400, "throttled", "This 'From' number has exceeded the maximum number of queued "
                                               "messages"),
        "21705": ErrorAnswer(400, "configuration", "Message Service is invalid"),
        "21730": ErrorAnswer(400, "failure", "Service is under maintenance, please try again later"),
        "21999": ErrorAnswer(400, "failure", "An error code the gateway has never seen (unclassified)"),
        "20003": ErrorAnswer(401, "unauthorized", "Authenticate"),
        "20404": ErrorAnswer(404, "configuration", "The requested resource was not found"),
        "20429": ErrorAnswer(429, "throttled", "Too Many Requests"),
        "20500": ErrorAnswer(500, "failure", "Internal Server Error"),
        "20503": ErrorAnswer(503, "failure", "Service Unavailable"),
    }
    MODE_CODES = {"reject": ("21211",), "unauthorized": ("20003",), "throttle": ("20429",), "fail": ("20500",),
                  "flaky": ("20500", "20503")}
    RATE_LIMIT_CODE = "20429"

    def is_send(self, request: SimRequest) -> bool:
        return request.method == "POST" and PATH.match(request.path) is not None

    def read(self, request: SimRequest, credentials: Mapping[str, str], api_key: str | None) -> Inbound:
        account = PATH.match(request.path)["account"]
        auth = _check_basic(request.headers.get("authorization"), credentials)
        if credentials.get("account_sid") and account != credentials["account_sid"]:
            return Inbound(auth=auth, problem=self.answer("20404"))
        form = form_fields(request)
        to, body = form.get("To"), form.get("Body")
        sender = {key: form[key] for key in ("From", "MessagingServiceSid") if key in form}
        if not to:
            return Inbound(auth=auth, problem=self.answer("21604"))
        if not sender:
            return Inbound(auth=auth, problem=self.answer("21603"))
        if not body:
            return Inbound(auth=auth, problem=self.answer("21602"))
        if not E164.match(to):
            return Inbound(auth=auth, problem=self.answer("21211"))
        message = {"to": to, "text": body, "reference": None, "fields": form, "account_sid": account}
        return Inbound(auth=auth, message=message)

    def accepted(self, inbound: Inbound, message_ids: list[str]) -> Reply:
        message = inbound.message
        form, sid, account = message["fields"], message_ids[0], message["account_sid"]
        now = formatdate(usegmt=False)
        resource = {
            "account_sid": account, "api_version": "2010-04-01", "body": message["text"], "date_created": now,
            "date_sent": None, "date_updated": now, "direction": "outbound-api", "error_code": None,
            "error_message": None, "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0", "num_segments": str(count_segments(message["text"]).segments), "price": None,
            "price_unit": "USD", "sid": sid,
            # With a Messaging Service a new message is "accepted" (a sender is chosen later), else "queued".
            "status": "accepted" if "MessagingServiceSid" in form else "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json"},
            "to": message["to"], "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
        }
        return Reply.json(201, resource)

    def answer(self, code: str, inbound: Inbound | None = None, retry_after_s: int = 1) -> Reply:
        error = self.ERRORS[code]
        payload = {"code": int(code), "message": error.message,
                   "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": error.status}
        return Reply.json(error.status, payload)

    def new_message_id(self, name: str) -> str:
        return "SM" + uuid.uuid4().hex

    def local_setup(self, base_url: str, env: Mapping[str, str]) -> tuple[dict, dict]:
        account_sid, auth_token = "AC" + uuid.uuid4().hex, made_up_secret()
        # +1 500 555 0006: Twilio's documented magic "From" of test credentials, never a real sender.
        entry = {"account_sid": account_sid, "from": "+15005550006", "auth_token": auth_token, "base_url": base_url}
        return {"credentials": {"account_sid": account_sid, "auth_token": auth_token}}, entry


    def receipt(self, *, message: dict[str, Any], message_id: str, delivered: bool, url: str,
                credentials: Mapping[str, str], secret: str | None, now: float, interim: bool = False):
        from localdev.simulators.receipts import ReceiptCall

        # A status callback as Twilio posts it: to the message's StatusCallback (else the account's URL),
        # form-encoded, signed over that URL and the sorted parameters.
        url = message["fields"].get("StatusCallback") or url
        status = "sent" if interim else "delivered" if delivered else "undelivered"
        params = [("SmsSid", message_id), ("SmsStatus", status), ("MessageStatus", status), ("To", message["to"]),
                  ("MessageSid", message_id), ("AccountSid", message.get("account_sid") or ""),
                  ("From", message["fields"].get("From", "")), ("ApiVersion", "2010-04-01")]
        if status == "undelivered":
            params.append(("ErrorCode", "30003"))  # unreachable destination handset
        signature = receipt_signature(url, params, credentials.get("auth_token", ""))
        return ReceiptCall("POST", url, {"Content-Type": "application/x-www-form-urlencoded",
                                         "X-Twilio-Signature": signature}, urlencode(params).encode())

    def local_receipts(self, receipt_url: str, simulator_auth: dict, entry: dict) -> tuple[dict, dict]:
        # Twilio signs the URL it calls: the gateway must know it (behind API Gateway it differs from its own).
        return {"receipt_url": receipt_url}, {"webhook_url": receipt_url}


def _check_basic(header: str | None, credentials: Mapping[str, str]) -> str:
    if not header or not header.startswith("Basic "):
        return "missing"
    try:
        username, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "wrong"
    if not credentials:
        return "unchecked" if username[:2] in ("AC", "SK") and password else "wrong"
    pairs = {(credentials.get("account_sid"), credentials.get("auth_token")),
             (credentials.get("api_key_sid"), credentials.get("api_key_secret"))}
    return "ok" if (username, password) in pairs and None not in (username, password) else "wrong"
