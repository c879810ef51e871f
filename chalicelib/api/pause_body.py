"""The JSON body of ``POST /api/providers/{name}/pause``: why (reason) and, optionally, until when (until).

The body model states it for the document; the checks here refuse it field by field (422, the field named).
Whether ``until`` is in the future and at most 7 days ahead is the pause's own rule, on the routing clock
(provider_health.py: ``ProviderHealth.pause``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.json_body import body_text, check_body_size, decode_json_object, require_json_media_type
from chalicelib.api.params import shown_name
from chalicelib.errors import UnprocessableEntity, ValidationFailed

MAX_REASON_CHARS = 200
_CONTROLS = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))}


class PauseProviderBody(BaseModel):
    """The JSON body of ``POST /api/providers/{name}/pause``."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS, examples=["vendor incident INC-1234"],
                        description="Why the provider is out of rotation, shown in GET /api/providers (no control "
                        "characters).")
    until: str | None = Field(
        default=None, json_schema_extra={"format": "date-time"},
        description="The pause ends by itself then: ISO-8601 with a UTC offset (Z or +hh:mm), in the future and at "
        "most 7 days ahead. Left out: until POST /api/providers/{name}/resume.")


def parse_pause_request(raw_body: bytes | str | None, content_type: str | None, *,
                        max_body_bytes: int) -> tuple[str, int | None]:
    """The reason and until (epoch ms, or None) of a pause; 400/413/415 for a body that is not one JSON object
    (or has a field a pause does not take), 422 naming reason or until otherwise."""
    check_body_size(raw_body, max_body_bytes)
    require_json_media_type(content_type)
    text = body_text(raw_body)
    fields = decode_json_object(text) if text.strip() else {}  # no body: no reason, said as such (422 reason)
    for name in fields:
        if name not in PauseProviderBody.model_fields:
            raise ValidationFailed(f"unknown field {shown_name(name)!r}; a pause takes reason and until",
                                   field=shown_name(name), code="unknown_field")
    reason = fields.get("reason")
    if (not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON_CHARS
            or _CONTROLS.intersection(reason)):
        raise UnprocessableEntity(f"reason must be 1 to {MAX_REASON_CHARS} characters without control characters",
                                  field="reason", code="invalid_reason")
    return reason, _until_ms(fields.get("until"))


def _until_ms(raw) -> int | None:
    if raw is None:
        return None
    refusal = UnprocessableEntity("until must be an ISO-8601 date-time with a UTC offset, such as "
                                  "2026-12-08T03:00:00Z", field="until", code="invalid_until")
    if not isinstance(raw, str) or not raw.isascii():
        raise refusal
    try:
        moment = datetime.fromisoformat(raw.upper())
    except ValueError:
        raise refusal from None
    if moment.tzinfo is None:
        raise refusal
    try:
        return round(moment.astimezone(UTC).timestamp() * 1000)
    except (OverflowError, ValueError):  # year 1 or 9999 pushed off the calendar by its offset
        raise refusal from None
