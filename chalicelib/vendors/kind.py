"""``VendorKind``: everything the gateway knows about one kind of provider, in one value its vendor module
declares (``KIND``) and the registry (``chalicelib/vendors/__init__.py``) lists.

    sending    the entry's model (the ``SMS_PROVIDERS`` fields of the kind) and the adapter made from an entry
    receipts   either a webhook (the methods it is called with, the credential field its receipts are signed
               with, and the function that checks the signature of a call and parses it into a Receipt), or
               delivery events (a record of the sms-delivery-events queue, SNS -> SQS, parsed into a Receipt),
               or neither
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from chalicelib.delivery_receipt import Receipt
from chalicelib.providers.base import Provider, ProviderEntry
from chalicelib.providers.secrets import SecretSource
from chalicelib.receipts.webhook_call import WebhookCall

# (entry, the shared bounded http client, the entry's credentials, the gateway's AWS region) -> adapter
AdapterFactory = Callable[[ProviderEntry, httpx.Client, SecretSource, str], Provider]
# (entry, the call, the secret its receipts are signed with, now) -> the receipt, once the signature verified;
# raises SignatureMissing / SignatureInvalid (refused, logged) or ValidationFailed / PayloadTooLarge.
WebhookReceipt = Callable[[ProviderEntry, WebhookCall, str, float], Receipt]
# (an SQS record's body, the provider an event without one in its context belongs to) -> the receipt
DeliveryEventParser = Callable[[str, str | None], Receipt]


@dataclass(frozen=True)
class VendorKind:
    name: str  # the entry's "kind"
    config: type[ProviderEntry]  # the pydantic model of its SMS_PROVIDERS entry (its kind: Literal[name])
    adapter: AdapterFactory
    webhook_methods: tuple[str, ...] = ()  # () : no /webhooks/{provider} for this kind (404)
    signed_with: str | None = None  # the credential field (of SECRET_FIELDS) its webhook receipts are signed with
    webhook_receipt: WebhookReceipt | None = None
    delivery_events: DeliveryEventParser | None = None  # its receipts arrive on the sms-delivery-events queue

    def __post_init__(self):
        webhook = (bool(self.webhook_methods), self.signed_with is not None, self.webhook_receipt is not None)
        if len(set(webhook)) != 1:
            raise ValueError(f"{self.name}: webhook_methods, signed_with and webhook_receipt go together")
        if self.webhook_receipt and self.delivery_events:
            raise ValueError(f"{self.name}: receipts come by webhook or by delivery events, not both")

    @property
    def takes_webhooks(self) -> bool:
        return bool(self.webhook_methods)


def http_adapter(adapter: Callable[[ProviderEntry, httpx.Client, SecretSource], Provider]) -> AdapterFactory:
    """The factory of an adapter that needs nothing but its entry, the client and its credentials."""
    return lambda config, http, secrets, _region: adapter(config, http, secrets)
