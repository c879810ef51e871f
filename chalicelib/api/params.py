"""Request parameters that are not a body: headers and the path's request id, and how a client's own
names are shown back in an error."""

from __future__ import annotations

import re

from chalicelib.errors import ValidationFailed

IDEMPOTENCY_KEY_MAX_CHARS = 255
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,255}$"
REQUEST_ID_PATTERN = r"^[0-9a-f]{32}$"
_SHOWN_NAME_CHARS = 64


def parse_idempotency_key(header: str | None) -> str | None:
    """The optional Idempotency-Key header: 1 to 255 printable ASCII characters without spaces, or absent."""
    if header is None:
        return None
    if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, header):
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
            field="Idempotency-Key",
            code="invalid_idempotency_key",
        )
    return header


def parse_request_id(raw: str) -> str:
    """The {id} of /api/sms/{id}: the 32 lowercase hex characters the API handed out."""
    if not re.fullmatch(REQUEST_ID_PATTERN, raw):
        raise ValidationFailed("id must be 32 lowercase hex characters", field="id", code="invalid_id")
    return raw


def shown_name(name: str) -> str:
    """A client-chosen name, made printable and cut short enough to put in an error and a log line."""
    printable = "".join(char if char.isprintable() else "?" for char in name)
    return printable if len(printable) <= _SHOWN_NAME_CHARS else printable[: _SHOWN_NAME_CHARS - 1] + "…"
