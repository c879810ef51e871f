"""The request options of POST /api/sms, all optional: their bounds, their checks and their field-named refusals.

reference (the client's own id), from (sender id), validity_s (time to live), send_at (not before), callback_url
(status callbacks; where it may point is the callbacks' guard's question). The body model (send_body.py) states
them for the document; the rules that JSON Schema cannot state are checked here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from chalicelib.callbacks.targets import check_callback_url_syntax
from chalicelib.errors import ValidationFailed

# The request options (all optional). reference: the client's own id, echoed and filterable; any characters
# but controls, tab and newline included (the same rule as the list filter's: every reference stored can be
# asked for).
MAX_REFERENCE_CHARS = 128
REFERENCE_PATTERN = rf"^[^\x00-\x1f\x7f-\x9f]{{1,{MAX_REFERENCE_CHARS}}}$"
# from: an alphanumeric sender id (what networks pass: at most 11 GSM letters, digits and spaces, at least one
# letter, or it would be read as a number) or an E.164 number. ECMA-262 (JSON Schema) has the lookahead; the
# check in code is the same rule in two steps.
MAX_ALPHANUMERIC_SENDER = 11
SENDER_PATTERN = r"^(\+[1-9][0-9]{6,14}|(?=[A-Za-z0-9 ]*[A-Za-z])[A-Za-z0-9 ]{1,11})$"
_E164_SENDER = re.compile(r"\+[1-9][0-9]{6,14}")
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ]*[A-Za-z][A-Za-z0-9 ]*")
# validity_s: the message's own time to live. 72 h is the longest any adapted vendor keeps a message (AWS
# TimeToLive); a minute is the least that survives a retry or two.
MIN_VALIDITY_S = 60
MAX_VALIDITY_S = 72 * 3600
# send_at's window (MAX_SCHEDULE_AHEAD_S, SEND_AT_SKEW_S) is intake's rule: chalicelib/valid_sms.py.
MAX_CALLBACK_URL_CHARS = 2048


def check_sender(sender: str | None) -> str | None:
    if sender is None or _E164_SENDER.fullmatch(sender):
        return sender
    if len(sender) <= MAX_ALPHANUMERIC_SENDER and _ALPHANUMERIC_SENDER.fullmatch(sender):
        return sender
    raise option_refusal("from")


def parse_send_at(raw: str | None) -> float | None:
    """An ISO-8601 time with its offset, as epoch seconds; a time without an offset is ambiguous: refused."""
    if raw is None:
        return None
    if not raw.isascii():
        raise option_refusal("send_at")
    try:
        moment = datetime.fromisoformat(raw.upper())  # Python 3.11 reads "Z" and offsets
    except ValueError:
        raise option_refusal("send_at") from None
    if moment.tzinfo is None:
        raise ValidationFailed("send_at needs a UTC offset (Z or +hh:mm), e.g. 2026-12-01T09:00:00Z",
                               field="send_at", code="invalid_send_at")
    try:
        return moment.astimezone(UTC).timestamp()
    except (OverflowError, ValueError):  # year 1 or 9999 pushed off the calendar by its offset
        raise option_refusal("send_at") from None


def check_callback_url(url: str | None, *, allow_http: bool) -> str | None:
    """Syntax only (https, a host, no credentials; http on a local stack). Where it points is the guard's
    question (check_callback_target), asked at acceptance and again before each delivery."""
    if url is not None:
        check_callback_url_syntax(url, local=allow_http)
    return url


# One refusal per option: its code and the rule it broke (never the value, which may be private).
OPTION_REFUSALS: dict[str, tuple[str, str]] = {
    "reference": ("invalid_reference",
                  f"reference must be 1 to {MAX_REFERENCE_CHARS} characters without control characters"),
    "from": ("invalid_sender",
             f"from must be an alphanumeric sender id of at most {MAX_ALPHANUMERIC_SENDER} letters, digits and "
             "spaces with at least one letter, or an E.164 number such as +14155550100"),
    "validity_s": ("invalid_validity",
                   f"validity_s must be a whole number of seconds from {MIN_VALIDITY_S} to {MAX_VALIDITY_S}"),
    "send_at": ("invalid_send_at",
                "send_at must be an ISO-8601 date-time with a UTC offset, such as 2026-12-01T09:00:00Z"),
    "callback_url": ("invalid_callback_url",
                     f"callback_url must be an absolute https URL with a host, at most {MAX_CALLBACK_URL_CHARS} "
                     "characters"),
}


def option_refusal(field: str) -> ValidationFailed:
    code, message = OPTION_REFUSALS[field]
    return ValidationFailed(message, field=field, code=code)
