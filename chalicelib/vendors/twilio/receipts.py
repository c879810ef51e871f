"""Twilio status callbacks: form-encoded ``MessageSid``, ``MessageStatus``, ``ErrorCode``, signed in
``X-Twilio-Signature`` (https://www.twilio.com/docs/usage/security#validating-requests):

    base64(HMAC-SHA1(auth token, URL + every POST parameter sorted by name, as name + value))

URL is the one Twilio called, query string included: behind API Gateway the host and stage seen by the
Lambda are not that URL, so the provider's ``webhook_url`` names it (plus the call's query: ``?ref=<request
id>``, which the adapter put in each message's StatusCallback). As in twilio-python's RequestValidator,
the URL is tried without and with its default port (Twilio is not consistent about it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlencode, urlsplit, urlunsplit

from chalicelib.delivery_receipt import DeliveryReason, DeliveryState, Receipt, undelivered
from chalicelib.errors import SignatureInvalid, SignatureMissing, ValidationFailed
from chalicelib.receipts.signed import digest_matches
from chalicelib.receipts.webhook_call import WebhookCall, form
from chalicelib.vendors.twilio.adapter import TwilioConfig

METHODS = ("POST",)
SIGNED_WITH = "auth_token"  # the account's auth token signs its callbacks (an API key's secret does not)

# MessageStatus -> state. https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
STATES = {
    "delivered": DeliveryState.DELIVERED,
    # Some parts of a multi-part message reached the handset, not all (Twilio's final word on it). Delivered,
    # noted in delivery_error_code: the handset has the message's start, and a client that resent on
    # "undelivered" would send those parts twice.
    "partially_delivered": DeliveryState.DELIVERED,
    "undelivered": DeliveryState.UNDELIVERED,  # the carrier could not deliver it
    "failed": DeliveryState.UNDELIVERED,  # Twilio could not send it (queue overflow, account, price)
    "canceled": DeliveryState.UNDELIVERED,  # a scheduled message canceled
}
PARTIALLY_DELIVERED = "partially_delivered"
# ErrorCode -> reason. https://www.twilio.com/docs/api/errors/30001 ... /30034
REASONS = {
    "30001": DeliveryReason.EXPIRED,  # queue overflow: not sent within its validity period
    "30002": DeliveryReason.REJECTED,  # account suspended
    "30003": DeliveryReason.UNREACHABLE,  # unreachable destination handset
    "30004": DeliveryReason.BLOCKED,  # message blocked (e.g. the recipient blocked it)
    "30005": DeliveryReason.UNREACHABLE,  # unknown destination handset
    "30006": DeliveryReason.UNREACHABLE,  # landline or unreachable carrier
    "30007": DeliveryReason.BLOCKED,  # filtered by the carrier as spam
    "30008": DeliveryReason.UNKNOWN,  # unknown error
    "30010": DeliveryReason.REJECTED,  # price exceeds the max price
    "30032": DeliveryReason.BLOCKED,  # toll-free number not verified
    "30034": DeliveryReason.BLOCKED,  # US A2P 10DLC: unregistered number
}


def signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    """Twilio's signature of a POST to ``url`` with ``params`` (each name, then its values, sorted, once)."""
    return _digest(url + _signed_params(params), auth_token)


def _signed_params(params: Iterable[tuple[str, str]]) -> str:
    by_name: dict[str, set[str]] = {}
    for name, value in params:
        by_name.setdefault(name, set()).add(value)
    return "".join(name + value for name in sorted(by_name) for value in sorted(by_name[name]))


def _digest(signed: str, auth_token: str) -> str:
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _with_and_without_port(url: str) -> list[str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    default = 443 if parts.scheme == "https" else 80
    bare = urlunsplit(parts._replace(netloc=host))
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{parts.port or default}"))
    return [url, bare, with_port]


def require_signature(given: str | None) -> str:
    """The X-Twilio-Signature header, present: the form is not read for a call that has none."""
    if not given:
        raise SignatureMissing("X-Twilio-Signature missing", field="X-Twilio-Signature")
    return given


def verify(url: str, params: list[tuple[str, str]], given: str | None, auth_token: str) -> None:
    given = require_signature(given)
    signed_params = _signed_params(params)  # once: only the URL differs between candidates
    for candidate in dict.fromkeys(_with_and_without_port(url)):
        if digest_matches(_digest(candidate + signed_params, auth_token), given):
            return
    raise SignatureInvalid("X-Twilio-Signature does not match: check the provider's webhook_url and auth_token",
                           field="X-Twilio-Signature")


def parse(provider: str, params: list[tuple[str, str]], query: list[tuple[str, str]] = ()) -> Receipt:
    """``query``: the callback URL's own query; ``ref`` is our request id when webhook_url made the URL."""
    fields = dict(params)
    ref = dict(query).get("ref") or None
    sid = fields.get("MessageSid") or fields.get("SmsSid")
    status = (fields.get("MessageStatus") or fields.get("SmsStatus") or "").lower()
    if not sid or not status:
        raise ValidationFailed("a status callback needs MessageSid and MessageStatus", field="MessageSid")
    state = STATES.get(status, DeliveryState.INTERIM)  # queued, accepted, scheduled, sending, sent, read ...
    code = fields.get("ErrorCode") or (PARTIALLY_DELIVERED if status == PARTIALLY_DELIVERED else None)
    reason = None
    if state is DeliveryState.UNDELIVERED:
        reason = DeliveryReason.REJECTED if status == "canceled" and not code else undelivered(REASONS, code)
    return Receipt(provider=provider, message_id=sid, state=state, error_code=code, reason=reason,
                   request_id=ref, vendor_status=status)


def webhook_receipt(config: TwilioConfig, call: WebhookCall, auth_token: str, now: float) -> Receipt:
    """The header's presence first (401 without it: the form is not read), then the form (at most MAX_FIELDS
    fields), its signature against the public URL, then the receipt."""
    given = require_signature(call.headers.get("x-twilio-signature"))
    params = form(call.body)
    url = call.called_url
    if config.webhook_url:  # the public URL, with the query this call came with
        url = config.webhook_url + (f"?{urlencode(call.query)}" if call.query else "")
    verify(url, params, given, auth_token)
    return parse(config.name, params, call.query)
