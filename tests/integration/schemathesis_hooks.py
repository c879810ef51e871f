"""Schemathesis hooks for the API fuzz run (tests/integration/test_fuzz_api.py, schemathesis.toml).

The document says `phone` has format "phone": a number dialable in its country's numbering plan, which no
regular expression can state. This teaches the generator what such strings look like: the example numbers
phonenumbers ships for many countries, written in the ways the API accepts (E.164, spaced, dashed).
"""

from __future__ import annotations

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
