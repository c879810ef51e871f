"""The twilio adapter against Twilio's documented contract: the exact request, every answer class, the deadline.

Sources: the Messages resource (https://www.twilio.com/docs/messaging/api/message-resource; twilio-oai
spec/json/twilio_api_v2010.json: CreateMessage answers 201, HTTP Basic), the error dictionary
(https://www.twilio.com/docs/api/errors/<code>) and its error body {"code", "message", "more_info", "status"}.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl

import pytest
from pydantic import TypeAdapter

from chalicelib.providers import Outcome, OutgoingSms
from chalicelib.settings import ProviderConfig
from chalicelib.vendors.twilio.adapter import TwilioConfig, TwilioProvider, classify
from tests.unit.providers.conftest import PHONE, REQUEST_ID

pytestmark = pytest.mark.unit

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
API_KEY_SID = "SK" + "fedcba9876543210" * 2
MESSAGING_SERVICE_SID = "MG" + "00112233445566778899aabbccddeeff"
AUTH_TOKEN = "twilio-test-token"
CREDENTIALS = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}


def config(base_url: str, **fields) -> TwilioConfig:
    entry = {"name": "tw", "kind": "twilio", "account_sid": ACCOUNT_SID, "from": "+15005550006",
             "auth_token": AUTH_TOKEN, "base_url": base_url, **fields}
    return TypeAdapter(ProviderConfig).validate_python(entry)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def send(provider, text="hello", attempt=1):
    return provider.send(OutgoingSms(PHONE, text, REQUEST_ID, attempt))


@pytest.fixture
def twilio(simulators):
    return simulators("tw", kind="twilio", credentials=CREDENTIALS)


def test_request_is_twilios_documented_form_post(twilio, wire):
    """Twilio's example: curl -X POST .../Accounts/$SID/Messages.json --data-urlencode "To=+1..." -u $SID:$TOKEN"""
    result = send(TwilioProvider(config(twilio.url), wire[0]), text="Olá ✓ café & more")
    [request] = wire[1]
    assert request.method == "POST"
    assert str(request.url) == f"{twilio.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["accept"] == "application/json"
    assert request.headers["authorization"] == basic(ACCOUNT_SID, AUTH_TOKEN)
    # "+" is percent-encoded (a bare "+" would read as a space), the text is UTF-8, then percent-encoded.
    assert request.content == b"To=%2B14155550100&From=%2B15005550006&Body=Ol%C3%A1+%E2%9C%93+caf%C3%A9+%26+more"
    assert result.outcome is Outcome.ACCEPTED
    [arrival] = twilio.arrivals()
    assert (arrival["auth"], arrival["status"]) == ("ok", 201)
    assert twilio.sent()[0]["text"] == "Olá ✓ café & more"


def test_api_key_authenticates_with_the_account_sid_still_in_the_path(simulators, wire):
    twilio = simulators("tw", kind="twilio", credentials={"account_sid": ACCOUNT_SID, "api_key_sid": API_KEY_SID,
                                                          "api_key_secret": "key-secret"})
    provider = TwilioProvider(config(twilio.url, auth_token=None, api_key_sid=API_KEY_SID,
                                     api_key_secret="key-secret"), wire[0])
    assert send(provider).outcome is Outcome.ACCEPTED
    [request] = wire[1]
    assert request.headers["authorization"] == basic(API_KEY_SID, "key-secret")
    assert f"/Accounts/{ACCOUNT_SID}/" in request.url.path


def test_messaging_service_status_callback_and_validity_period_are_sent_when_configured(twilio, wire):
    provider = TwilioProvider(config(twilio.url, **{"from": None}, messaging_service_sid=MESSAGING_SERVICE_SID,
                                     status_callback="https://gw.example/callbacks/twilio",
                                     validity_period_s=600), wire[0])
    result = send(provider)
    form = dict(parse_qsl(wire[1][0].content.decode()))
    assert form == {"To": PHONE, "MessagingServiceSid": MESSAGING_SERVICE_SID, "Body": "hello",
                    "StatusCallback": "https://gw.example/callbacks/twilio", "ValidityPeriod": "600"}
    assert result.outcome is Outcome.ACCEPTED
    assert result.response_data["status"] == "accepted"  # a Messaging Service send starts "accepted"


