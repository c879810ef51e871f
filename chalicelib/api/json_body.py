"""A JSON request body as a client sends it: its size, its media type, UTF-8, and one JSON object whose keys
each appear once. What the object must hold is the caller's question (send_body.py)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.api.params import shown_name
from chalicelib.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed


def read_json_object(raw_body: bytes | str | None, content_type: str | None, max_body_bytes: int) -> dict[str, Any]:
    """413 past ``max_body_bytes``, 415 for another media type or charset, 400 for anything but one JSON object."""
    check_body_size(raw_body, max_body_bytes)
    require_json_media_type(content_type)
    return decode_json_object(body_text(raw_body))


def check_body_size(raw_body: bytes | str | None, max_body_bytes: int) -> None:
    encoded = raw_body.encode("utf-8", "surrogatepass") if isinstance(raw_body, str) else raw_body or b""
    size = len(encoded)
    if size > max_body_bytes:
        raise PayloadTooLarge(f"request body is {size} bytes; the limit is {max_body_bytes}")


def body_text(raw_body: bytes | str | None) -> str:
    if raw_body is None or isinstance(raw_body, str):
        return raw_body or ""
    try:
        return raw_body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("request body is not UTF-8 text", field="body", code="invalid_json") from None


def require_json_media_type(content_type: str | None) -> None:
    if not content_type or not content_type.strip():
        return  # clients that send no Content-Type get the benefit of the doubt
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    kind, _, subtype = media_type.partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        raise UnsupportedMediaType("Content-Type must be application/json", field="Content-Type")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            raise UnsupportedMediaType("the request body must be UTF-8 JSON", field="Content-Type")


class _JsonObjectPairs(list):
    """A JSON object as its key/value pairs, so duplicate keys stay visible."""


def decode_json_object(body: str) -> dict[str, Any]:
    """A JSON object's fields; refused: empty, not JSON, not an object, a key given twice."""
    if not body.strip():
        raise ValidationFailed(
            "request body is empty; send a JSON object with phone and text", field="body", code="invalid_body"
        )
    try:
        document = json.loads(body, object_pairs_hook=_JsonObjectPairs)
    # ValueError covers JSONDecodeError and integers past Python's digit limit; deep nesting recurses.
    except (ValueError, RecursionError):
        raise ValidationFailed("request body is not valid JSON", field="body", code="invalid_json") from None
    if not isinstance(document, _JsonObjectPairs):
        raise ValidationFailed(
            "request body must be a JSON object with phone and text", field="body", code="invalid_body"
        )
    fields: dict[str, Any] = {}
    for name, value in document:
        # Parsers disagree on which duplicate wins (first or last): refuse rather than guess.
        if name in fields:
            shown = shown_name(name)
            raise ValidationFailed(f"field {shown!r} appears twice", field=shown, code="duplicate_field")
        fields[name] = value
    return fields
