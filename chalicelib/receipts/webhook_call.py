"""A call to ``/webhooks/{provider}`` as the vendor modules read it, and the bounded readings of its body that a
signature check may need before it verified (anyone can call the URL: nothing here reads more than
``MAX_FIELDS`` fields)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from chalicelib.errors import PayloadTooLarge, ValidationFailed

# A receipt is well under 2 KB and has about 15 fields: these bound what an unsigned call can make us parse.
MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 100


@dataclass(frozen=True)
class WebhookCall:
    """What the route hands over: nothing of chalice's request object."""

    method: str
    headers: Mapping[str, str]  # names lower-cased
    query: list[tuple[str, str]]
    body: bytes
    called_url: str  # as the Lambda saw it: the fallback when the provider has no webhook_url


def form(body: bytes) -> list[tuple[str, str]]:
    """A form-encoded body, at most MAX_FIELDS fields (413 past that)."""
    try:
        return parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:  # parse_qsl counts the separators first and stops past max_num_fields
        raise too_many_fields() from None


def form_or_json(call: WebhookCall) -> dict[str, str]:
    """A JSON object's members (at most MAX_FIELDS; 400 for anything but an object) or the form's fields."""
    if call.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(call.body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser recurses
            data = None
        if not isinstance(data, dict):
            raise ValidationFailed("a JSON receipt is an object", field="body")
        if len(data) > MAX_FIELDS:
            raise too_many_fields()
        return {str(key): "" if value is None else str(value) for key, value in data.items()}
    return dict(form(call.body))


def too_many_fields() -> PayloadTooLarge:
    return PayloadTooLarge(f"a receipt has at most {MAX_FIELDS} fields", field="body")