def test_accepted_answer_gives_the_message_sid_and_keeps_no_text_or_number(twilio, wire):
    result = send(TwilioProvider(config(twilio.url), wire[0]))
    [sent] = twilio.sent()
    assert (result.outcome, result.status_code, result.message_id) == (Outcome.ACCEPTED, 201, sent["message_id"])
    assert result.message_id.startswith("SM")
    assert result.response_data["status"] == "queued"
    assert not {"body", "to", "from"} & set(result.response_data)


# The documented answers (error dictionary), each through the simulator's Twilio wire.
@pytest.mark.parametrize(
    ("code", "outcome", "configuration_problem"),
    [
        pytest.param("21211", Outcome.REFUSED, False, id="21211-invalid-to"),
        pytest.param("21610", Outcome.REFUSED, False, id="21610-unsubscribed"),
        pytest.param("21614", Outcome.REFUSED, False, id="21614-not-mobile"),
        # This account's set-up, not the message: another provider may send it.
        pytest.param("21408", Outcome.REFUSED_HERE, False, id="21408-region-not-enabled-here"),
        pytest.param("21612", Outcome.REFUSED_HERE, False, id="21612-unreachable-from-this-sender"),
        pytest.param("21608", Outcome.REFUSED_HERE, False, id="21608-trial-unverified"),
        pytest.param("20429", Outcome.THROTTLED, False, id="20429-too-many-requests"),
        pytest.param("21611", Outcome.THROTTLED, False, id="21611-from-queue-full"),
        pytest.param("20500", Outcome.PROVIDER_FAILURE, False, id="20500-internal"),
        pytest.param("21730", Outcome.PROVIDER_FAILURE, False, id="21730-maintenance"),
        pytest.param("21999", Outcome.PROVIDER_FAILURE, False, id="unclassified-4xx"),
        pytest.param("21609", Outcome.PROVIDER_FAILURE, True, id="21609-invalid-status-callback"),
        pytest.param("21705", Outcome.PROVIDER_FAILURE, True, id="21705-invalid-messaging-service"),
        pytest.param("20503", Outcome.PROVIDER_FAILURE, False, id="20503-unavailable"),
        pytest.param("20003", Outcome.PROVIDER_FAILURE, True, id="20003-authenticate"),
        pytest.param("20404", Outcome.PROVIDER_FAILURE, True, id="20404-not-found"),
        pytest.param("21606", Outcome.PROVIDER_FAILURE, True, id="21606-from-not-of-this-account"),
    ],
)
def test_every_answer_class(twilio, wire, code, outcome, configuration_problem):
    twilio.configure(mode="error", error_code=code)
    result = send(TwilioProvider(config(twilio.url), wire[0]))
    assert (result.outcome, result.configuration_problem, result.message_id) == (outcome, configuration_problem, None)
    assert result.error.startswith(f"twilio {code}:")
    assert result.response_data["code"] == int(code)
    assert twilio.sent() == []


def test_an_unclassified_4xx_is_a_provider_failure_logged_loudly(twilio, wire, log_output):
    twilio.configure(mode="error", error_code="21999")
    result = send(TwilioProvider(config(twilio.url), wire[0]))
    assert (result.outcome, result.status_code) == (Outcome.PROVIDER_FAILURE, 400)
    assert result.outcome.counts_for_health  # retried elsewhere with backoff, never a silent refusal
    [line] = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert (line["level"], line["message"], line["kind"], line["code"]) == (
        "ERROR", "unclassified provider answer, read as a provider failure", "twilio", 21999)


