"""The body of ``POST /api/sms``: what a client may send, and how it is checked.

``parse_send_request`` turns the raw body into a ``ValidSms`` or raises one ``ApiError`` naming the
field at fault. A refusal never echoes the client's text back (it may be private), only what is
wrong and where.
"""

from __future__ import annotations

import re
from collections.abc import Collection

import phonenumbers
from phonenumbers import PhoneNumberType
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from chalicelib.api.json_body import read_json_object
from chalicelib.api.params import shown_name
from chalicelib.api.send_options import (
    MAX_ALPHANUMERIC_SENDER,
    MAX_CALLBACK_URL_CHARS,
    MAX_REFERENCE_CHARS,
    MAX_VALIDITY_S,
    MIN_VALIDITY_S,
    OPTION_REFUSALS,
    REFERENCE_PATTERN,
    SENDER_PATTERN,
    check_callback_url,
    check_sender,
    option_refusal,
    parse_send_at,
)
from chalicelib.errors import ApiError, UnprocessableEntity, ValidationFailed
from chalicelib.segments import GSM7_MULTI_PART, SegmentInfo, count_segments
from chalicelib.valid_sms import SEND_AT_SKEW_S, ValidSms

PHONE_EXAMPLE = "+14155550100"
MAX_SEGMENTS = 10
# No text longer than this fits in MAX_SEGMENTS parts in either encoding (every character costs
# at least one unit, and GSM-7's 153 units per part is the larger), so it is refused before counting.
MAX_TEXT_CHARS = MAX_SEGMENTS * GSM7_MULTI_PART
MAX_PHONE_CHARS = 64
E164_MAX_DIGITS = 15

# Digits and the usual separators only: phonenumbers would also accept letters (vanity numbers),
# full-width digits and extensions, none of which can be delivered to an E.164 address.
_PHONE_CHARACTERS = re.compile(r"\+?[0-9 ().\-]+")
# C0 and C1 controls except \t \n \r: they would reach the handset as garbage or not at all.
_CONTROL_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_UNPAIRED_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads joins valid pairs into one character
# Characters that show nothing: whitespace (exactly what str.isspace() is true for, outside the controls
# refused above), and the zero-width, format and filler characters that render as nothing (soft hyphen,
# joiners, bidi marks, BOM, variation selectors, Hangul fillers, the blank Braille pattern). A text made only
# of these is refused as empty.
_BLANK = r"\t\n\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVISIBLE = (r"\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u2064"
              r"\u2066-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0")
_VISIBLE = re.compile(f"[^{_INVISIBLE}{_BLANK}]")
# What _check_text and pydantic accept, as one JSON Schema pattern for the OpenAPI document (the checks
# themselves keep their own messages): no control character but \t \n \r, and at least one character that
# shows. \s is avoided because regex dialects disagree on it. (A lone surrogate is no Unicode character, so
# no JSON Schema string holds one; pydantic refuses it.)
_REFUSED = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
TEXT_PATTERN = f"^[^{_REFUSED}]*[^{_REFUSED}{_BLANK}{_INVISIBLE}][^{_REFUSED}]*$"
# Not a regex: whether a number is dialable depends on its country's numbering plan (phonenumbers).
PHONE_FORMAT = "phone"



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
        json_schema_extra={"format": PHONE_FORMAT},
    )
    text: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description=f"Message text, at most {MAX_SEGMENTS} SMS segments (160/153 GSM-7 septets or "
        "70/67 UCS-2 units per segment). Control characters other than newline, carriage return "
        "and tab are refused, and so is a text of whitespace only.",
        examples=["Your code is 123456"],
        json_schema_extra={"pattern": TEXT_PATTERN},
    )
    reference: str | None = Field(
        default=None,
        max_length=MAX_REFERENCE_CHARS,
        pattern=REFERENCE_PATTERN,
        description=f"Your own id for this message, 1-{MAX_REFERENCE_CHARS} characters (no control characters). "
        "Stored, returned in every answer about the request, and a filter of GET /api/sms. Not unique: "
        "use Idempotency-Key to make retries safe.",
        examples=["order-1234"],
    )
    sender: str | None = Field(
        default=None,
        alias="from",
        max_length=16,
        description=f"Sender id shown on the handset: an alphanumeric id of at most {MAX_ALPHANUMERIC_SENDER} "
        "letters, digits and spaces with at least one letter, or an E.164 number. Only one of your client entry's "
        "senders or a provider's configured sender; anything else is 422 sender_not_allowed. Absent: the "
        "provider's configured sender.",
        examples=["ACME"],
        json_schema_extra={"pattern": SENDER_PATTERN},
    )
    validity_s: int | None = Field(
        default=None,
        ge=MIN_VALIDITY_S,
        le=MAX_VALIDITY_S,
        description="Time to live in seconds, counted from send_at (or acceptance): a message not sent by then "
        "ends failed (expired), and the provider is told what is left of it. Absent: MESSAGE_TTL_S.",
        examples=[600],
    )
    send_at: str | None = Field(
        default=None,
        max_length=64,
        # No example: any fixed time is in the past one day, and refused.
        description="Send no earlier than this time: ISO-8601 with a UTC offset (Z or +hh:mm), such as "
        "2026-12-01T09:00:00Z, at most 7 days ahead; up to "
        f"{SEND_AT_SKEW_S} s in the past is read as now. The request stays pending until then.",
        json_schema_extra={"format": "date-time"},
    )
    callback_url: str | None = Field(
        default=None,
        max_length=MAX_CALLBACK_URL_CHARS,
        description="Where the gateway POSTs signed status callbacks (sent, failed, delivered, undelivered) for "
        "this request: an https URL whose host resolves to public addresses only (http on a local stack). "
        "Without it, the client's default callback URL (if any) is used.",
        examples=["https://example.com/sms-status"],
        json_schema_extra={"format": "uri"},
    )


