import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.errors import ApiError, GatewayError, ValidationFailed
from chalicelib.sms_request import (
    CURSOR_MAX_CHARS,
    MAX_TEXT_CHARS,
    ListQuery,
    SendSmsBody,
    ValidSms,
    parse_list_query,
    parse_send_request,
)

pytestmark = pytest.mark.unit

PHONE = "+14155550100"
PROVIDERS = ("alpha", "beta", "gamma")


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
    assert (refused.value.status, refused.value.code, refused.value.field) == (status, code, field)
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
        pytest.param("+44 20 7946 0958", "US", "+442079460958", id="international-wins-over-default-region"),
        pytest.param("020 7946 0958", "GB", "+442079460958", id="national-format-gb"),
    ],
)
def test_phone_is_normalised_to_e164(phone, default_region, e164):
    assert send(body(phone=phone, text="hi"), default_region=default_region).phone == e164


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
    assert send(body(phone=PHONE, text="hello")) == ValidSms(PHONE, "hello", "GSM-7", 1)
    assert send(body(phone=PHONE, text="hi \U0001f600")) == ValidSms(PHONE, "hi \U0001f600", "UCS-2", 1)


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


def assert_refused_as_client_error(call):
    try:
        return call()
    except GatewayError as exc:
        assert isinstance(exc, ApiError) and 400 <= exc.status < 500, repr(exc)
        return None


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
def test_any_phone_like_string_is_accepted_or_refused_as_invalid_phone(phone, default_region):
    try:
        send(body(phone=phone, text="hi"), default_region=default_region)
    except ApiError as exc:
        assert (exc.code, exc.field) == ("invalid_phone", "phone")


# --- GET /api/sms: query ---

# fmt: off
BAD_LIST_QUERIES = [
    pytest.param({"foo": "1"}, "unknown_parameter", "foo", id="unknown-parameter"),
    pytest.param({"foo": ""}, "unknown_parameter", "foo", id="unknown-parameter-without-value"),
    pytest.param({"x" * 100: "1"}, "unknown_parameter", "x" * 63 + "…", id="unknown-parameter-name-cut-short"),
    pytest.param({"status": "done"}, "invalid_status", "status", id="status-not-a-lifecycle-state"),
    pytest.param({"status": "SENT"}, "invalid_status", "status", id="status-is-case-sensitive"),
    pytest.param({"provider": "delta"}, "unknown_provider", "provider", id="provider-not-configured"),
    pytest.param({"since": "yesterday"}, "invalid_datetime", "since", id="since-not-a-date"),
    pytest.param({"since": "2024-05-01T12:00:00 02:00"}, "invalid_datetime", "since",
                 id="since-plus-as-space"),
    pytest.param({"since": "\uff12\uff10\uff12\uff14-05-01"}, "invalid_datetime", "since",
                 id="since-fullwidth-digits"),
    pytest.param({"since": "2024-05-01" + "0" * 60}, "invalid_datetime", "since", id="since-too-long"),
    pytest.param({"since": "0001-01-01T00:00:00+01:00"}, "invalid_datetime", "since",
                 id="since-before-year-1-utc"),
    pytest.param({"until": "2024-13-01"}, "invalid_datetime", "until", id="until-month-13"),
    pytest.param({"since": "2024-05-02", "until": "2024-05-01"}, "invalid_range", "since",
                 id="since-after-until"),
    pytest.param({"limit": "0"}, "invalid_limit", "limit", id="limit-zero"),
    pytest.param({"limit": "101"}, "invalid_limit", "limit", id="limit-over-max"),
    pytest.param({"limit": "-1"}, "invalid_limit", "limit", id="limit-negative"),
    pytest.param({"limit": "+5"}, "invalid_limit", "limit", id="limit-with-sign"),
    pytest.param({"limit": "1e2"}, "invalid_limit", "limit", id="limit-exponent"),
    pytest.param({"limit": "\u0665"}, "invalid_limit", "limit", id="limit-arabic-indic-digit"),
    pytest.param({"limit": "9" * 20}, "invalid_limit", "limit", id="limit-huge"),
    pytest.param({"cursor": "abc!def"}, "invalid_cursor", "cursor", id="cursor-outside-base64url"),
    pytest.param({"cursor": "a" * (CURSOR_MAX_CHARS + 1)}, "invalid_cursor", "cursor", id="cursor-too-long"),
]
# fmt: on


