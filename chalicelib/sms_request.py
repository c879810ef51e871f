"""The SMS request: what a client may send, how it is checked, and the shapes the API answers with.

``parse_send_request`` turns the raw body of ``POST /api/sms`` into a ``ValidSms`` or raises one
``ApiError`` naming the field at fault; ``parse_list_query`` does the same for the query of
``GET /api/sms``. The response models below exist to generate the OpenAPI document: the routes
build their answers as plain dicts, and these models are not used to validate them at run time.

A refusal never echoes the client's text back (it may be private), only what is wrong and where.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

import phonenumbers
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema
from pydantic_core import ErrorDetails

from chalicelib.errors import (
    ApiError,
    PayloadTooLarge,
    UnprocessableEntity,
    UnsupportedMediaType,
    ValidationFailed,
)
from chalicelib.segments import GSM7_MULTI_PART, Encoding, SegmentInfo, count_segments

SmsStatus = Literal["pending", "processing", "retrying", "sent", "failed", "delivered", "undelivered"]
SMS_STATUSES: tuple[str, ...] = get_args(SmsStatus)

PHONE_EXAMPLE = "+14155550100"
MAX_SEGMENTS = 10
# No text longer than this fits in MAX_SEGMENTS parts in either encoding (every character costs
# at least one unit, and GSM-7's 153 units per part is the larger), so it is refused before counting.
MAX_TEXT_CHARS = MAX_SEGMENTS * GSM7_MULTI_PART
MAX_PHONE_CHARS = 64
DEFAULT_MAX_BODY_BYTES = 16384

LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100
CURSOR_MAX_CHARS = 2048
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+={0,2}$"  # urlsafe base64, as the store encodes its page keys

# Digits and the usual separators only: phonenumbers would also accept letters (vanity numbers),
# full-width digits and extensions, none of which can be delivered to an E.164 address.
_PHONE_CHARACTERS = re.compile(r"\+?[0-9 ().\-]+")
# C0 and C1 controls except \t \n \r: they would reach the handset as garbage or not at all.
_CONTROL_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_UNPAIRED_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads joins valid pairs into one character
_SHOWN_NAME_CHARS = 64


# --- POST /api/sms ---


class SendSmsBody(BaseModel):
    """The JSON body of ``POST /api/sms``."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        json_schema_extra={"examples": [{"phone": PHONE_EXAMPLE, "text": "Your code is 123456"}]},
    )

    phone: str = Field(
        min_length=1,
        max_length=MAX_PHONE_CHARS,
        description="Recipient in international format (E.164, spaces and ( ) . - allowed). "
        "National formats are accepted only when the gateway has a default region.",
        examples=[PHONE_EXAMPLE],
    )
    text: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description=f"Message text, at most {MAX_SEGMENTS} SMS segments (160/153 GSM-7 septets or "
        "70/67 UCS-2 units per segment). Control characters other than newline, carriage return "
        "and tab are refused.",
        examples=["Your code is 123456"],
    )


@dataclass(frozen=True)
class ValidSms:
    phone: str  # E.164
    text: str
    encoding: Encoding
    segments: int