def test_a_refusal_here_does_not_count_for_the_providers_health(twilio, wire):
    twilio.configure(mode="error", error_code="21408")
    result = send(TwilioProvider(config(twilio.url), wire[0]))
    assert (result.outcome, result.configuration_problem) == (Outcome.REFUSED_HERE, False)
    assert not result.outcome.counts_for_health


def test_wrong_auth_token_trips_health_as_a_configuration_problem(twilio, wire):
    result = send(TwilioProvider(config(twilio.url, auth_token="rotated-away"), wire[0]))
    assert (result.outcome, result.status_code, result.configuration_problem) == (Outcome.PROVIDER_FAILURE, 401, True)
    assert result.outcome.counts_for_health
    assert twilio.arrivals()[0]["auth"] == "wrong"


def test_wrong_account_sid_is_a_configuration_problem(twilio, wire):
    other = "AC" + "f" * 32
    twilio.configure(credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN})
    result = send(TwilioProvider(config(twilio.url, account_sid=other), wire[0]))
    assert (result.outcome, result.configuration_problem) == (Outcome.PROVIDER_FAILURE, True)


def test_the_simulators_own_rate_limit_answers_429_20429_throttled(twilio, wire):
    twilio.configure(rate_limit=1)
    provider = TwilioProvider(config(twilio.url), wire[0])
    first, second = send(provider), send(provider)
    assert (first.outcome, second.outcome, second.status_code) == (Outcome.ACCEPTED, Outcome.THROTTLED, 429)


@pytest.mark.parametrize(
    ("status", "body", "outcome", "configuration_problem"),
    [
        pytest.param(201, {"sid": "SM1", "status": "queued", "error_code": None}, Outcome.ACCEPTED, False,
                     id="201-queued"),
        pytest.param(201, {"sid": "SM1", "status": "scheduled"}, Outcome.ACCEPTED, False, id="201-scheduled"),
        pytest.param(201, {"status": "queued"}, Outcome.PROVIDER_FAILURE, False, id="2xx-without-sid"),
        pytest.param(201, {"sid": "SM1", "status": "failed", "error_code": 21610}, Outcome.REFUSED, False,
                     id="2xx-failed-with-a-known-code"),
        pytest.param(201, {"sid": "SM1", "status": "failed", "error_code": 30008}, Outcome.PROVIDER_FAILURE, False,
                     id="2xx-failed-with-an-unknown-code"),
        pytest.param(400, {"code": 21211, "message": "The 'To' number 5551234567 is not a valid phone number.",
                           "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400},
                     Outcome.REFUSED, False, id="documented-21211-body"),
        pytest.param(401, {"code": 20003, "detail": "Your AccountSid or AuthToken was incorrect.",
                           "message": "Authentication Error - invalid username",
                           "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401},
                     Outcome.PROVIDER_FAILURE, True, id="documented-20003-body"),
        pytest.param(201, {"sid": "SM1", "status": "failed", "error_code": 21612}, Outcome.REFUSED_HERE, False,
                     id="2xx-failed-refused-here"),
        pytest.param(400, {"code": 21999, "message": "?", "status": 400}, Outcome.PROVIDER_FAILURE, False,
                     id="unknown-400-code-a-provider-failure"),
        pytest.param(403, {"message": "forbidden", "status": 403}, Outcome.PROVIDER_FAILURE, True, id="403-no-code"),
        pytest.param(404, {"message": "not found", "status": 404}, Outcome.PROVIDER_FAILURE, True, id="404-no-code"),
        pytest.param(429, {"message": "slow down", "status": 429}, Outcome.THROTTLED, False, id="429-no-code"),
        pytest.param(502, {"message": "bad gateway"}, Outcome.PROVIDER_FAILURE, False, id="502-no-code"),
        pytest.param(400, {"code": "not-a-number", "status": 400}, Outcome.PROVIDER_FAILURE, False,
                     id="code-not-a-number"),
    ],
)
def test_classification_of_documented_and_odd_answers(status, body, outcome, configuration_problem):
    verdict = classify(status, json.dumps(body).encode())
    assert (verdict.outcome, verdict.configuration_problem) == (outcome, configuration_problem)


@pytest.mark.parametrize("body", [b"<html>Bad Gateway</html>", b"[1, 2]", b""])
def test_an_answer_that_is_not_a_json_object_is_a_provider_failure(body):
    verdict = classify(200, body)
    assert verdict.outcome is Outcome.PROVIDER_FAILURE
    assert "malformed" in verdict.error


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        pytest.param({"account_sid": "AC123"}, "account_sid", id="short-account-sid"),
        pytest.param({"from": None}, "exactly one of 'from' and 'messaging_service_sid'", id="no-sender"),
        pytest.param({"messaging_service_sid": MESSAGING_SERVICE_SID}, "exactly one", id="two-senders"),
        pytest.param({"from": "+1 415 555"}, "from", id="sender-with-spaces"),
        pytest.param({"api_key_sid": "SKnope"}, "api_key_sid", id="bad-api-key-sid"),
        pytest.param({"status_callback": "https://bad_host.example/cb"}, "status_callback", id="underscore-host"),
        pytest.param({"validity_period_s": 36001}, "validity_period_s", id="validity-too-long"),
        pytest.param({"base_url": "https://api.twilio.com/"}, "base_url", id="base-url-with-path"),
    ],
)
def test_configuration_is_validated_field_by_field(fields, problem):
    with pytest.raises(ValueError, match=problem):
        config(**{"base_url": "https://api.twilio.com", **fields})


