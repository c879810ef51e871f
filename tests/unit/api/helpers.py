"""What the API parsers' tests share."""

from __future__ import annotations

from chalicelib.api.http_errors import status_of
from chalicelib.errors import ApiError, GatewayError


def assert_refused_as_client_error(call):
    """The call's result, or None when it was refused with a 4xx ApiError; any other error fails."""
    try:
        return call()
    except GatewayError as exc:
        assert isinstance(exc, ApiError) and 400 <= status_of(exc) < 500, repr(exc)
        return None
