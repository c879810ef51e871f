"""The vendor kinds: one module or package per kind, each declaring its ``VendorKind`` (kind.py) as ``KIND``, and
this registry listing them. Nothing else in chalicelib names a kind: settings builds the ``SMS_PROVIDERS`` entry
union from ``KINDS``, ``build_providers`` the adapters, receipts/webhooks.py the webhook per kind and
receipts/delivery_events.py the delivery events.

    kind        module          speaks                                                       receipts
    http-json   http_json.py    the gateway's own contract (in-house providers)              webhook, X-Signature
    twilio      twilio/         Programmable Messaging, Messages.json (httpx)                webhook, X-Twilio-Signature
    vonage      vonage/         the SMS API, /sms/json (httpx)                               webhook, sig
    aws         aws/            End User Messaging SMS, SendTextMessage (boto3 on httpx)     delivery events (SNS->SQS)

Adding a vendor: its module here, and one line in KINDS (docs/providers.md, "Adding a fifth vendor").
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from chalicelib.delivery_receipt import Receipt
from chalicelib.providers.base import Provider, ProviderEntry
from chalicelib.providers.secrets import ProviderSecrets, SecretCache
from chalicelib.vendors import aws, http_json, twilio, vonage
from chalicelib.vendors.kind import VendorKind

# The one list a new kind is added to. The first is the kind of an entry that names none.
KINDS: tuple[VendorKind, ...] = (
    http_json.KIND,
    twilio.KIND,
    vonage.KIND,
    aws.KIND,
)
_BY_NAME = {kind.name: kind for kind in KINDS}
DEFAULT_KIND = KINDS[0].name

__all__ = ["DEFAULT_KIND", "KINDS", "VendorKind", "build_providers", "delivery_event_receipt", "kind_named"]


def kind_named(name: str) -> VendorKind:
    """The kind an entry's ``kind`` names (KeyError for none: settings accepts only the kinds of KINDS)."""
    return _BY_NAME[name]


def build_providers(configs: Iterable[ProviderEntry], http: httpx.Client, *, secrets: SecretCache | None = None,
                    shared_secret_id: str | None = None, aws_region: str = "us-east-1") -> dict[str, Provider]:
    """One adapter per configured provider, all on ``http`` (make it with ``deadline_client()``).

    ``secrets`` reads the secrets that entries name (``secret_id``) and the shared one
    (``shared_secret_id``, PROVIDER_KEYS_SECRET_ID); without it, credentials come from the entries alone."""
    providers: dict[str, Provider] = {}
    for config in configs:
        source = ProviderSecrets(config, cache=secrets, shared_secret_id=shared_secret_id)
        providers[config.name] = kind_named(config.kind).adapter(config, http, source, aws_region)
    return providers


def delivery_event_receipt(body: str, default_provider: str | None) -> Receipt:
    """A record of the sms-delivery-events queue, read by the kind whose receipts arrive there (one kind's do)."""
    (kind,) = (kind for kind in KINDS if kind.delivery_events)
    return kind.delivery_events(body, default_provider)
