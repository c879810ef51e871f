"""Provider adapters: one module per vendor behind one interface, ``Provider.send(...) -> SendResult``.

    kind        module        speaks
    http-json   http_json.py  the gateway's own contract (in-house providers)
    twilio      twilio.py     Programmable Messaging, Messages.json (httpx)
    vonage      vonage.py     the SMS API, /sms/json (httpx)
    aws         aws_sms.py    AWS End User Messaging SMS, SendTextMessage (boto3 on the httpx transport)

Every call is bounded by a wall-clock deadline (deadline.py) and its answer size is capped; credentials
come from the entry or from Secrets Manager with a maximum age (secrets.py). docs/providers.md has each
vendor's configuration, its classification table with sources, and how to add a vendor.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from chalicelib.providers.aws_sms import AwsSmsConfig, AwsSmsProvider
from chalicelib.providers.base import (
    MAX_STORED_BODY,
    Outcome,
    OutgoingSms,
    Provider,
    ProviderAdapter,
    ProviderEntry,
    SendResult,
)
from chalicelib.providers.deadline import MAX_ANSWER_BYTES, deadline_client
from chalicelib.providers.http_json import HttpJsonConfig, HttpJsonProvider, classify_answer
from chalicelib.providers.secrets import ProviderSecrets, SecretCache
from chalicelib.providers.twilio import TwilioConfig, TwilioProvider
from chalicelib.providers.vonage import VonageConfig, VonageProvider

__all__ = [
    "ADAPTERS",
    "MAX_ANSWER_BYTES",
    "MAX_STORED_BODY",
    "AwsSmsConfig",
    "HttpJsonConfig",
    "HttpJsonProvider",
    "Outcome",
    "OutgoingSms",
    "Provider",
    "ProviderEntry",
    "SendResult",
    "TwilioConfig",
    "VonageConfig",
    "build_providers",
    "classify_answer",
    "deadline_client",
]

# kind -> adapter class: the one registry a new vendor is added to.
ADAPTERS: dict[str, type[ProviderAdapter]] = {
    "http-json": HttpJsonProvider,
    "twilio": TwilioProvider,
    "vonage": VonageProvider,
    "aws": AwsSmsProvider,
}


def build_providers(configs: Iterable[ProviderEntry], http: httpx.Client, *, secrets: SecretCache | None = None,
                    shared_secret_id: str | None = None, aws_region: str = "us-east-1") -> dict[str, Provider]:
    """One adapter per configured provider, all on ``http`` (make it with ``deadline_client()``).

    ``secrets`` reads the secrets that entries name (``secret_id``) and the shared one
    (``shared_secret_id``, PROVIDER_KEYS_SECRET_ID); without it, credentials come from the entries alone."""
    providers: dict[str, Provider] = {}
    for config in configs:
        source = ProviderSecrets(config, cache=secrets, shared_secret_id=shared_secret_id)
        if config.kind == "aws":
            providers[config.name] = AwsSmsProvider(config, http, source, default_region=aws_region)
        else:
            providers[config.name] = ADAPTERS[config.kind](config, http, source)
    return providers
