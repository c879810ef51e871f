"""The one place a gateway error becomes an HTTP answer: its status, the API's error shape and its headers.

The domain raises errors that carry data (chalicelib/errors.py); which status each answers with, and that
``retry_after_s`` is a Retry-After header, a ``RateLimitState`` the RateLimit-* headers (IETF draft) and a
``MethodNotAllowed``'s methods the Allow header, is said here only. The nearest class in an error's MRO
decides; an error no class here names is a dependency failing (503: try later).
"""

from __future__ import annotations

import functools

from chalice import Response

from chalicelib.api.responses import ErrorBody
from chalicelib.errors import (
    ApiError,
    ConfigurationError,
    Conflict,
    DependencyUnavailable,
    Forbidden,
    GatewayError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimitState,
    ReceiptTooEarly,
    StorageRejected,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
    UnsupportedMediaType,
    ValidationFailed,
)
from chalicelib.logs import logger

STATUS_OF: dict[type[GatewayError], int] = {
    ApiError: 400,
    ValidationFailed: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    MethodNotAllowed: 405,
    Conflict: 409,
    ReceiptTooEarly: 409,  # the vendor's retry of a webhook is what brings it back
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    UnprocessableEntity: 422,
    TooManyRequests: 429,
    StorageRejected: 500,  # a bug in a call, not an outage
    DependencyUnavailable: 503,
    ConfigurationError: 503,  # an operator's to fix: try later
}
UNKNOWN_ERROR_STATUS = 503  # any other gateway error: something the request needs is failing


def status_of(error: GatewayError) -> int:
    return next((STATUS_OF[kind] for kind in type(error).__mro__ if kind in STATUS_OF), UNKNOWN_ERROR_STATUS)


def rate_limit_headers(state: RateLimitState | None) -> dict[str, str]:
    if state is None:
        return {}
    return {"RateLimit-Limit": str(state.limit), "RateLimit-Remaining": str(state.remaining),
            "RateLimit-Reset": str(state.reset_s)}


def error_headers(error: GatewayError, status: int) -> dict[str, str]:
    headers = rate_limit_headers(error.rate_limit) if isinstance(error, TooManyRequests) else {}
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = ", ".join(error.allowed)
    retry_after = error.retry_after_s or (1 if status == 503 else None)
    return {**headers, **({"Retry-After": str(retry_after)} if retry_after else {})}


def error_response(error: GatewayError, status: int | None = None) -> Response:
    status = status or status_of(error)
    return Response(body=ErrorBody.of(error).to_body(), status_code=status, headers=error_headers(error, status))


def json_errors(view):
    """Map gateway errors to the API's one error shape: {"error": {"code", "message", "field"}}."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except GatewayError as exc:
            status = status_of(exc)
            if status == 500:
                logger.error("request failed", extra={"error": exc.message, "code": exc.code})
            elif status >= 500:
                logger.warning("dependency unavailable", extra={"error": exc.message, "code": exc.code})
            return error_response(exc, status)
        except Exception:  # a bug: still the API's error shape, and logged with its trace
            logger.exception("unhandled error")
            return Response(body=ErrorBody.of(GatewayError("internal error", code="internal_error")).to_body(),
                            status_code=500)

    return wrapper