def parse_send_request(
    raw_body: bytes | str | None,
    content_type: str | None,
    *,
    default_region: str | None,
    max_body_bytes: int,
    allowed_number_types: Collection[str] = ("MOBILE", "FIXED_LINE_OR_MOBILE", "VOIP", "UNKNOWN"),
    allow_http_callback: bool = False,
) -> ValidSms:
    """Validate the body of ``POST /api/sms``.

    Raises ``PayloadTooLarge`` (413), ``UnsupportedMediaType`` (415), ``ValidationFailed`` (400)
    for a malformed request, and ``UnprocessableEntity`` (422) for a well-formed request that is
    refused: a text of more than ``MAX_SEGMENTS`` segments (``too_long``), a number of a type that cannot
    take an SMS or costs the sender extra (``number_type_not_allowed``).
    """
    fields = read_json_object(raw_body, content_type, max_body_bytes)
    for name in fields:  # pydantic cannot even read a name with an unpaired surrogate: its error would name no field
        if _UNPAIRED_SURROGATE.search(name):
            raise _unknown_field(name)
    validity = fields.get("validity_s")
    if isinstance(validity, float) and validity.is_integer():
        fields["validity_s"] = int(validity)  # 600.0 is the integer 600 in JSON (and in its Schema)
    try:
        request = SendSmsBody.model_validate(fields)
    except ValidationError as exc:
        raise _body_refusal(min(exc.errors(), key=_refusal_priority)) from None
    number = parse_number(request.phone, default_region)
    number_type = _number_type(number, allowed_number_types)
    segment_info = _check_text(request.text)
    return ValidSms(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), request.text,
                    segment_info.encoding, segment_info.segments,
                    country=phonenumbers.region_code_for_number(number) or None, number_type=number_type,
                    reference=request.reference, sender=check_sender(request.sender),
                    validity_s=request.validity_s, send_at=parse_send_at(request.send_at),
                    callback_url=check_callback_url(request.callback_url, allow_http=allow_http_callback))


def _number_type(number: phonenumbers.PhoneNumber, allowed: Collection[str]) -> str:
    kind = PhoneNumberType.to_string(phonenumbers.number_type(number))
    if kind not in allowed:
        raise UnprocessableEntity(
            f"phone is a {kind} number; this gateway sends only to {', '.join(allowed)} numbers",
            field="phone", code="number_type_not_allowed")
    return kind


def to_e164(phone: str, default_region: str | None) -> str:
    """``phone`` in E.164; national formats are read as numbers of ``default_region`` when it is set."""
    return phonenumbers.format_number(parse_number(phone, default_region), phonenumbers.PhoneNumberFormat.E164)


def parse_number(phone: str, default_region: str | None) -> phonenumbers.PhoneNumber:
    """A valid number; national formats are read as numbers of ``default_region`` when it is set."""
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
    if len(str(number.country_code)) + len(str(number.national_number)) > E164_MAX_DIGITS:
        raise _invalid_phone(f"phone has more than the {E164_MAX_DIGITS} digits an international number can have")
    return number


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
    if field in OPTION_REFUSALS:
        return option_refusal(field)
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
    if not _VISIBLE.search(text):
        raise ValidationFailed("text has no visible character (only spaces, zero-width or format characters)",
                               field="text", code="empty_text")
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


BODY_FIELDS = ("phone", "text", "reference", "from", "validity_s", "send_at", "callback_url")


def _unknown_field(name: str) -> ValidationFailed:
    shown = shown_name(name)
    return ValidationFailed(
        f"unknown field {shown!r}: the body takes only {', '.join(BODY_FIELDS)}", field=shown, code="unknown_field"
    )


def _invalid_phone(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="phone", code="invalid_phone")


def _empty_text() -> ValidationFailed:
    return ValidationFailed("text is empty", field="text", code="empty_text")
