"""Hypothesis against the validators: whatever a client sends, the answer is a ValidSms or a GatewayError
(a 4xx with a field), never another exception, and the segment count agrees with the text.

Budget: FUZZ_MAX_EXAMPLES examples per property (75 in the suite); a long run sets it higher:
    FUZZ_MAX_EXAMPLES=5000 .venv/bin/python -m pytest tests/unit/test_validators_fuzz.py -p no:cacheprovider
"""

from __future__ import annotations

import json
import math
import os
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.api.http_errors import status_of
from chalicelib.api.send_body import MAX_SEGMENTS, ValidSms, parse_send_request, to_e164
from chalicelib.errors import ApiError, GatewayError
from chalicelib.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    GSM7_MULTI_PART,
    GSM7_SINGLE_PART,
    UCS2_MULTI_PART,
    UCS2_SINGLE_PART,
    count_segments,
)

pytestmark = pytest.mark.unit

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_MAX_EXAMPLES", "75")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
PHONE_LIKE = st.text(alphabet="+0123456789 ()-.", min_size=0, max_size=24)
ANY_PHONE = PHONE_LIKE | st.text(max_size=30) | st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)
GSM_TEXT = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=1600)
ANY_TEXT = GSM_TEXT | st.text(max_size=800) | st.text(alphabet=st.characters(min_codepoint=0x1F300), max_size=400)
JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)


def _units(text: str) -> int:
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        return sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


# ----------------------------------------------------------------- phone


@FUZZ
@given(ANY_PHONE, st.sampled_from([None, "US", "GB", "DE", "IN"]))
@example("+14155550100", None)
@example("(415) 555-0100", "US")
@example("+", None)
@example("0" * 64, "GB")
def test_phone_is_e164_or_a_refusal_naming_the_phone(raw, region):
    try:
        phone = to_e164(raw, region)
    except GatewayError as exc:
        assert isinstance(exc, ApiError) and status_of(exc) == 400
        assert exc.field == "phone"
        return
    assert E164.fullmatch(phone), phone
    assert to_e164(phone, None) == phone  # E.164 is a fixed point: storing and re-reading changes nothing


# ----------------------------------------------------------------- segments


@FUZZ
@given(ANY_TEXT)
@example("a" * 152 + "{" + "a" * 152)
@example("\U0001f600" * 34)
def test_segments_are_consistent_with_the_text(text):
    info = count_segments(text)
    gsm = all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)
    assert info.encoding == ("GSM-7" if gsm else "UCS-2")
    assert info.units == _units(text)
    single, multi = (GSM7_SINGLE_PART, GSM7_MULTI_PART) if gsm else (UCS2_SINGLE_PART, UCS2_MULTI_PART)
    if info.units <= single:
        assert info.segments == 1
    else:
        # Whole parts hold at least multi-1 units (a two-unit character may move on), at most multi.
        assert math.ceil(info.units / multi) <= info.segments <= math.ceil(info.units / (multi - 1))
        assert info.segments >= 2


@FUZZ
@given(GSM_TEXT | st.text(max_size=300), st.text(max_size=40))
def test_a_longer_text_never_needs_fewer_segments_in_the_same_encoding(text, more):
    before, after = count_segments(text), count_segments(text + more)
    if before.encoding == after.encoding:
        assert after.segments >= before.segments


# ----------------------------------------------------------------- the whole body


def _body(draw_phone, draw_text, extra):
    fields = {"phone": draw_phone, "text": draw_text, **extra}
    return json.dumps(fields, ensure_ascii=False)


@FUZZ
@given(
    ANY_PHONE | JSON_LEAF,
    ANY_TEXT | JSON_LEAF,
    st.dictionaries(st.text(max_size=8), JSON_LEAF, max_size=2),
    st.sampled_from([None, "US"]),
)
def test_any_json_body_is_a_valid_sms_or_a_4xx_naming_a_field(phone, text, extra, region):
    raw = _body(phone, text, extra)
    try:
        sms = parse_send_request(raw.encode("utf-8", "surrogatepass"), "application/json", default_region=region,
                                 max_body_bytes=16384)
    except GatewayError as exc:
        assert isinstance(exc, ApiError) and 400 <= status_of(exc) < 500, exc
        assert exc.field is not None, exc  # may be "" when the unknown field's name is ""
        if isinstance(text, str) and len(text) >= 12 and text.strip():
            assert text not in exc.message  # a refusal never echoes the message text
        return
    assert isinstance(sms, ValidSms)
    assert E164.fullmatch(sms.phone)
    info = count_segments(sms.text)
    assert (sms.encoding, sms.segments) == (info.encoding, info.segments)
    assert 1 <= sms.segments <= MAX_SEGMENTS


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode), st.sampled_from(
    [None, "application/json", "application/json; charset=latin-1", "text/plain", "application/vnd+json", ""]))
def test_any_bytes_are_a_valid_sms_or_a_gateway_error(raw, content_type):
    try:
        parse_send_request(raw, content_type, default_region=None, max_body_bytes=256)
    except GatewayError as exc:
        assert isinstance(exc, ApiError) and status_of(exc) in (400, 413, 415, 422)


# ----------------------------------------------------------------- the options

OPTION_VALUES = {
    "reference": st.text(max_size=140) | JSON_LEAF,
    "from": st.from_regex(r"\+?[A-Za-z0-9 ]{0,16}", fullmatch=True) | JSON_LEAF,
    "validity_s": st.integers(0, 300_000) | JSON_LEAF,
    "send_at": st.datetimes(timezones=st.none() | st.timezones()).map(lambda moment: moment.isoformat()) | JSON_LEAF,
    "callback_url": st.sampled_from(["https://", "http://", "ftp://", ""]).flatmap(
        lambda scheme: st.text(max_size=40).map(scheme.__add__)) | JSON_LEAF,
}


@FUZZ
@given(st.fixed_dictionaries({}, optional=OPTION_VALUES))
def test_any_options_are_taken_or_refused_naming_the_option(options):
    raw = json.dumps({"phone": "+14155550100", "text": "hello", **options}, ensure_ascii=False)
    try:
        sms = parse_send_request(raw.encode("utf-8", "surrogatepass"), "application/json", default_region=None,
                                 max_body_bytes=16384)
    except GatewayError as exc:
        assert isinstance(exc, ApiError) and status_of(exc) == 400, exc
        assert exc.field in options, exc
        return
    given_values = (sms.reference, sms.sender, sms.validity_s, sms.callback_url)
    assert given_values == tuple(options.get(name) for name in ("reference", "from", "validity_s", "callback_url"))
    assert (sms.send_at is None) == (options.get("send_at") is None)  # null is "not given"
