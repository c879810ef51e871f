"""A chalice request as a ``WebhookCall``: what the receipt webhooks read of it."""

from __future__ import annotations

from urllib.parse import urlencode

from chalicelib.receipts.webhooks import WebhookCall


def query_pairs(params) -> list[tuple[str, str]]:
    """Every (name, value) of a query, repeated names included (chalice's MultiDict, or a plain dict)."""
    if not params:
        return []
    getlist = getattr(params, "getlist", None)
    return [(name, value) for name in params for value in (getlist(name) if getlist else [params[name]])]


def called_url(request) -> str:
    """The URL as this Lambda saw it. Behind API Gateway it is not the one the vendor called (host, stage):
    a vendor that signs the URL (Twilio) needs the provider's webhook_url there."""
    headers = request.headers
    path = request.context.get("path") or request.path
    query = urlencode(query_pairs(request.query_params))
    url = f"{headers.get('x-forwarded-proto', 'https')}://{headers.get('host', '')}{path}"
    return f"{url}?{query}" if query else url


def webhook_call(request) -> WebhookCall:
    return WebhookCall(method=request.method, headers={name.lower(): value for name, value in request.headers.items()},
                       query=query_pairs(request.query_params), body=request.raw_body or b"",
                       called_url=called_url(request))
