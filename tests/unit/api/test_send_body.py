"""The body of POST /api/sms: every refusal names its field, every acceptance is normalised."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.api.http_errors import status_of
from chalicelib.api.send_body import MAX_TEXT_CHARS, SendSmsBody, ValidSms, parse_send_request
from chalicelib.errors import ApiError
from tests.unit.api.helpers import assert_refused_as_client_error

pytestmark = pytest.mark.unit

PHONE = "+14155550100"


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


def send(raw_body, content_type="application/json", *, default_region=None, max_body_bytes=16384):
    return parse_send_request(raw_body, content_type, default_region=default_region, max_body_bytes=max_body_bytes)


# --- POST /api/sms: refusals ---


def bad(raw_body, status, code, field, *, id, content_type="application/json", region=None):
    return pytest.param(raw_body, content_type, region, status, code, field, id=id)


# fmt: off
BAD_SEND_REQUESTS = [
    bad(body(phone=PHONE, text="a" * 20_000), 413, "payload_too_large", None, id="body-over-limit"),
    bad(json.dumps({"phone": PHONE, "text": "€" * 6000}, ensure_ascii=False), 413, "payload_too_large", None,
        id="str-body-over-limit-in-utf8-bytes"),
    bad(body(phone=PHONE, text="hi"), 415, "unsupported_media_type", "Content-Type",
        content_type="text/plain", id="content-type-text-plain"),
    bad(b"phone=%2B14155550100&text=hi", 415, "unsupported_media_type", "Content-Type",
        content_type="application/x-www-form-urlencoded", id="content-type-form"),
    bad(body(phone=PHONE, text="hi"), 415, "unsupported_media_type", "Content-Type",
        content_type="application/jsonx", id="content-type-json-lookalike"),
    bad(body(phone=PHONE, text="hi"), 415, "unsupported_media_type", "Content-Type",
        content_type="application/json; charset=latin-1", id="content-type-charset-not-utf8"),
    bad(None, 400, "invalid_body", "body", id="no-body"),
    bad(b"", 400, "invalid_body", "body", id="empty-body"),
    bad(b" \n ", 400, "invalid_body", "body", id="blank-body"),
    bad(b"{", 400, "invalid_json", "body", id="truncated-json"),
    bad(b"\xff\xfe{}", 400, "invalid_json", "body", id="not-utf8"),
    bad(b"[" * 10_000, 400, "invalid_json", "body", id="deep-nesting"),
    bad(b"1" * 5_000, 400, "invalid_json", "body", id="huge-integer"),
    bad(b"[]", 400, "invalid_body", "body", id="json-array"),
    bad(b'"hi"', 400, "invalid_body", "body", id="json-string"),
    bad(b"null", 400, "invalid_body", "body", id="json-null"),
    bad(b'{"phone": "+14155550100", "phone": "+14155550101", "text": "hi"}', 400, "duplicate_field", "phone",
        id="duplicate-field"),
    bad(body(phone=PHONE, text="hi", to=PHONE), 400, "unknown_field", "to", id="unknown-field"),
    bad(body(to=PHONE, text="hi"), 400, "unknown_field", "to",
        id="unknown-field-reported-before-missing-one"),
    bad(body(phone=PHONE, text="hi", **{"x" * 500: 1}), 400, "unknown_field", "x" * 63 + "…",
        id="unknown-field-name-cut-short"),
    bad(b'{"phone": "+14155550100", "text": "hi", "a\\nb\\ud800": 1}', 400, "unknown_field", "a?b?",
        id="unknown-field-name-made-printable"),
    bad(body(text="hi"), 400, "missing_field", "phone", id="missing-phone"),
    bad(body(phone=PHONE), 400, "missing_field", "text", id="missing-text"),
    bad(body(phone=14155550100, text="hi"), 400, "invalid_type", "phone", id="phone-is-a-number"),
    bad(body(phone={"number": PHONE}, text="hi"), 400, "invalid_type", "phone", id="phone-is-an-object"),
    bad(body(phone=PHONE, text=None), 400, "invalid_type", "text", id="text-is-null"),
    bad(body(phone=PHONE, text=["hi"]), 400, "invalid_type", "text", id="text-is-a-list"),
    bad(body(phone="", text="hi"), 400, "invalid_phone", "phone", id="phone-empty"),
    bad(body(phone="+1" + "0" * 70, text="hi"), 400, "invalid_phone", "phone", id="phone-too-long"),
    bad(body(phone="+1 800 FLOWERS", text="hi"), 400, "invalid_phone", "phone", id="phone-with-letters"),
    bad(body(phone=PHONE + ";ext=12", text="hi"), 400, "invalid_phone", "phone", id="phone-with-extension"),
    bad(body(phone="(415) 555-0100", text="hi"), 400, "invalid_phone", "phone",
        id="national-format-without-default-region"),
    bad(body(phone="(415) 555-0100", text="hi"), 400, "invalid_phone", "phone", region="ZZ",
        id="national-format-with-unknown-region"),
    bad(body(phone="+", text="hi"), 400, "invalid_phone", "phone", id="phone-only-plus"),
    bad(body(phone="+1 415 555", text="hi"), 400, "invalid_phone", "phone",
        id="phone-too-short-for-its-country"),
    bad(b'{"phone": "+1415\\ud800", "text": "hi"}', 400, "invalid_phone", "phone",
        id="phone-unpaired-surrogate"),
    bad(body(phone=PHONE, text=""), 400, "empty_text", "text", id="text-empty"),
    bad(body(phone=PHONE, text=" \n\t "), 400, "empty_text", "text", id="text-only-whitespace"),
    bad(body(phone=PHONE, text="hi\x00"), 400, "invalid_characters", "text", id="text-nul"),
    bad(body(phone=PHONE, text="bell\x07"), 400, "invalid_characters", "text", id="text-bell"),
    bad(body(phone=PHONE, text="esc\x1b[1m"), 400, "invalid_characters", "text", id="text-escape-sequence"),
    bad(body(phone=PHONE, text="del\x7f"), 400, "invalid_characters", "text", id="text-delete"),
    bad(body(phone=PHONE, text="c1\x85"), 400, "invalid_characters", "text", id="text-c1-control"),
    bad(b'{"phone": "+14155550100", "text": "hi \\ud800"}', 400, "invalid_characters", "text",
        id="text-unpaired-surrogate"),
    bad(body(phone=PHONE, text="a" * (MAX_TEXT_CHARS + 1)), 422, "too_long", "text",
        id="text-more-characters-than-ten-segments-hold"),
    bad(body(phone=PHONE, text="ж" * 671), 422, "too_long", "text", id="text-eleven-ucs2-segments"),
    bad(body(phone=PHONE, text="{" * 766), 422, "too_long", "text",
        id="text-eleven-gsm-segments-of-escape-pairs"),
]
# fmt: on


@pytest.mark.parametrize(("raw_body", "content_type", "default_region", "status", "code", "field"), BAD_SEND_REQUESTS)
def test_bad_send_request_is_refused_with_its_field(raw_body, content_type, default_region, status, code, field):
    with pytest.raises(ApiError) as refused:
        send(raw_body, content_type, default_region=default_region)
    assert (status_of(refused.value), refused.value.code, refused.value.field) == (status, code, field)
    assert refused.value.message


def test_first_length_error_wins_when_both_fields_are_out_of_bounds():
    with pytest.raises(ApiError) as refused:
        send(body(phone="", text="a" * (MAX_TEXT_CHARS + 1)))
    assert refused.value.field == "phone"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("my pin is SECRET-1234 \x00", id="control-character"),
        pytest.param("SECRET-1234 " + "ж" * 700, id="too-many-segments"),
        pytest.param("SECRET-1234 " + "a" * MAX_TEXT_CHARS, id="too-many-characters"),
    ],
)
def test_refusal_never_echoes_the_text(text):
    with pytest.raises(ApiError) as refused:
        send(body(phone=PHONE, text=text))
    assert "SECRET-1234" not in refused.value.message


# --- POST /api/sms: accepted ---


@pytest.mark.parametrize(
    ("phone", "default_region", "e164"),
    [
        pytest.param("+1 (415) 555-0100", None, PHONE, id="formatted-international"),
        pytest.param(PHONE, None, PHONE, id="already-e164"),
        pytest.param("  +1.415.555.0100 ", None, PHONE, id="dots-and-surrounding-spaces"),
        pytest.param("(415) 555-0100", "US", PHONE, id="national-format-with-default-region"),
        pytest.param("+44 7400 123456", "US", "+447400123456", id="international-wins-over-default-region"),
        pytest.param("07400 123456", "GB", "+447400123456", id="national-format-gb"),
    ],
)
def test_phone_is_normalised_to_e164(phone, default_region, e164):
    assert send(body(phone=phone, text="hi"), default_region=default_region).phone == e164


@pytest.mark.parametrize(
    ("phone", "kind"),
    [
        pytest.param("+19005550100", "PREMIUM_RATE", id="us-900-premium-rate"),
        pytest.param("+448000000000", "TOLL_FREE", id="uk-0800-toll-free"),
        pytest.param("+442079460958", "FIXED_LINE", id="uk-landline"),
        pytest.param("+33891234567", "PREMIUM_RATE", id="fr-089-premium-rate"),
    ],
)
def test_a_number_that_cannot_take_an_sms_or_costs_extra_is_refused_naming_its_type(phone, kind):
    with pytest.raises(ApiError) as refused:
        send(body(phone=phone, text="hi"))
    assert (status_of(refused.value), refused.value.code, refused.value.field) == (
        422, "number_type_not_allowed", "phone")
    assert kind in refused.value.message


def test_the_allowed_number_types_are_configurable():
    sms = parse_send_request(body(phone="+442079460958", text="hi"), None, default_region=None, max_body_bytes=999,
                             allowed_number_types=("MOBILE", "FIXED_LINE"))
    assert (sms.country, sms.number_type) == ("GB", "FIXED_LINE")


@pytest.mark.parametrize("text", ["\u200b", "\u200b\u200d\ufeff", " \u2060 ", "\u2800\u3164", "\u3000"])
def test_a_text_of_invisible_characters_only_is_refused_as_empty(text):
    with pytest.raises(ApiError) as refused:
        send(body(phone=PHONE, text=text))
    assert (status_of(refused.value), refused.value.code, refused.value.field) == (400, "empty_text", "text")


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "application/json",
        "Application/JSON",
        "application/json; charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json; foo=bar",
        "application/vnd.sms+json",
    ],
)
def test_json_content_types_are_accepted(content_type):
    assert send(body(phone=PHONE, text="hi"), content_type).phone == PHONE


def test_valid_request_carries_encoding_and_segments():
    us = {"country": "US", "number_type": "FIXED_LINE_OR_MOBILE"}
    assert send(body(phone=PHONE, text="hello")) == ValidSms(PHONE, "hello", "GSM-7", 1, **us)
    assert send(body(phone=PHONE, text="hi \U0001f600")) == ValidSms(PHONE, "hi \U0001f600", "UCS-2", 1, **us)


def test_text_is_kept_as_sent():
    assert send(body(phone=PHONE, text=" line one\r\n\tline two ")).text == " line one\r\n\tline two "


@pytest.mark.parametrize(
    ("text", "encoding"),
    [pytest.param("a" * MAX_TEXT_CHARS, "GSM-7", id="gsm"), pytest.param("ж" * 670, "UCS-2", id="ucs2")],
)
def test_ten_segments_are_accepted(text, encoding):
    sms = send(body(phone=PHONE, text=text))
    assert (sms.encoding, sms.segments) == (encoding, 10)


def test_str_body_and_body_of_exactly_the_limit_are_accepted():
    raw = json.dumps({"phone": PHONE, "text": "hi"})
    assert send(raw, max_body_bytes=len(raw)).phone == PHONE


def test_model_refuses_extra_fields_and_numbers():
    assert SendSmsBody.model_config["extra"] == "forbid"
    with pytest.raises(ValueError):
        SendSmsBody.model_validate({"phone": 14155550100, "text": "hi"})


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.text() | st.binary(), st.sampled_from([None, "application/json", "text/plain"]))
def test_any_body_is_accepted_or_refused_as_a_client_error(raw_body, content_type):
    assert_refused_as_client_error(lambda: send(raw_body, content_type))


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries({"phone": JSON_VALUES, "text": JSON_VALUES}, optional={"extra": JSON_VALUES}),
    st.sampled_from([None, "US", "GB", "DE"]),
)
def test_any_json_object_is_accepted_or_refused_as_a_client_error(fields, default_region):
    sms = assert_refused_as_client_error(lambda: send(json.dumps(fields), default_region=default_region))
    if sms is not None:
        assert sms.phone.startswith("+") and sms.phone[1:].isdigit()
        assert 1 <= sms.segments <= 10


ANY_CHARACTER = st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(ANY_CHARACTER, max_size=6) | st.sampled_from(["phone", "text"]), JSON_VALUES))
def test_any_object_with_any_names_is_accepted_or_refused_as_a_client_error(fields):
    assert_refused_as_client_error(lambda: send(json.dumps(fields)))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="+0123456789 ()-.", max_size=24), st.sampled_from([None, "US", "GB"]))
def test_any_phone_like_string_is_accepted_or_refused_naming_the_phone(phone, default_region):
    try:
        send(body(phone=phone, text="hi"), default_region=default_region)
    except ApiError as exc:
        assert exc.field == "phone"
        assert exc.code in ("invalid_phone", "number_type_not_allowed")


