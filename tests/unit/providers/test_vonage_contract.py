"""The vonage adapter against the Vonage SMS API's documented contract: the exact request, the signature, every
status of messages[], multi-part answers, and HTTP 200 on a refusal.

Sources: the SMS API reference and its spec (Nexmo/api-specification definitions/sms.yml: POST /sms/json,
form-encoded, "to" without "+", answers always 200 with messages[].status), the status table
(https://developer.vonage.com/api-errors/sms), signing (https://developer.nexmo.com/concepts/guides/signing-messages)
and the signature test vectors of Vonage's Python SDK (http_client/tests/test_auth.py).
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qsl

import pytest
from pydantic import TypeAdapter

from chalicelib.providers import Outcome, OutgoingSms
from chalicelib.settings import ProviderConfig
from chalicelib.vendors.vonage.adapter import STATUSES, VonageConfig, VonageProvider, classify, signature
from tests.unit.providers.conftest import PHONE, REQUEST_ID

pytestmark = pytest.mark.unit

API_KEY = "abcd1234"
API_SECRET = "vonage-api-secret"
SIGNATURE_SECRET = "vonage-signature-secret"
NOW = 1_700_000_000


def config(base_url: str, **fields) -> VonageConfig:
    entry = {"name": "vg", "kind": "vonage", "api_key": API_KEY, "from": "AcmeInc", "api_secret": API_SECRET,
             "base_url": base_url, **fields}
    return TypeAdapter(ProviderConfig).validate_python(entry)


def adapter(conf, http) -> VonageProvider:
    return VonageProvider(conf, http, clock=lambda: NOW)


def send(provider, text="hello"):
    return provider.send(OutgoingSms(PHONE, text, REQUEST_ID, 1))


@pytest.fixture
def vonage(simulators):
    return simulators("vg", kind="vonage", credentials={"api_key": API_KEY, "api_secret": API_SECRET})


def test_request_is_the_documented_form_post_with_the_number_without_plus(vonage, wire):
    """Vonage's example: curl -X POST https://rest.nexmo.com/sms/json -d from=AcmeInc -d text=... -d to=$TO_NUMBER
    -d api_key=... -d api_secret=..."""
    result = send(adapter(config(vonage.url), wire[0]), text="A text & a = sign")
    [request] = wire[1]
    assert (request.method, str(request.url)) == ("POST", f"{vonage.url}/sms/json")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.content == (f"api_key={API_KEY}&from=AcmeInc&to=14155550100&text=A+text+%26+a+%3D+sign"
                               f"&client-ref={REQUEST_ID}&api_secret={API_SECRET}").encode()
    assert "authorization" not in request.headers
    assert result.outcome is Outcome.ACCEPTED
    assert vonage.arrivals()[0]["auth"] == "ok"


def test_text_that_needs_ucs2_is_sent_as_type_unicode(vonage, wire):
    result = send(adapter(config(vonage.url), wire[0]), text="Olá ✓ 你好")
    form = dict(parse_qsl(wire[1][0].content.decode()))
    assert (form["type"], form["text"]) == ("unicode", "Olá ✓ 你好")
    assert b"text=Ol%C3%A1+%E2%9C%93+%E4%BD%A0%E5%A5%BD" in wire[1][0].content
    assert result.outcome is Outcome.ACCEPTED
    assert vonage.sent()[0]["fields"]["garbled"] is False


def test_gsm_text_is_sent_without_a_type(vonage, wire):
    send(adapter(config(vonage.url), wire[0]), text="Ça coute 5€ {ok} è")  # all in GSM 03.38 (basic + extension)
    assert "type" not in dict(parse_qsl(wire[1][0].content.decode()))


def test_callback_and_ttl_are_sent_when_configured(vonage, wire):
    send(adapter(config(vonage.url, callback="https://gw.example/dlr", ttl_ms=600_000), wire[0]))
    form = dict(parse_qsl(wire[1][0].content.decode()))
    assert (form["callback"], form["ttl"]) == ("https://gw.example/dlr", "600000")


@pytest.mark.parametrize(
    ("params", "method", "expected"),
    [
        pytest.param({"param1": "value1", "param2": "value2", "timestamp": "1234567890"}, "md5",
                     "724c2bf6ca423c36e20631b11d1c5753", id="sdk-vector-hmac-md5"),
        pytest.param({"param1": "value1", "param2": "value2", "timestamp": "1234567890"}, "sha256",
                     "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287", id="sdk-vector-hmac-sha256"),
        pytest.param({"param": "value", "timestamp": "1234567890"}, "md5", "655a4d0b7f064dff438defc52b012cf5",
                     id="sdk-vector-one-param"),
        pytest.param({"param1": "value&1", "param2": "value=2", "timestamp": "1234567890"}, "md5",
                     "2bbf0abafb2c55e5af6231513896a2ac", id="sdk-vector-ampersand-and-equals-replaced"),
    ],
)
def test_signature_matches_vonages_published_vectors(params, method, expected):
    assert signature(params, "signature_secret", method) == expected


def test_md5hash_is_md5_of_the_sorted_string_then_the_secret():
    # The dashboard's default method: md5(&k=v... + secret), as the signing guide spells it out.
    params = {"timestamp": "1234567890", "param2": "value2", "param1": "value1"}
    expected = hashlib.md5(b"&param1=value1&param2=value2&timestamp=1234567890signature_secret").hexdigest()
    assert signature(params, "signature_secret", "md5hash") == expected


@pytest.mark.parametrize("method", ["md5hash", "sha256"])
def test_signed_request_sends_timestamp_and_sig_never_the_secret(simulators, wire, method):
    vonage = simulators("vg", kind="vonage", credentials={"api_key": API_KEY, "signature_secret": SIGNATURE_SECRET,
                                                          "signature_method": method})
    conf = config(vonage.url, api_secret=None, signature_secret=SIGNATURE_SECRET, signature_method=method)
    result = send(adapter(conf, wire[0]))
    form = dict(parse_qsl(wire[1][0].content.decode()))
    assert "api_secret" not in form
    assert form["timestamp"] == str(NOW)
    sig = form.pop("sig")
    assert sig == signature(form, SIGNATURE_SECRET, method)
    assert SIGNATURE_SECRET not in wire[1][0].content.decode()
    assert (result.outcome, vonage.arrivals()[0]["auth"]) == (Outcome.ACCEPTED, "ok")


def test_a_wrong_signature_secret_is_status_14_a_configuration_problem(simulators, wire):
    vonage = simulators("vg", kind="vonage", credentials={"api_key": API_KEY, "signature_secret": SIGNATURE_SECRET})
    conf = config(vonage.url, api_secret=None, signature_secret="not-the-secret")
    result = send(adapter(conf, wire[0]))
    assert (result.outcome, result.status_code, result.configuration_problem) == (Outcome.PROVIDER_FAILURE, 200, True)
    assert result.error.startswith("vonage status 14:")


def test_accepted_multipart_message_keeps_every_parts_id(vonage, wire):
    result = send(adapter(config(vonage.url), wire[0]), text="x" * 200)  # two GSM-7 parts of 153
    [sent] = vonage.sent()
    assert (result.outcome, result.message_id) == (Outcome.ACCEPTED, sent["message_ids"][0])
    assert result.response_data["message_ids"] == sent["message_ids"]
    assert len(sent["message_ids"]) == 2
    assert all("to" not in part for part in result.response_data["messages"])


def test_a_multipart_message_is_accepted_only_if_every_part_is(vonage, wire):
    vonage.configure(mode="partial", error_code="1")
    result = send(adapter(config(vonage.url), wire[0]), text="x" * 200)
    assert (result.outcome, result.message_id) == (Outcome.THROTTLED, None)
    assert "1 of 2 parts accepted" in result.error


# Every status the simulator can answer, with the class of docs/providers.md#vonage.
@pytest.mark.parametrize(("status", "expected"), sorted(STATUSES.items(), key=lambda item: int(item[0])))
def test_every_status_is_classified_as_documented(vonage, wire, status, expected):
    vonage.configure(mode="error", error_code=status)
    result = send(adapter(config(vonage.url), wire[0]))
    outcome, _ = expected
    if outcome == "configuration":
        assert (result.outcome, result.configuration_problem) == (Outcome.PROVIDER_FAILURE, True)
    else:
        assert (result.outcome, result.configuration_problem) == (outcome, False)
    assert result.status_code == 200  # Vonage refuses with HTTP 200
    assert result.error.startswith(f"vonage status {status}:")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        pytest.param("3", Outcome.REFUSED, id="3-invalid-parameters"),
        pytest.param("6", Outcome.REFUSED, id="6-invalid-message"),
        pytest.param("7", Outcome.REFUSED, id="7-number-barred"),
        pytest.param("15", Outcome.REFUSED_HERE, id="15-invalid-sender-for-destination-here"),
        pytest.param("29", Outcome.REFUSED_HERE, id="29-non-whitelisted-destination-here"),
        pytest.param("1", Outcome.THROTTLED, id="1-throttled"),
        pytest.param("5", Outcome.PROVIDER_FAILURE, id="5-internal-error"),
    ],
)
def test_the_issues_examples(status, outcome):
    body = {"message-count": "1", "messages": [{"status": status, "error-text": "..."}]}
    assert classify(200, json.dumps(body).encode()).outcome is outcome


def test_documented_success_body_is_accepted():
    body = {"message-count": "1", "messages": [{
        "to": "447700900000", "message-id": "0A0000000123ABCD1", "status": "0", "remaining-balance": "3.14159265",
        "message-price": "0.03330000", "network": "12345", "client-ref": "my-personal-reference",
        "account-ref": "customer1234"}]}
    verdict = classify(200, json.dumps(body).encode())
    assert (verdict.outcome, verdict.message_id) == (Outcome.ACCEPTED, "0A0000000123ABCD1")


@pytest.mark.parametrize(
    ("status_code", "body", "outcome", "configuration_problem"),
    [
        pytest.param(200, {"message-count": "1", "messages": [{"status": "99"}]}, Outcome.PROVIDER_FAILURE, False,
                     id="unknown-status"),
        pytest.param(200, {"message-count": "1", "messages": [{"status": "0"}]}, Outcome.PROVIDER_FAILURE, False,
                     id="accepted-part-without-id"),
        pytest.param(200, {"message-count": "0", "messages": []}, Outcome.PROVIDER_FAILURE, False, id="no-parts"),
        pytest.param(200, ["not", "an", "object"], Outcome.PROVIDER_FAILURE, False, id="not-an-object"),
        pytest.param(401, {"type": "unauthorized"}, Outcome.PROVIDER_FAILURE, True, id="http-401"),
        pytest.param(404, {}, Outcome.PROVIDER_FAILURE, True, id="http-404-wrong-base-url"),
        pytest.param(429, {}, Outcome.THROTTLED, False, id="http-429"),
        pytest.param(500, {}, Outcome.PROVIDER_FAILURE, False, id="http-500"),
    ],
)
def test_odd_answers(status_code, body, outcome, configuration_problem):
    verdict = classify(status_code, json.dumps(body).encode())
    assert (verdict.outcome, verdict.configuration_problem) == (outcome, configuration_problem)


def test_an_answer_that_is_not_json_is_a_provider_failure():
    assert classify(200, b"<html>maintenance</html>").outcome is Outcome.PROVIDER_FAILURE


def test_the_simulators_own_rate_limit_answers_status_1_throttled(vonage, wire):
    vonage.configure(rate_limit=1)
    provider = adapter(config(vonage.url), wire[0])
    assert [send(provider).outcome for _ in range(2)] == [Outcome.ACCEPTED, Outcome.THROTTLED]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        pytest.param({"api_key": "has-dash"}, "api_key", id="api-key-pattern"),
        pytest.param({"from": "A sender name too long"}, "from", id="alphanumeric-sender-over-11"),
        pytest.param({"signature_method": "sha3"}, "signature_method", id="unknown-signature-method"),
        pytest.param({"ttl_ms": 1000}, "ttl_ms", id="ttl-below-20-s"),
        pytest.param({"callback": "https://gw.example/" + "x" * 100}, "callback", id="callback-over-100-chars"),
    ],
)
def test_configuration_is_validated_field_by_field(fields, problem):
    with pytest.raises(ValueError, match=problem):
        config("https://rest.nexmo.com", **fields)


# The client's options: its sender id and what is left of its validity.


def test_clients_sender_is_vonages_from_and_its_validity_the_ttl_in_ms(vonage, wire):
    provider = adapter(config(vonage.url, ttl_ms=60_000), wire[0])
    result = provider.send(OutgoingSms(PHONE, "hello", REQUEST_ID, 1, sender="ACME",
                           validity_s=600))
    form = dict(parse_qsl(wire[1][0].content.decode()))
    assert (form["from"], form["ttl"]) == ("ACME", "600000")
    assert result.outcome is Outcome.ACCEPTED


def test_e164_sender_goes_without_plus_and_a_short_validity_is_raised_to_vonages_least(vonage, wire):
    adapter(config(vonage.url), wire[0]).send(OutgoingSms(PHONE, "hello", REQUEST_ID, 1,
                                              sender="+14155550199", validity_s=5))
    form = dict(parse_qsl(wire[1][0].content.decode()))
    assert (form["from"], form["ttl"]) == ("14155550199", "20000")


def test_without_options_the_configured_sender_is_used_and_no_ttl_sent(vonage, wire):
    send(adapter(config(vonage.url), wire[0]))
    form = dict(parse_qsl(wire[1][0].content.decode()))
    assert form["from"] == "AcmeInc" and "ttl" not in form
