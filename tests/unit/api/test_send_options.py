"""The options of POST /api/sms (reference, from, validity_s, send_at, callback_url): each is optional, a good
value comes through as given, and a bad one is a 400 naming the field."""

import json
from datetime import UTC, datetime

import pytest

from chalicelib.api.http_errors import status_of
from chalicelib.api.send_body import parse_send_request
from chalicelib.api.send_options import MAX_VALIDITY_S, MIN_VALIDITY_S
from chalicelib.errors import ApiError
from chalicelib.vendors.aws import adapter as aws_sms
from chalicelib.vendors.twilio import adapter as twilio
from chalicelib.vendors.vonage import adapter as vonage

pytestmark = pytest.mark.unit

PHONE = "+14155550100"


def send(*, allow_http_callback=False, **options):
    raw = json.dumps({"phone": PHONE, "text": "hello", **options})
    return parse_send_request(raw, "application/json", default_region=None, max_body_bytes=16384,
                              allow_http_callback=allow_http_callback)


def test_the_least_validity_intake_accepts_is_above_every_vendors_least():
    """No client's validity_s is raised silently to a vendor's least TTL: intake refuses a shorter one first
    (validity-too-short below); Twilio's ValidityPeriod starts at 1 s."""
    vendors_least_s = {"twilio": 1, "vonage": vonage.MIN_TTL_MS // 1000, "aws": aws_sms.MIN_TIME_TO_LIVE_S}
    assert twilio.TwilioConfig.model_fields["validity_period_s"].metadata[0].ge == vendors_least_s["twilio"]
    assert max(vendors_least_s.values()) <= MIN_VALIDITY_S


def test_no_option_leaves_every_option_unset():
    sms = send()
    assert (sms.reference, sms.sender, sms.validity_s, sms.send_at, sms.callback_url) == (None,) * 5
    assert sms.options() == ()  # the Idempotency-Key fingerprint of a plain body is what it always was


@pytest.mark.parametrize(
    ("options", "attribute", "expected"),
    [
        pytest.param({"reference": "order-1234"}, "reference", "order-1234", id="reference"),
        pytest.param({"reference": "x" * 128}, "reference", "x" * 128, id="reference-128-chars"),
        pytest.param({"reference": "commande n° 42 ✓"}, "reference", "commande n° 42 ✓", id="reference-unicode"),
        pytest.param({"from": "ACME"}, "sender", "ACME", id="from-alphanumeric"),
        pytest.param({"from": "Acme Shop 1"}, "sender", "Acme Shop 1", id="from-11-chars-with-space"),
        pytest.param({"from": "2FA"}, "sender", "2FA", id="from-digits-and-a-letter"),
        pytest.param({"from": "+14155550199"}, "sender", "+14155550199", id="from-e164"),
        pytest.param({"validity_s": MIN_VALIDITY_S}, "validity_s", MIN_VALIDITY_S, id="validity-least"),
        pytest.param({"validity_s": MAX_VALIDITY_S}, "validity_s", MAX_VALIDITY_S, id="validity-most"),
        pytest.param({"validity_s": 600.0}, "validity_s", 600, id="validity-whole-number-written-as-float"),
        pytest.param({"send_at": "2026-12-01T09:00:00Z"}, "send_at",
                     datetime(2026, 12, 1, 9, tzinfo=UTC).timestamp(), id="send-at-utc"),
        pytest.param({"send_at": "2026-12-01T10:30:00.250+01:30"}, "send_at",
                     datetime(2026, 12, 1, 9, 0, 0, 250_000, tzinfo=UTC).timestamp(), id="send-at-offset"),
        pytest.param({"send_at": "2026-12-01t09:00:00z"}, "send_at",
                     datetime(2026, 12, 1, 9, tzinfo=UTC).timestamp(), id="send-at-lowercase"),
        pytest.param({"callback_url": "https://example.com/sms?team=a"}, "callback_url",
                     "https://example.com/sms?team=a", id="callback-https"),
    ],
)
def test_good_option_comes_through(options, attribute, expected):
    assert getattr(send(**options), attribute) == expected


def test_http_callback_is_accepted_on_a_local_stack_only():
    assert send(callback_url="http://127.0.0.1:9999/cb", allow_http_callback=True).callback_url == (
        "http://127.0.0.1:9999/cb")
    with pytest.raises(ApiError) as refused:
        send(callback_url="http://127.0.0.1:9999/cb")
    assert (status_of(refused.value), refused.value.field, refused.value.code) == (400, "callback_url",
                                                                              "invalid_callback_url")


@pytest.mark.parametrize(
    ("options", "field", "code"),
    [
        pytest.param({"reference": ""}, "reference", "invalid_reference", id="reference-empty"),
        pytest.param({"reference": "x" * 129}, "reference", "invalid_reference", id="reference-129-chars"),
        pytest.param({"reference": "a\nb"}, "reference", "invalid_reference", id="reference-newline"),
        pytest.param({"reference": "a\x00b"}, "reference", "invalid_reference", id="reference-nul"),
        pytest.param({"reference": 42}, "reference", "invalid_type", id="reference-number"),
        pytest.param({"from": ""}, "from", "invalid_sender", id="from-empty"),
        pytest.param({"from": "ACME SHOP 12"}, "from", "invalid_sender", id="from-12-chars"),
        pytest.param({"from": "12345"}, "from", "invalid_sender", id="from-digits-only-not-e164"),
        pytest.param({"from": "ACME!"}, "from", "invalid_sender", id="from-punctuation"),
        pytest.param({"from": "ÄCME"}, "from", "invalid_sender", id="from-non-ascii"),
        pytest.param({"from": "+0123456789"}, "from", "invalid_sender", id="from-e164-leading-zero"),
        pytest.param({"from": "+1234567890123456"}, "from", "invalid_sender", id="from-e164-16-digits"),
        pytest.param({"from": ["ACME"]}, "from", "invalid_type", id="from-list"),
        pytest.param({"sender": "ACME"}, "sender", "unknown_field", id="sender-is-not-the-field-name"),
        pytest.param({"validity_s": MIN_VALIDITY_S - 1}, "validity_s", "invalid_validity", id="validity-too-short"),
        pytest.param({"validity_s": MAX_VALIDITY_S + 1}, "validity_s", "invalid_validity", id="validity-too-long"),
        pytest.param({"validity_s": "600"}, "validity_s", "invalid_validity", id="validity-string"),
        pytest.param({"validity_s": 600.5}, "validity_s", "invalid_validity", id="validity-fraction"),
        pytest.param({"validity_s": True}, "validity_s", "invalid_validity", id="validity-boolean"),
        pytest.param({"send_at": "tomorrow"}, "send_at", "invalid_send_at", id="send-at-words"),
        pytest.param({"send_at": "2026-12-01T09:00:00"}, "send_at", "invalid_send_at", id="send-at-no-offset"),
        pytest.param({"send_at": "2026-12-01"}, "send_at", "invalid_send_at", id="send-at-date-only"),
        pytest.param({"send_at": "2026-13-01T09:00:00Z"}, "send_at", "invalid_send_at", id="send-at-month-13"),
        pytest.param({"send_at": 1796115600}, "send_at", "invalid_type", id="send-at-epoch-number"),
        pytest.param({"callback_url": "ftp://example.com/cb"}, "callback_url", "invalid_callback_url",
                     id="callback-ftp"),
        pytest.param({"callback_url": "https:///no-host"}, "callback_url", "invalid_callback_url",
                     id="callback-no-host"),
        pytest.param({"callback_url": "https://user:pw@example.com/"}, "callback_url", "invalid_callback_url",
                     id="callback-credentials"),
        pytest.param({"callback_url": "https://example.com/a b"}, "callback_url", "invalid_callback_url",
                     id="callback-space"),
        pytest.param({"callback_url": "https://example.com/" + "a" * 2030}, "callback_url", "invalid_callback_url",
                     id="callback-over-2048"),
        pytest.param({"callback_url": "/relative"}, "callback_url", "invalid_callback_url", id="callback-relative"),
    ],
)
def test_bad_option_is_a_400_naming_the_field(options, field, code):
    with pytest.raises(ApiError) as refused:
        send(**options)
    assert (status_of(refused.value), refused.value.field, refused.value.code) == (400, field, code)
    assert field in refused.value.message


def test_refusal_never_echoes_the_value():
    with pytest.raises(ApiError) as refused:
        send(reference="secret-order\x07")
    assert "secret-order" not in refused.value.message


def test_unknown_field_lists_every_field_the_body_takes():
    with pytest.raises(ApiError) as refused:
        send(to=PHONE)
    assert refused.value.message == ("unknown field 'to': the body takes only phone, text, reference, from, "
                                     "validity_s, send_at, callback_url")


def test_options_change_the_idempotency_fingerprint():
    assert send(reference="a").options() != send(reference="b").options()
    assert send(send_at="2026-12-01T09:00:00Z").options() != send(send_at="2026-12-01T09:00:01Z").options()
