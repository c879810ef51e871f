"""``/webhooks/{provider}``: a vendor's delivery receipt, checked, parsed and applied.

    provider's kind   methods     body                          signature                       secret
    twilio            POST        form                          X-Twilio-Signature (URL+form)   auth_token
    vonage            GET, POST   query, form or JSON           sig + timestamp params          signature_secret
    http-json         POST        JSON                          X-Signature t=,v1=              webhook_secret

The signature is the only authentication: a call without one, or with one that does not verify, is refused
(401 / 403), logged as "receipt refused" (a metric filter counts it) and never parsed further. A verified
receipt is acknowledged (204) whatever it changed, unknown message ids included, so that the vendor stops
sending it; only a receipt that came too early (ReceiptTooEarly, 409) is asked for again.

What is read before the signature is verified, in this order (anyone can call this URL):

    1. the body's length: over MAX_BODY_BYTES is 413, nothing of it read; a query of more than MAX_FIELDS is 413
    2. twilio: the X-Twilio-Signature header's presence (401 without it), then the form, at most MAX_FIELDS
       fields (413 past that), since Twilio signs the parameters, not the raw body
       vonage: the query, the form (at most MAX_FIELDS fields) or the JSON object (at most MAX_FIELDS members;
       400 for anything else, nesting too deep included): Vonage signs the parameters
       http-json: nothing; the HMAC covers "t." + the raw body, and the JSON is parsed once it verified
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from chalicelib.delivery_receipt import Receipt
from chalicelib.errors import (
    DependencyUnavailable,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    SignatureInvalid,
    SignatureMissing,
    ValidationFailed,
)
from chalicelib.logs import logger
from chalicelib.providers.base import ProviderEntry
from chalicelib.providers.secrets import SecretSource, SecretUnavailable
from chalicelib.receipts import http_json, twilio, vonage
from chalicelib.receipts.applier import ReceiptApplier, ReceiptResult

METHODS = {"twilio": ("POST",), "vonage": ("GET", "POST"), "http-json": ("POST",)}
# A receipt is well under 2 KB and has about 15 fields: these bound what an unsigned call can make us parse.
MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 100
SECRET_OF = {"twilio": "auth_token", "vonage": "signature_secret", "http-json": "webhook_secret"}


@dataclass(frozen=True)
class WebhookCall:
    """What the route hands over: nothing of chalice's request object."""

    method: str
    headers: Mapping[str, str]  # names lower-cased
    query: list[tuple[str, str]]
    body: bytes
    called_url: str  # as the Lambda saw it: the fallback when the provider has no webhook_url


class WebhookReceiver:
    def __init__(self, *, providers: Mapping[str, ProviderEntry], secrets: Mapping[str, SecretSource],
                 applier: ReceiptApplier, clock: Callable[[], float]):
        self._providers = providers
        self._secrets = secrets
        self._applier = applier
        self._clock = clock

    def receive(self, provider: str, call: WebhookCall) -> ReceiptResult:
        config = self._providers.get(provider)
        if config is None or config.kind not in METHODS:
            raise NotFound(f"no provider {provider!r} takes receipts here", field="provider")
        if call.method not in METHODS[config.kind]:
            raise MethodNotAllowed(f"{config.kind} receipts come as {' or '.join(METHODS[config.kind])}",
                                   field="method", allowed=tuple(METHODS[config.kind]))
        _check_size(call)
        try:
            receipt = self._verified_receipt(config, call)
        except (SignatureMissing, SignatureInvalid) as exc:
            logger.warning("receipt refused", extra={"provider": provider, "kind": config.kind, "code": exc.code,
                                                      "error": exc.message})
            raise
        return self._applier.apply(receipt)

    def _verified_receipt(self, config: ProviderEntry, call: WebhookCall) -> Receipt:
        secret = self._secret(config)
        now = self._clock()
        if config.kind == "twilio":
            given = twilio.require_signature(call.headers.get("x-twilio-signature"))
            params = _form(call.body)
            url = call.called_url
            if config.webhook_url:  # the public URL, with the query this call came with
                url = config.webhook_url + (f"?{urlencode(call.query)}" if call.query else "")
            twilio.verify(url, params, given, secret)
            return twilio.parse(config.name, params, call.query)
        if config.kind == "vonage":
            params = dict(call.query) if call.method == "GET" else _form_or_json(call)
            vonage.verify(params, secret, config.signature_method, now)
            return vonage.parse(config.name, params)
        http_json.verify(call.body, call.headers.get(http_json.HEADER.lower()), secret, now)
        return http_json.parse(config.name, call.body)

    def _secret(self, config: ProviderEntry) -> str:
        field = SECRET_OF[config.kind]
        try:
            value = self._secrets[config.name].get().get(field)
        except SecretUnavailable as exc:
            if not exc.configuration_problem:
                raise DependencyUnavailable(exc.message) from None
            value = None
        if not value:
            # Nothing to check a signature with: refused like a bad one, and the log says what to set.
            raise SignatureInvalid(f"provider {config.name!r} has no {field} to check receipts with",
                                   field="provider")
        return value


def _check_size(call: WebhookCall) -> None:
    if len(call.body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"a receipt's body is at most {MAX_BODY_BYTES} bytes", field="body")
    if len(call.query) > MAX_FIELDS:
        raise PayloadTooLarge(f"a receipt has at most {MAX_FIELDS} query parameters", field="query")


def _form(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:  # parse_qsl counts the separators first and stops past max_num_fields
        raise _too_many_fields() from None


def _form_or_json(call: WebhookCall) -> dict[str, str]:
    if call.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(call.body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser recurses
            data = None
        if not isinstance(data, dict):
            raise ValidationFailed("a JSON receipt is an object", field="body")
        if len(data) > MAX_FIELDS:
            raise _too_many_fields()
        return {str(key): "" if value is None else str(value) for key, value in data.items()}
    return dict(_form(call.body))


def _too_many_fields() -> PayloadTooLarge:
    return PayloadTooLarge(f"a receipt has at most {MAX_FIELDS} fields", field="body")
