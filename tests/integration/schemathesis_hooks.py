"""Schemathesis hooks for the API fuzz run (tests/integration/test_fuzz_api.py, schemathesis.toml).

The document says `phone` has format "phone": a number dialable in its country's numbering plan, which no
regular expression can state. This teaches the generator what such strings look like: the example numbers
phonenumbers ships for many countries, written in the ways the API accepts (E.164, spaced, dashed).

Two standard formats get the values the gateway accepts, for the same reason: a `date-time` is a `send_at`
(within its window, which moves with the clock: from now to 7 days ahead) or a list's `since`/`until` (any
time will do, so these do too); a `uri` is a `callback_url` (https, or http on the local stack).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import phonenumbers
import schemathesis
from hypothesis import strategies as st

from chalicelib.api.send_body import PHONE_FORMAT


def _dialable_numbers() -> list[str]:
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None and phonenumbers.is_valid_number(example):
                numbers.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
                numbers.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
    return numbers


schemathesis.openapi.format(PHONE_FORMAT, st.sampled_from(_dialable_numbers()))


def _time_ahead(seconds: int, offset_minutes: int) -> str:
    # Read at generation time: the window moves with the clock.
    moment = datetime.fromtimestamp(time.time() + seconds, UTC).astimezone(timezone(timedelta(minutes=offset_minutes)))
    return moment.isoformat()


schemathesis.openapi.format("date-time", st.builds(_time_ahead, st.integers(0, 6 * 86400),
                                                   st.sampled_from([0, 60, -300, 330, 765])))
schemathesis.openapi.format("uri", st.sampled_from(["https://example.com/sms-status", "https://hooks.example.org/s?t=1",
                                                     "http://127.0.0.1:9999/callback"]))
