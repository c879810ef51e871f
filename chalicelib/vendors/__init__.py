"""The vendor kinds: one module or package per kind, each declaring its ``VendorKind`` (kind.py) as ``KIND``, and
this registry listing them. Nothing else in chalicelib names a kind: settings builds the ``SMS_PROVIDERS`` entry
union from ``KINDS``, ``build_providers`` the adapters, receipts/webhooks.py the webhook per kind and
receipts/delivery_events.py the delivery events.

Each kind's module says what it speaks and how its receipts come; docs/providers.md has the table of kinds.

Adding a vendor: its module here, and one line in KIND_MODULES (docs/providers.md, "Adding a fifth vendor").
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module

import httpx

from chalicelib.delivery_receipt import Receipt
from chalicelib.providers.base import Provider, ProviderEntry
from chalicelib.providers.secrets import ProviderSecrets, SecretCache
from chalicelib.vendors.kind import VendorKind

# The one list a new kind is added to: the module (or package) of chalicelib/vendors/ that declares its KIND, one
# line each. The first is the kind of an entry that names none.
KIND_MODULES = (
    "http_json",
    "twilio",
    "vonage",
    "aws",
    "telnyx",
)
KINDS: tuple[VendorKind, ...] = tuple(import_module(f"{__name__}.{module}").KIND for module in KIND_MODULES)
_BY_NAME = {kind.name: kind for kind in KINDS}
DEFAULT_KIND = KINDS[0].name

__all__ = ["DEFAULT_KIND", "KINDS", "KIND_MODULES", "VendorKind", "build_providers", "delivery_event_receipt",
           "kind_named"]


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
