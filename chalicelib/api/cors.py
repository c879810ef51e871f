"""CORS: which browser origins may call the API (CORS_ALLOW_ORIGIN: "*", or a comma-separated list)."""

from __future__ import annotations

ALLOWED_HEADERS = "Content-Type, X-Api-Key, Idempotency-Key"
ALLOWED_METHODS = "GET, POST, OPTIONS"


def cors_headers(allow_origin: str, origin: str | None, *, preflight: bool = False) -> dict[str, str]:
    """The headers to add for a request from ``origin``; none when the origin is not allowed."""
    allowed = [o.strip() for o in allow_origin.split(",") if o.strip()]
    if not origin or not allowed:
        return {}
    if "*" in allowed:
        headers = {"Access-Control-Allow-Origin": "*"}
    elif origin in allowed:
        headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    else:
        return {}
    headers["Access-Control-Expose-Headers"] = "Retry-After"
    if preflight:
        headers |= {
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
        }
    return headers
