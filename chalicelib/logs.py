"""Structured JSON logs (Powertools Logger) that never carry message text, keys or whole numbers.

Every line goes through ``RedactingFormatter.serialize``, the one place all log output passes, so
privacy does not depend on each call site remembering it:

    field named ...                          becomes
    text, body, api_key, authorization, ...  "[redacted]"          (message text, credentials)
    phone, to                                mask_phone(value)     (+1415*****00)
    any string anywhere (message, errors,    every +<digits> run masked, "Bearer <token>" redacted
    exception text, stack trace)

A request id follows one SMS from the API to the dispatcher: the API logs it when it accepts the
request, the queue body carries it, and the dispatcher puts it on every line of that record with
``log_context(request_id=...)`` (context-local keys: the dispatcher works records in threads).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

REDACTED = "[redacted]"
# Lower-cased field names whose value is never written: message text and every kind of credential.
SECRET_FIELDS = frozenset({
    "text", "body", "raw_body", "payload", "message_text", "api_key", "apikey", "x-api-key", "x_api_key",
    "authorization", "password", "secret", "token", "access_token", "aws_secret_access_key",
    "aws_session_token", "idempotency_key", "idempotency-key",
})
PHONE_FIELDS = frozenset({"phone", "to", "recipient", "msisdn"})
# A "+" and at least 7 digits with the separators people type: an E.164 or international number.
_PHONE_IN_TEXT = re.compile(r"\+\d[\d ().-]{5,}\d")
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")


def mask_phone(phone: str | None) -> str:
    """+14155550100 -> +1415*****00: enough to tell numbers apart in an incident, not to dial one."""
    if not phone:
        return ""
    if len(phone) <= 6:
        return "*" * len(phone)
    return phone[:5] + "*" * (len(phone) - 7) + phone[-2:]


def scrub_text(value: str) -> str:
    """Mask every phone number and bearer token inside free text (messages, errors, tracebacks)."""
    value = _BEARER.sub("Bearer " + REDACTED, value)
    return _PHONE_IN_TEXT.sub(lambda match: mask_phone(re.sub(r"[ ().-]", "", match.group())), value)


def redact(value: Any, field: str | None = None) -> Any:
    """A copy of a log value with secrets removed, phone numbers masked, recursively."""
    name = field.lower() if isinstance(field, str) else None
    if name in SECRET_FIELDS:
        return REDACTED
    if name in PHONE_FIELDS and isinstance(value, str):
        return mask_phone(value)
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: redact(item, key) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub_text(str(value))  # an exception or any other object: written as its text, scrubbed


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, with every record passed through ``redact`` before it is written."""

    def serialize(self, log: dict) -> str:  # type: ignore[override]
        return super().serialize(log=redact(log))


logger = Logger(service="sms-gateway", use_rfc3339=True, logger_formatter=RedactingFormatter(use_rfc3339=True))


@contextmanager
def log_context(**keys: Any) -> Iterator[None]:
    """Add keys (request_id, sqs_message_id ...) to every line logged in this thread/context, then drop them."""
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(keys.keys())
