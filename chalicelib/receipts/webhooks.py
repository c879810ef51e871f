"""``/webhooks/{provider}``: a vendor's delivery receipt, checked, parsed and applied.

Each kind that takes receipts by webhook says how in its ``VendorKind`` (chalicelib/vendors/): the methods it is
called with, the credential field its receipts are signed with (``signed_with``), and ``webhook_receipt``, which
verifies the signature of a call and parses it. docs/providers.md#delivery-receipts has each kind's format.

The signature is the only authentication: a call without one, or with one that does not verify, is refused
(401 / 403), logged as "receipt refused" (a metric filter counts it) and never parsed further. A verified
receipt is acknowledged (204) whatever it changed, unknown message ids included, so that the vendor stops
sending it; only a receipt that came too early (ReceiptTooEarly, 409) is asked for again.

What is read before the signature is verified, in this order (anyone can call this URL):

    1. the body's length: over MAX_BODY_BYTES is 413, nothing of it read; a query of more than MAX_FIELDS is 413
    2. the kind's webhook_receipt: only what its signature check needs, bounded by webhook_call.py (at most
       MAX_FIELDS form fields or JSON members: 413 past that); its docstring says what, in which order
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from chalicelib.delivery_receipt import Receipt
from chalicelib.errors import (
    DependencyUnavailable,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    SignatureInvalid,
    SignatureMissing,
)
from chalicelib.logs import logger
from chalicelib.providers.base import ProviderEntry
from chalicelib.providers.secrets import SecretSource, SecretUnavailable
from chalicelib.receipts.applier import ReceiptApplier, ReceiptResult
from chalicelib.receipts.webhook_call import MAX_BODY_BYTES, MAX_FIELDS, WebhookCall
from chalicelib.vendors import VendorKind, kind_named

__all__ = ["MAX_BODY_BYTES", "MAX_FIELDS", "WebhookCall", "WebhookReceiver"]


class WebhookReceiver:
    def __init__(self, *, providers: Mapping[str, ProviderEntry], secrets: Mapping[str, SecretSource],
                 applier: ReceiptApplier, clock: Callable[[], float]):
        self._providers = providers
        self._secrets = secrets
        self._applier = applier
        self._clock = clock

    def receive(self, provider: str, call: WebhookCall) -> ReceiptResult:
        config = self._providers.get(provider)
        kind = kind_named(config.kind) if config is not None else None
        if kind is None or not kind.takes_webhooks:
            raise NotFound(f"no provider {provider!r} takes receipts here", field="provider")
        if call.method not in kind.webhook_methods:
            raise MethodNotAllowed(f"{kind.name} receipts come as {' or '.join(kind.webhook_methods)}",
                                   field="method", allowed=kind.webhook_methods)
        _check_size(call)
        try:
            receipt = self._verified_receipt(kind, config, call)
        except (SignatureMissing, SignatureInvalid) as exc:
            logger.warning("receipt refused", extra={"provider": provider, "kind": config.kind, "code": exc.code,
                                                      "error": exc.message})
            raise
        return self._applier.apply(receipt)

    def _verified_receipt(self, kind: VendorKind, config: ProviderEntry, call: WebhookCall) -> Receipt:
        secret = self._secret(config, kind.signed_with)
        return kind.webhook_receipt(config, call, secret, self._clock())

    def _secret(self, config: ProviderEntry, field: str) -> str:
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
