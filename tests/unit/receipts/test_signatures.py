"""Each vendor's receipt signature: the vendors' own SDK test vectors, then good, bad, missing and replayed.

Vectors: twilio-python tests/unit/test_request_validator.py (RequestValidator, token "12345"), commit 306691e;
vonage-python-sdk http_client/tests/test_auth.py (Auth.sign_params / check_signature), commit b308cb1.
"""

from __future__ import annotations

import pytest

from chalicelib.errors import SignatureInvalid, SignatureMissing
from chalicelib.vendors import http_json
from chalicelib.vendors.twilio import receipts as twilio
from chalicelib.vendors.vonage import receipts as vonage

pytestmark = pytest.mark.unit

TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("From", "+14158675309"),
                 ("To", "+18005551212"), ("Caller", "+14158675309")]


def test_twilio_signature_is_the_sdks_vector():
    assert twilio.signature(TWILIO_URL, TWILIO_PARAMS, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_signature_sorts_names_and_values_and_drops_repeats():
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
    assert twilio.signature(TWILIO_URL, params, "12345") == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(("url", "given"), [
    pytest.param(TWILIO_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", id="as-signed"),
    pytest.param(TWILIO_URL.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8=", id="port-removed-https"),
    pytest.param(TWILIO_URL.replace(".com", ".com:1234").replace("https", "http"), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
                 id="port-removed-http"),
    pytest.param(TWILIO_URL, "kvajT1Ptam85bY51eRf/AJRuM3w=", id="port-443-added"),
    pytest.param(TWILIO_URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4=", id="port-80-added"),
])
def test_twilio_accepts_what_the_sdk_accepts(url, given):
    twilio.verify(url, TWILIO_PARAMS, given, "12345")


@pytest.mark.parametrize(("url", "params", "token"), [
    pytest.param(TWILIO_URL, TWILIO_PARAMS, "54321", id="other-token"),
    pytest.param("https://mycompany.com/other.php?foo=1&bar=2", TWILIO_PARAMS, "12345", id="other-url"),
    pytest.param(TWILIO_URL, [*TWILIO_PARAMS[:-1], ("Caller", "+10000000000")], "12345", id="changed-param"),
])
def test_twilio_refuses_another_token_url_or_body(url, params, token):
    with pytest.raises(SignatureInvalid):
        twilio.verify(url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", token)


def test_twilio_without_a_signature_is_refused_as_missing():
    with pytest.raises(SignatureMissing):
        twilio.verify(TWILIO_URL, TWILIO_PARAMS, None, "12345")


@pytest.mark.parametrize(("params", "method", "now"), [
    pytest.param({"param": "value", "timestamp": "1234567890", "sig": "655a4d0b7f064dff438defc52b012cf5"}, "md5",
                 1234567890, id="sdk-check_signature-vector"),
    pytest.param({"param1": "value1", "param2": "value2", "timestamp": "1234567890",
                  "sig": "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287"}, "sha256", 1234567890,
                 id="sdk-sign_params-sha256"),
    pytest.param({"param1": "value&1", "param2": "value=2", "timestamp": "1234567890",
                  "sig": "2bbf0abafb2c55e5af6231513896a2ac"}, "md5", 1234567890, id="sdk-special-characters"),
    pytest.param({"param1": "value1", "param2": "value2", "timestamp": "12345",
                  "sig": "BC7E95BB4E341090B3A202A2885903A5"}, "md5", 12345 + 299, id="sdk-vector-upper-case-sig"),
])
def test_vonage_accepts_the_sdks_vectors(params, method, now):
    vonage.verify(params, "signature_secret", method, now)


def test_vonage_md5hash_signature_verifies_both_ways():
    params = {"messageId": "0A0000001234", "status": "delivered", "timestamp": "1700000000"}
    params["sig"] = vonage.signature(params, "s3cret", "md5hash")
    vonage.verify(params, "s3cret", "md5hash", 1700000000)
    with pytest.raises(SignatureInvalid):
        vonage.verify({**params, "status": "failed"}, "s3cret", "md5hash", 1700000000)


@pytest.mark.parametrize(("params", "error"), [
    pytest.param({"param": "value", "timestamp": "1234567890"}, SignatureMissing, id="no-sig"),
    pytest.param({"param": "value", "timestamp": "1234567890", "sig": "0" * 32}, SignatureInvalid, id="wrong-sig"),
    pytest.param({"param": "value", "sig": "655a4d0b7f064dff438defc52b012cf5"}, SignatureInvalid, id="no-timestamp"),
    pytest.param({"param": "other", "timestamp": "1234567890", "sig": "655a4d0b7f064dff438defc52b012cf5"},
                 SignatureInvalid, id="changed-param"),
])
def test_vonage_refuses_missing_and_wrong_signatures(params, error):
    with pytest.raises(error):
        vonage.verify(params, "signature_secret", "md5", 1234567890)


def test_vonage_refuses_a_signature_older_than_five_minutes():
    params = {"param": "value", "timestamp": "1234567890", "sig": "655a4d0b7f064dff438defc52b012cf5"}
    with pytest.raises(SignatureInvalid, match="replayed"):
        vonage.verify(params, "signature_secret", "md5", 1234567890 + 301)


BODY = b'{"message_id": "m-1", "status": "delivered"}'


def test_http_json_signature_is_hmac_sha256_of_timestamp_dot_body():
    # Computed independently: printf '1700000000.{"message_id": ...}' | openssl dgst -sha256 -hmac whsec
    import hashlib
    import hmac
    expected = hmac.new(b"whsec", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert http_json.signature_header(BODY, "whsec", 1700000000) == f"t=1700000000,v1={expected}"


def test_http_json_good_signature_passes():
    http_json.verify(BODY, http_json.signature_header(BODY, "whsec", 1700000000), "whsec", 1700000000 + 299)


def test_http_json_one_matching_v1_of_several_is_enough():
    good = http_json.signature_header(BODY, "whsec", 1700000000)
    http_json.verify(BODY, good.replace("v1=", "v1=" + "0" * 64 + ",v1="), "whsec", 1700000000)


@pytest.mark.parametrize(("header", "error"), [
    pytest.param(None, SignatureMissing, id="missing"),
    pytest.param("", SignatureMissing, id="empty"),
    pytest.param("v1=abc", SignatureInvalid, id="no-timestamp"),
    pytest.param("t=1700000000", SignatureInvalid, id="no-v1"),
    pytest.param("t=soon,v1=abc", SignatureInvalid, id="timestamp-not-a-number"),
    pytest.param("t=1700000000,v1=" + "0" * 64, SignatureInvalid, id="wrong-digest"),
])
def test_http_json_bad_or_missing_signature_is_refused(header, error):
    with pytest.raises(error):
        http_json.verify(BODY, header, "whsec", 1700000000)


def test_http_json_other_secret_or_changed_body_is_refused():
    header = http_json.signature_header(BODY, "whsec", 1700000000)
    with pytest.raises(SignatureInvalid):
        http_json.verify(BODY, header, "other", 1700000000)
    with pytest.raises(SignatureInvalid):
        http_json.verify(BODY.replace(b"delivered", b"undelivered"), header, "whsec", 1700000000)


@pytest.mark.parametrize("age_s", [pytest.param(301, id="replayed-after-5-min"),
                                   pytest.param(-301, id="from-the-future")])
def test_http_json_a_well_signed_but_stale_call_is_refused_as_replayed(age_s):
    header = http_json.signature_header(BODY, "whsec", 1700000000)
    with pytest.raises(SignatureInvalid, match="replayed"):
        http_json.verify(BODY, header, "whsec", 1700000000 + age_s)


class CountedParams(list):
    """The form's parameters, counting how often the signature code walks them."""

    walks = 0

    def __iter__(self):
        type(self).walks += 1
        return super().__iter__()


def test_twilio_builds_the_signed_string_once_for_every_url_it_tries():
    params = CountedParams(TWILIO_PARAMS)
    CountedParams.walks = 0
    with pytest.raises(SignatureInvalid):  # a wrong signature: every URL candidate is tried
        twilio.verify(TWILIO_URL, params, "bm9wZQ==", "12345")
    assert CountedParams.walks == 1


@pytest.mark.parametrize("given", [
    pytest.param("é" * 28, id="twilio-non-ascii"),
    pytest.param("RSOYDt4T1cUTdK1PDd93/VVr8B8=\x00", id="twilio-nul"),
])
def test_twilio_signature_that_is_not_ascii_is_invalid_not_an_error(given):
    with pytest.raises(SignatureInvalid):
        twilio.verify(TWILIO_URL, TWILIO_PARAMS, given, "12345")


@pytest.mark.parametrize("header", [
    pytest.param("t=²,v1=00", id="superscript-two"),
    pytest.param("t=" + "9" * 5_000 + ",v1=00", id="5000-digits"),
    pytest.param("t=1700000000,v1=é", id="non-ascii-v1"),
    pytest.param("t=-1,v1=00", id="negative"),
    pytest.param("t=" + "\u0661\u0667" + "\u0660" * 8 + ",v1=00", id="arabic-indic-digits"),
])
def test_http_json_header_that_is_not_a_unix_time_and_hex_is_invalid_not_an_error(header):
    with pytest.raises(SignatureInvalid):
        http_json.verify(b"{}", header, "secret", 1_700_000_000)


@pytest.mark.parametrize("params", [
    pytest.param({"timestamp": "1234567890", "sig": "é" * 32}, id="non-ascii-sig"),
    pytest.param({"timestamp": "9" * 5_000, "sig": "00"}, id="5000-digit-timestamp"),
    pytest.param({"timestamp": "²", "sig": "00"}, id="superscript-two-timestamp"),
])
def test_vonage_signature_or_timestamp_that_is_garbage_is_invalid_not_an_error(params):
    with pytest.raises(SignatureInvalid):
        vonage.verify(params, "secret", "sha256", 1234567890)