@pytest.mark.parametrize(("params", "code", "field"), BAD_LIST_QUERIES)
def test_bad_list_query_is_refused_with_its_field(params, code, field):
    with pytest.raises(ApiError) as refused:
        parse_list_query(params, known_providers=PROVIDERS)
    assert (refused.value.status, refused.value.code, refused.value.field) == (400, code, field)
    assert refused.value.message


@pytest.mark.parametrize("params", [None, {}, {"status": "", "provider": "", "limit": "", "cursor": ""}])
def test_absent_or_empty_parameters_mean_no_filter(params):
    assert parse_list_query(params, known_providers=PROVIDERS) == ListQuery()
    assert ListQuery().limit == 20


def test_every_filter_is_parsed():
    query = parse_list_query(
        {
            "status": "sent",
            "provider": "beta",
            "since": "2024-05-01T12:00:00+02:00",
            "until": "2024-05-01T12:00:00Z",
            "limit": "100",
            "cursor": "eyJwIjoiMjAyNC0wNS0wMSJ9",
        },
        known_providers=PROVIDERS,
    )
    assert query == ListQuery(
        status="sent",
        provider="beta",
        since=datetime(2024, 5, 1, 10, tzinfo=UTC),
        until=datetime(2024, 5, 1, 12, tzinfo=UTC),
        limit=100,
        cursor="eyJwIjoiMjAyNC0wNS0wMSJ9",
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC), id="zulu"),
        pytest.param("2024-05-01T12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC), id="naive-is-utc"),
        pytest.param("2024-05-01T12:00:00-05:30", datetime(2024, 5, 1, 17, 30, tzinfo=UTC), id="offset"),
        pytest.param("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC), id="date-only-is-midnight-utc"),
        pytest.param(
            "2024-05-01T12:00:00.250+00:00",
            datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC),
            id="fraction",
        ),
    ],
)
def test_since_is_an_aware_utc_datetime(raw, expected):
    since = parse_list_query({"since": raw}, known_providers=PROVIDERS).since
    assert since == expected
    assert since.utcoffset() == timedelta(0)


def test_equal_since_and_until_is_a_valid_range():
    moment = "2024-05-01T12:00:00+01:00"
    query = parse_list_query({"since": moment, "until": moment}, known_providers=PROVIDERS)
    assert query.since == query.until == datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=1)))


def test_padded_cursor_and_limit_one_are_accepted():
    query = parse_list_query({"cursor": "eyJwIjoiYSJ9==", "limit": "1"}, known_providers=PROVIDERS)
    assert (query.cursor, query.limit) == ("eyJwIjoiYSJ9==", 1)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["status", "provider", "since", "until", "limit", "cursor", "other"]),
        st.text(max_size=40) | st.sampled_from(["sent", "alpha", "2024-05-01T00:00:00Z", "50", "abc"]),
    )
)
def test_any_query_is_parsed_or_refused_as_a_client_error(params):
    query = assert_refused_as_client_error(lambda: parse_list_query(params, known_providers=PROVIDERS))
    if query is not None:
        assert 1 <= query.limit <= 100
        assert query.since is None or query.since.tzinfo is not None


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="empty"),
        pytest.param("k" * 256, id="too-long"),
        pytest.param("has space", id="space"),
        pytest.param("caf\u00e9", id="non-ascii"),
    ],
)
def test_a_malformed_idempotency_key_is_refused_naming_the_header(header):
    from chalicelib.sms_request import parse_idempotency_key

    with pytest.raises(ValidationFailed) as caught:
        parse_idempotency_key(header)
    assert (caught.value.status, caught.value.code, caught.value.field) == (
        400, "invalid_idempotency_key", "Idempotency-Key")


def test_an_idempotency_key_is_optional_and_kept_as_sent():
    from chalicelib.sms_request import parse_idempotency_key

    assert parse_idempotency_key(None) is None
    assert parse_idempotency_key("order-42/confirm") == "order-42/confirm"
