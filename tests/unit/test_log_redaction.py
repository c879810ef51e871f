"""What the logs give away: nothing. The redaction rules, one log call at a time (the full requests through
the app are in tests/functional/test_logging_privacy.py)."""

from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.logs import REDACTED, logger, mask_phone, redact, scrub_text

pytestmark = pytest.mark.unit

PHONE = "+14155550123"
NATIONAL_DIGITS = "4155550123"  # the number without its country code: must not appear either
TEXT = "Your one-time code is 918273 - secret-words-zebra"
PROVIDER_KEY = "provider-secret-" + uuid.uuid4().hex


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param({"phone": PHONE}, {"phone": mask_phone(PHONE)}, id="phone-field-masked"),
        pytest.param({"to": PHONE}, {"to": mask_phone(PHONE)}, id="provider-to-field-masked"),
        pytest.param({"text": TEXT}, {"text": REDACTED}, id="text-field-redacted"),
        pytest.param({"api_key": PROVIDER_KEY}, {"api_key": REDACTED}, id="api-key-redacted"),
        pytest.param({"headers": {"Authorization": f"Bearer {PROVIDER_KEY}"}},
                     {"headers": {"Authorization": REDACTED}}, id="nested-authorization-redacted"),
        pytest.param({"error": f"provider said: bad number {PHONE}"},
                     {"error": f"provider said: bad number {mask_phone(PHONE)}"}, id="number-inside-text-masked"),
        pytest.param({"payload": {"to": PHONE, "text": TEXT}}, {"payload": REDACTED}, id="whole-payload-redacted"),
    ],
)
def test_careless_log_calls_are_redacted_anyway(log_output, extra, expected):
    stream = log_output
    logger.info("careless", extra=extra)
    record = json.loads(stream.getvalue().splitlines()[-1])
    assert {key: record[key] for key in expected} == expected


def test_a_logged_exception_carries_no_number_and_no_bearer_token(log_output):
    stream = log_output
    try:
        raise RuntimeError(f"send to {PHONE} failed with Authorization: Bearer {PROVIDER_KEY}")
    except RuntimeError:
        logger.exception("unexpected error")
    output = stream.getvalue()
    assert PHONE not in output and NATIONAL_DIGITS not in output and PROVIDER_KEY not in output
    assert "RuntimeError" in output  # the trace is still useful


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        pytest.param("+14155550100", "+1415*****00", id="e164"),
        pytest.param("+44 20 7946 0958", "+4420******58", id="spaced-international"),
        pytest.param("(+1) 415-555-0100", "(+1415*****00", id="bracketed-country-code"),
        pytest.param("request 0123456789abcdef0123456789abcdef", "request 0123456789abcdef0123456789abcdef",
                     id="request-ids-are-not-numbers"),
    ],
)
def test_scrub_text_masks_international_numbers_only(raw, shown):
    assert scrub_text(raw) == shown


def test_redact_keeps_numbers_and_flags():
    assert redact({"attempt": 2, "healthy": False, "latency_ms": 12.5, "provider": None}) == {
        "attempt": 2, "healthy": False, "latency_ms": 12.5, "provider": None}