# The client's options: its sender id and what is left of its validity.


def test_clients_sender_is_twilios_from_and_its_validity_the_validity_period(twilio, wire):
    provider = TwilioProvider(config(twilio.url, validity_period_s=600), wire[0])
    result = provider.send(OutgoingSms(PHONE, "hello", REQUEST_ID, 1, sender="ACME",
                           validity_s=1200))
    form = dict(parse_qsl(wire[1][0].content.decode()))
    assert (form["From"], form["ValidityPeriod"]) == ("ACME", "1200")  # the client's win over the entry's
    assert result.outcome is Outcome.ACCEPTED


def test_validity_beyond_twilios_limit_is_cut_to_36000_s(twilio, wire):
    TwilioProvider(config(twilio.url), wire[0]).send(OutgoingSms(PHONE, "hello", REQUEST_ID, 1,
                                                     validity_s=72 * 3600))
    assert dict(parse_qsl(wire[1][0].content.decode()))["ValidityPeriod"] == "36000"


def test_clients_sender_goes_with_the_messaging_service(twilio, wire):
    provider = TwilioProvider(config(twilio.url, **{"from": None}, messaging_service_sid=MESSAGING_SERVICE_SID),
                              wire[0])
    provider.send(OutgoingSms(PHONE, "hello", REQUEST_ID, 1, sender="+14155550199"))
    form = dict(parse_qsl(wire[1][0].content.decode()))
    assert (form["From"], form["MessagingServiceSid"]) == ("+14155550199", MESSAGING_SERVICE_SID)


def test_without_options_the_configured_sender_is_used_and_no_validity_sent(twilio, wire):
    send(TwilioProvider(config(twilio.url), wire[0]))
    form = dict(parse_qsl(wire[1][0].content.decode()))
    assert form["From"] == "+15005550006" and "ValidityPeriod" not in form


def test_webhook_url_becomes_each_messages_status_callback_naming_the_request(twilio, wire):
    send(TwilioProvider(config(twilio.url, webhook_url="https://sms.example.com/prod/webhooks/tw"), wire[0]))
    [request] = wire[1]
    form = dict(parse_qsl(request.content.decode()))
    assert form["StatusCallback"] == f"https://sms.example.com/prod/webhooks/tw?ref={REQUEST_ID}"


def test_webhook_url_and_status_callback_are_one_or_the_other():
    with pytest.raises(ValueError, match="webhook_url"):
        config("https://api.twilio.com", webhook_url="https://a.example/webhooks/tw",
               status_callback="https://b.example/cb")