def parse_send_request(
    raw_body: bytes | str | None,
    content_type: str | None,
    *,
    default_region: str | None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> ValidSms:
    """Validate the body of ``POST /api/sms``.

    Raises ``PayloadTooLarge`` (413), ``UnsupportedMediaType`` (415), ``ValidationFailed`` (400)
    for a malformed request, and ``UnprocessableEntity`` (422, code ``too_long``) for a well-formed
    text that needs more than ``MAX_SEGMENTS`` segments: the request is understood, but refused.
    """
    _check_body_size(raw_body, max_body_bytes)
    _require_json_media_type(content_type)
    fields = _decode_json_object(_body_text(raw_body))
    try:
        request = SendSmsBody.model_validate(fields)
    except ValidationError as exc:
        raise _body_refusal(min(exc.errors(), key=_refusal_priority)) from None
    phone = to_e164(request.phone, default_region)
    segment_info = _check_text(request.text)
    return ValidSms(phone, request.text, segment_info.encoding, segment_info.segments)


def to_e164(phone: str, default_region: str | None) -> str:
    """``phone`` in E.164; national formats are read as numbers of ``default_region`` when it is set."""
    candidate = phone.strip()
    if not _PHONE_CHARACTERS.fullmatch(candidate):
        raise _invalid_phone("phone may contain only digits, spaces, ( ) . - and a leading +")
    if not candidate.startswith("+") and default_region is None:
        raise _invalid_phone(f"phone must be in international format: + and the country code, e.g. {PHONE_EXAMPLE}")
    try:
        number = phonenumbers.parse(candidate, default_region)
    except phonenumbers.NumberParseException:
        raise _invalid_phone("phone is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise _invalid_phone("phone is not a valid number in its country's numbering plan")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _check_body_size(raw_body: bytes | str | None, max_body_bytes: int) -> None:
    encoded = raw_body.encode("utf-8", "surrogatepass") if isinstance(raw_body, str) else raw_body or b""
    size = len(encoded)
    if size > max_body_bytes:
        raise PayloadTooLarge(f"request body is {size} bytes; the limit is {max_body_bytes}")


def _body_text(raw_body: bytes | str | None) -> str:
    if raw_body is None or isinstance(raw_body, str):
        return raw_body or ""
    try:
        return raw_body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("request body is not UTF-8 text", field="body", code="invalid_json") from None


def _require_json_media_type(content_type: str | None) -> None:
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


def _decode_json_object(body: str) -> dict[str, Any]:
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
            shown = _shown_name(name)
            raise ValidationFailed(f"field {shown!r} appears twice", field=shown, code="duplicate_field")
        # pydantic cannot even read a name with an unpaired surrogate, so its error would name no field.
        if _UNPAIRED_SURROGATE.search(name):
            raise _unknown_field(name)
        fields[name] = value
    return fields


_REFUSAL_ORDER = ("extra_forbidden", "missing", "string_type")


def _refusal_priority(error: ErrorDetails) -> int:
    # An unknown field first: a client that sent "to" instead of "phone" learns the real cause.
    kind = error["type"]
    return _REFUSAL_ORDER.index(kind) if kind in _REFUSAL_ORDER else len(_REFUSAL_ORDER)


def _body_refusal(error: ErrorDetails) -> ApiError:
    field = str(error["loc"][0])
    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_field(field)
    if kind == "missing":
        return ValidationFailed(f"{field} is required", field=field, code="missing_field")
    if kind == "string_type":
        return ValidationFailed(f"{field} must be a JSON string", field=field, code="invalid_type")
    # What remains: the length bounds of SendSmsBody, and string_unicode (an unpaired surrogate,
    # which JSON's "\ud800" decodes to and UTF-8 cannot carry to a provider or the database).
    if field == "phone":
        return _invalid_phone(f"phone is not a phone number of at most {MAX_PHONE_CHARS} characters")
    if kind == "string_too_short":
        return _empty_text()
    if kind == "string_too_long":
        return UnprocessableEntity(
            f"text is longer than {MAX_TEXT_CHARS} characters, more than {MAX_SEGMENTS} SMS segments",
            field="text",
            code="too_long",
        )
    return ValidationFailed(
        "text has an unpaired UTF-16 surrogate, which is not a character",
        field="text",
        code="invalid_characters",
    )


def _check_text(text: str) -> SegmentInfo:
    if not text.strip():
        raise _empty_text()
    forbidden = _CONTROL_CHARACTER.search(text)
    if forbidden:
        raise ValidationFailed(
            f"text has a control character (U+{ord(forbidden.group()):04X}) at position {forbidden.start()}; "
            "only newline, carriage return and tab are allowed",
            field="text",
            code="invalid_characters",
        )
    segment_info = count_segments(text)
    if segment_info.segments > MAX_SEGMENTS:
        raise UnprocessableEntity(
            f"text needs {segment_info.segments} SMS segments ({segment_info.encoding}); the limit is {MAX_SEGMENTS}",
            field="text",
            code="too_long",
        )
    return segment_info


def _unknown_field(name: str) -> ValidationFailed:
    shown = _shown_name(name)
    return ValidationFailed(
        f"unknown field {shown!r}: the body takes only phone and text", field=shown, code="unknown_field"
    )


def _invalid_phone(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="phone", code="invalid_phone")


def _empty_text() -> ValidationFailed:
    return ValidationFailed("text is empty", field="text", code="empty_text")


def _shown_name(name: str) -> str:
    """A client-chosen name, made printable and cut short enough to put in an error and a log line."""
    printable = "".join(char if char.isprintable() else "?" for char in name)
    return printable if len(printable) <= _SHOWN_NAME_CHARS else printable[: _SHOWN_NAME_CHARS - 1] + "…"


# --- GET /api/sms ---


class ListQuery(BaseModel):
    """The filters and page of ``GET /api/sms``; every filter is optional, and they combine."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    status: SmsStatus | None = Field(default=None, description="Only requests in this status.")
    provider: str | None = Field(default=None, description="Only requests sent through this provider.")
    since: AwareDatetime | None = Field(
        default=None,
        description="Only requests created at or after this time (ISO-8601; without an offset it is UTC).",
    )
    until: AwareDatetime | None = Field(
        default=None,
        description="Only requests created at or before this time (ISO-8601; without an offset it is UTC).",
    )
    limit: int = Field(default=LIST_LIMIT_DEFAULT, ge=1, le=LIST_LIMIT_MAX, description="Page size.")
    cursor: str | None = Field(
        default=None,
        max_length=CURSOR_MAX_CHARS,
        pattern=CURSOR_PATTERN,
        description="The next_cursor of the previous page.",
    )


_QUERY_REFUSALS: dict[str, tuple[str, str]] = {
    "status": ("invalid_status", f"status must be one of: {', '.join(SMS_STATUSES)}"),
    "since": (
        "invalid_datetime",
        "since must be an ISO-8601 date-time such as 2024-05-01T12:00:00Z (write + in an offset as %2B)",
    ),
    "until": (
        "invalid_datetime",
        "until must be an ISO-8601 date-time such as 2024-05-01T12:00:00Z (write + in an offset as %2B)",
    ),
    "limit": ("invalid_limit", f"limit must be a whole number from 1 to {LIST_LIMIT_MAX}"),
    "cursor": ("invalid_cursor", "cursor must be the next_cursor of a page this API returned"),
}


def parse_list_query(params: Mapping[str, str] | None, *, known_providers: Sequence[str]) -> ListQuery:
    """Validate the query of ``GET /api/sms``; an empty value (``?status=``) means "not given"."""
    params = params or {}
    for name in params:
        if name not in ListQuery.model_fields:
            shown = _shown_name(name)
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
    if query.since and query.until and query.since > query.until:
        raise ValidationFailed("since must not be later than until", field="since", code="invalid_range")
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
        moment = datetime.fromisoformat(raw)  # Python 3.11 reads "Z", offsets and plain dates
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 shifted past the calendar
        raise _query_refusal(name) from None


def _query_refusal(name: str) -> ValidationFailed:
    code, message = _QUERY_REFUSALS[name]
    return ValidationFailed(message, field=name, code=code)


# --- Response shapes (for the OpenAPI document) ---

Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class SmsAccepted(BaseModel):
    """The answer to ``POST /api/sms``: the request is stored and queued."""

    id: str = Field(description="Request id, for GET /api/sms/{id}.")
    status: SmsStatus
    phone: str = Field(description="Recipient in E.164.", examples=[PHONE_EXAMPLE])
    encoding: Encoding
    segments: int = Field(ge=1, le=MAX_SEGMENTS)
    created_at: Timestamp


class AttemptView(BaseModel):
    """One try of one provider."""

    attempt: int = Field(ge=1, description="1 for the first try, 2 for the first retry, ...")
    provider: str
    status_code: int | None = Field(description="The provider's HTTP status; null on a timeout or network error.")
    latency_ms: int | None
    outcome: Literal["accepted", "refused", "throttled", "provider_failure"] = Field(
        description="What the gateway made of the answer: accepted (sent), refused (no retry), throttled (429: "
        "another provider, not a retry) or provider_failure (retried elsewhere with backoff)."
    )
    error: str | None
    at: Timestamp


class SmsSummary(BaseModel):
    """A request as it appears in a list."""

    id: str
    phone: str = Field(examples=[PHONE_EXAMPLE])
    status: SmsStatus
    provider_used: str | None = Field(description="The provider of the latest attempt; null before the first.")
    encoding: Encoding
    segments: int
    created_at: Timestamp
    updated_at: Timestamp
    next_attempt_at: Timestamp | None = Field(description="When a waiting retry is due; null otherwise.")
    last_error: str | None
    failure_reason: Literal["refused", "retries_exhausted", "expired"] | None = Field(
        description="Why a failed request failed; null otherwise."
    )
    provider_message_id: str | None = Field(description="The accepting provider's message id, once sent.")
    retries: int = Field(ge=0, description="Retries after provider failures so far (at most MAX_RETRIES).")


class SmsRequestView(SmsSummary):
    """A request with every attempt made for it."""

    attempts: list[AttemptView]


class SmsList(BaseModel):
    items: list[SmsSummary]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")


class ProviderView(BaseModel):
    name: str
    healthy: bool
    failure_rate: float = Field(ge=0, le=1, description="Failures / outcomes in the health window.")
    successes: int = Field(ge=0)
    failures: int = Field(ge=0)
    unhealthy_until: Timestamp | None
    rate_limit: int = Field(ge=1, description="Requests per second, over any 1-second window.")
    weight: int = Field(ge=1, description="Round-robin weight.")
    in_use_last_second: int = Field(ge=0, description="Requests sent to it in the last second.")


class ProviderList(BaseModel):
    providers: list[ProviderView]


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_phone"])
    message: str
    field: str | None = Field(description="The body field, query parameter or header at fault, if any.")
    request_id: str | None = Field(
        default=None,
        description="Only with code accept_outcome_unknown (503): the request was stored and will still be "
        "sent; GET /api/sms/{request_id} shows its outcome.",
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


class HealthView(BaseModel):
    status: str = Field(examples=["ok"])
    checks: dict[str, str] = Field(description="Each dependency and what its check found.")


IDEMPOTENCY_KEY_MAX_CHARS = 255
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,255}$"


def parse_idempotency_key(header: str | None) -> str | None:
    """The optional Idempotency-Key header: 1 to 255 printable ASCII characters, or absent."""
    if header is None:
        return None
    if not 1 <= len(header) <= IDEMPOTENCY_KEY_MAX_CHARS or not all(" " < c <= "~" for c in header):
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
            field="Idempotency-Key",
            code="invalid_idempotency_key",
        )
    return header
