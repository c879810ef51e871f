"""The query of ``GET /api/sms``: its filters and page, checked with a field-named error each."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from chalicelib.api.params import shown_name
from chalicelib.api.send_options import MAX_REFERENCE_CHARS, REFERENCE_PATTERN
from chalicelib.errors import ValidationFailed
from chalicelib.lifecycle import Status
from chalicelib.storage.queries import CURSOR_PATTERN

LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100
# The store's time range: no request is older than 1970, and its timestamps stop before year 10000. A time
# outside it is moved to its edge (a list from year 1 is a list from 1970), never refused and never a 500.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


class ListQuery(BaseModel):
    """The filters and page of ``GET /api/sms``; every filter is optional, and they combine."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    status: Status | None = Field(default=None, strict=False, description="Only requests in this status.")
    provider: str | None = Field(default=None, description="Only requests sent through this provider.")
    since: AwareDatetime | None = Field(
        default=None,
        description="Only requests created at or after this time (ISO-8601; without an offset it is UTC).",
    )
    until: AwareDatetime | None = Field(
        default=None,
        description="Only requests created at or before this time (ISO-8601; without an offset it is UTC).",
    )
    reference: str | None = Field(
        default=None,
        max_length=MAX_REFERENCE_CHARS,
        pattern=REFERENCE_PATTERN,
        description="Only requests sent with this reference (exact match).",
    )
    limit: int = Field(default=LIST_LIMIT_DEFAULT, ge=1, le=LIST_LIMIT_MAX, description="Page size.")
    cursor: str | None = Field(
        default=None,
        pattern=CURSOR_PATTERN,
        description="The next_cursor of the previous page (opaque: send it back as it came).",
    )


_QUERY_REFUSALS: dict[str, tuple[str, str]] = {
    "status": ("invalid_status", f"status must be one of: {', '.join(Status)}"),
    "since": (
        "invalid_datetime",
        "since must be an ISO-8601 date-time such as 2024-05-01T12:00:00Z (write + in an offset as %2B)",
    ),
    "until": (
        "invalid_datetime",
        "until must be an ISO-8601 date-time such as 2024-05-01T12:00:00Z (write + in an offset as %2B)",
    ),
    "reference": ("invalid_reference",
                  f"reference must be 1 to {MAX_REFERENCE_CHARS} characters without control characters"),
    "limit": ("invalid_limit", f"limit must be a whole number from 1 to {LIST_LIMIT_MAX}"),
    "cursor": ("invalid_cursor", "cursor must be the next_cursor of a page this API returned"),
}


def parse_list_query(params: Mapping[str, str] | None, *, known_providers: Sequence[str]) -> ListQuery:
    """Validate the query of ``GET /api/sms``; an empty value (``?status=``) means "not given"."""
    params = params or {}
    for name in params:
        if name not in ListQuery.model_fields:
            shown = shown_name(name)
            raise ValidationFailed(
                f"unknown query parameter {shown!r}; accepted: {', '.join(ListQuery.model_fields)}",
                field=shown,
                code="unknown_parameter",
            )
    values: dict[str, Any] = {name: value for name, value in params.items() if value != ""}
    if "provider" in values and values["provider"] not in known_providers:
        raise ValidationFailed(
            f"provider must be one of: {', '.join(known_providers)}",
            field="provider",
            code="unknown_provider",
        )
    if "limit" in values:
        values["limit"] = _whole_number("limit", values["limit"])
    for name in ("since", "until"):
        if name in values:
            values[name] = _utc_datetime(name, values[name])
    try:
        query = ListQuery.model_validate(values)
    except ValidationError as exc:
        raise _query_refusal(str(exc.errors()[0]["loc"][0])) from None
    return query


def _whole_number(name: str, raw: str) -> int:
    # int() would also take "+5", " 5", "1_0" and non-ASCII digits.
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise _query_refusal(name)
    return int(raw)


def _utc_datetime(name: str, raw: str) -> datetime:
    if len(raw) > 64 or not raw.isascii():
        raise _query_refusal(name)
    try:
        moment = datetime.fromisoformat(raw.upper())  # Python 3.11 reads "Z", offsets and plain dates
    except ValueError:
        raise _query_refusal(name) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # a valid RFC 3339 time in year 1 or 9999 whose offset leaves the calendar
        return EARLIEST if moment.year == 1 else LATEST
    return min(max(moment, EARLIEST), LATEST)


def _query_refusal(name: str) -> ValidationFailed:
    code, message = _QUERY_REFUSALS[name]
    return ValidationFailed(message, field=name, code=code)
