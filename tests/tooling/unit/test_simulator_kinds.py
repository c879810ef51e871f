"""The simulator's vendor wire formats, spoken to with plain HTTP: what each vendor checks, answers and
throttles with, as its documentation says (docs/providers.md)."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from chalicelib.vendors.vonage.adapter import signature
from localdev.simulators import WIRE_FORMATS, SimRequest
from localdev.simulators.aws import sigv4_signature, verify_sigv4

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[3]
ACCOUNT_SID = "AC" + "5" * 32
TWILIO = {"account_sid": ACCOUNT_SID, "auth_token": "tw-token"}
VONAGE = {"api_key": "abcd1234", "api_secret": "vg-secret"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def twilio_post(sim, form, headers=None, account=ACCOUNT_SID):
    return httpx.post(f"{sim.url}/2010-04-01/Accounts/{account}/Messages.json", data=form,
                      headers=headers if headers is not None else basic(ACCOUNT_SID, "tw-token"))


def vonage_post(sim, form, **kwargs):
    return httpx.post(f"{sim.url}/sms/json", data=form, **kwargs)


VONAGE_FORM = {"api_key": "abcd1234", "api_secret": "vg-secret", "from": "Acme", "to": "14155550100", "text": "hi"}


# ------------------------------------------------------------------ twilio


@pytest.mark.parametrize(
    ("form", "code"),
    [
        pytest.param({"From": "+15005550006", "Body": "hi"}, 21604, id="no-to"),
        pytest.param({"To": "+14155550100", "From": "+15005550006"}, 21602, id="no-body"),
        pytest.param({"To": "+14155550100", "Body": "hi"}, 21603, id="no-sender"),
        pytest.param({"To": "14155550100", "From": "+15005550006", "Body": "hi"}, 21211, id="to-without-plus"),
    ],
)
def test_twilio_refuses_a_malformed_message_with_its_code(simulators, form, code):
    sim = simulators("tw", kind="twilio", credentials=TWILIO)
    response = twilio_post(sim, form)
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert response.json()["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


@pytest.mark.parametrize(
    ("headers", "auth"),
    [
        pytest.param({}, "missing", id="no-authorization"),
        pytest.param(basic(ACCOUNT_SID, "wrong"), "wrong", id="wrong-token"),
        pytest.param({"Authorization": "Basic !!!"}, "wrong", id="not-base64"),
    ],
)
def test_twilio_checks_basic_auth(simulators, headers, auth):
    sim = simulators("tw", kind="twilio", credentials=TWILIO)
    response = twilio_post(sim, {"To": "+14155550100", "From": "+15005550006", "Body": "hi"}, headers)
    assert (response.status_code, response.json()["code"]) == (401, 20003)
    assert sim.arrivals()[0]["auth"] == auth


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b'{"To": "+14155550100", "Body": "hi"}', "application/json", id="json-not-a-form"),
        pytest.param(b"To=%2B14155550100&Body=\xff", "application/x-www-form-urlencoded", id="not-utf-8"),
    ],
)
def test_twilio_reads_only_utf8_forms(simulators, content, content_type):
    sim = simulators("tw", kind="twilio", credentials=TWILIO)
    response = httpx.post(f"{sim.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", content=content,
                          headers={"Content-Type": content_type, **basic(ACCOUNT_SID, "tw-token")})
    assert (response.status_code, response.json()["code"]) == (400, 21604)


def test_twilio_answers_404_20404_for_another_account(simulators):
    sim = simulators("tw", kind="twilio", credentials=TWILIO)
    response = twilio_post(sim, {"To": "+14155550100", "From": "+15005550006", "Body": "hi"}, account="AC" + "6" * 32)
    assert (response.status_code, response.json()["code"]) == (404, 20404)


def test_twilio_without_credentials_accepts_any_well_formed_basic_auth(simulators):
    sim = simulators("tw", kind="twilio")
    response = twilio_post(sim, {"To": "+14155550100", "MessagingServiceSid": "MG" + "7" * 32, "Body": "hi"},
                           basic(ACCOUNT_SID, "anything"))
    assert (response.status_code, response.json()["status"]) == (201, "accepted")
    assert sim.arrivals()[0]["auth"] == "unchecked"
    assert twilio_post(sim, {"To": "+14155550100", "From": "+1500", "Body": "hi"}, basic("bob", "x")).status_code == 401


# ------------------------------------------------------------------ vonage


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        pytest.param({"api_key": None}, "2", id="no-api-key"),
        pytest.param({"api_secret": None}, "2", id="no-secret"),
        pytest.param({"api_secret": "wrong"}, "4", id="wrong-secret"),
        pytest.param({"api_key": "other"}, "4", id="wrong-key"),
        pytest.param({"sig": "0" * 32}, "32", id="signature-and-secret"),
        pytest.param({"to": "+14155550100"}, "3", id="to-with-plus"),
        pytest.param({"text": None}, "2", id="no-text"),
    ],
)
def test_vonage_refuses_with_http_200_and_a_status(simulators, changes, status):
    sim = simulators("vg", kind="vonage", credentials=VONAGE)
    form = {key: value for key, value in {**VONAGE_FORM, **changes}.items() if value is not None}
    response = vonage_post(sim, form)
    assert response.status_code == 200
    assert [part["status"] for part in response.json()["messages"]] == [status]


@pytest.mark.parametrize(
    ("credentials", "form", "status"),
    [
        pytest.param({"api_key": "abcd1234", "api_secret": "vg-secret"},
                     {"sig": "0" * 32, "timestamp": "1"}, "14", id="signed-but-this-account-signs-with-no-secret"),
        pytest.param({}, {"sig": "0" * 32, "timestamp": "1"}, "0", id="signed-and-nothing-to-check-against"),
        pytest.param({"api_key": "abcd1234", "signature_secret": "s"}, {"api_secret": "x"}, "4",
                     id="secret-sent-to-a-signing-account"),
        pytest.param({}, {"api_secret": "anything"}, "0", id="secret-and-nothing-to-check-against"),
    ],
)
def test_vonage_auth_variants(simulators, credentials, form, status):
    sim = simulators("vg", kind="vonage", credentials=credentials)
    base = {key: VONAGE_FORM[key] for key in ("api_key", "from", "to", "text")}
    response = vonage_post(sim, {**base, **form}, headers={"Authorization": "Basic ???"})  # a bad header: ignored
    assert response.json()["messages"][0]["status"] == status


def test_vonage_accepts_basic_auth_as_its_current_sdk_sends_it(simulators):
    sim = simulators("vg", kind="vonage", credentials=VONAGE)
    form = {key: VONAGE_FORM[key] for key in ("from", "to", "text")}
    response = vonage_post(sim, form, headers=basic("abcd1234", "vg-secret"))
    assert response.json()["messages"][0]["status"] == "0"


def test_vonage_checks_a_signature_over_every_parameter(simulators):
    sim = simulators("vg", kind="vonage", credentials={"api_key": "abcd1234", "signature_secret": "sig-secret",
                                                        "signature_method": "sha512"})
    form = {key: VONAGE_FORM[key] for key in ("api_key", "from", "to", "text")} | {"timestamp": "1700000000"}
    good = vonage_post(sim, {**form, "sig": signature(form, "sig-secret", "sha512").upper()})
    tampered = vonage_post(sim, {**form, "text": "changed", "sig": signature(form, "sig-secret", "sha512")})
    assert [r.json()["messages"][0]["status"] for r in (good, tampered)] == ["0", "14"]


def test_vonage_answers_one_entry_per_part_and_flags_unicode_sent_as_text(simulators):
    sim = simulators("vg", kind="vonage", credentials=VONAGE)
    response = vonage_post(sim, {**VONAGE_FORM, "text": "✓" * 100})  # UCS-2: two parts of 67
    parts = response.json()["messages"]
    assert response.json()["message-count"] == "2"
    assert [part["status"] for part in parts] == ["0", "0"]
    assert sim.sent()[0]["fields"]["garbled"] is True  # type=unicode was not sent


# ------------------------------------------------------------------ aws


def test_sigv4_matches_awss_published_get_vanilla_vector():
    """aws-sig-v4-test-suite "get-vanilla" (also in awslabs/aws-crt-python's tests)."""
    request = SimRequest("GET", "/", {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"}, b"")
    assert sigv4_signature(request, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", date="20150830", region="us-east-1",
                           service="service", signed_headers=["host", "x-amz-date"]) == (
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")


@pytest.mark.parametrize(
    ("authorization", "verdict"),
    [
        pytest.param(None, ("missing", "MissingAuthenticationTokenException"), id="missing"),
        pytest.param("Bearer x", ("wrong", "InvalidSignatureException"), id="not-sigv4"),
        pytest.param("AWS4-HMAC-SHA256 Credential=other/20240101/us-east-1/sms-voice/aws4_request, "
                     "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
                     ("wrong", "UnrecognizedClientException"), id="unknown-access-key"),
        pytest.param("AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/sms-voice/aws4_request, "
                     "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
                     ("wrong", "InvalidSignatureException"), id="bad-signature"),
        pytest.param("AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/sms-voice/aws4_request, "
                     "SignedHeaders=host;x-amz-target, Signature=" + "0" * 64,
                     ("wrong", "InvalidSignatureException"), id="signed-header-absent"),
    ],
)
def test_sigv4_verdicts(authorization, verdict):
    headers = {"host": "127.0.0.1", "x-amz-date": "20240101T000000Z"}
    if authorization:
        headers["authorization"] = authorization
    assert verify_sigv4(SimRequest("POST", "/", headers, b"{}"), "testing", "testing") == verdict


@pytest.mark.parametrize(
    ("target", "body", "type_", "reason"),
    [
        pytest.param("PinpointSMSVoiceV2.SendVoiceMessage", {}, "UnknownOperationException", None, id="other-target"),
        pytest.param("PinpointSMSVoiceV2.SendTextMessage", b"{", "ValidationException", "CANNOT_PARSE", id="not-json"),
        pytest.param("PinpointSMSVoiceV2.SendTextMessage", {"DestinationPhoneNumber": "abc", "MessageBody": "hi"},
                     "ValidationException", "FIELD_VALIDATION_FAILED", id="bad-destination"),
        pytest.param("PinpointSMSVoiceV2.SendTextMessage", {"DestinationPhoneNumber": "+14155550100",
                                                            "MessageBody": "   "},
                     "ValidationException", "FIELD_VALIDATION_FAILED", id="blank-body"),
        pytest.param("PinpointSMSVoiceV2.SendTextMessage", {"DestinationPhoneNumber": "+14155550100",
                                                            "MessageBody": "hi",
                                                            "Context": {str(i): "v" for i in range(6)}},
                     "ValidationException", "FIELD_VALIDATION_FAILED", id="context-over-5"),
    ],
)
def test_aws_answers_a_malformed_call_in_json_10(simulators, target, body, type_, reason):
    sim = simulators("aws", kind="aws")  # no credentials: a well-formed signature is not checked
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(f"{sim.url}/", content=content, headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=k/20240101/us-east-1/sms-voice/aws4_request, "
                         "SignedHeaders=host, Signature=" + "0" * 64})
    assert response.status_code == 400
    assert response.json()["__type"].endswith(type_)
    assert response.json().get("Reason") == reason


# ------------------------------------------------------------------ common to every kind


@pytest.mark.parametrize(
    ("kind", "status", "marker"),
    [
        pytest.param("http-json", 429, "rate limit exceeded", id="http-json-429"),
        pytest.param("twilio", 429, "20429", id="twilio-429-20429"),
        pytest.param("vonage", 200, '"status": "1"', id="vonage-200-status-1"),
        pytest.param("aws", 400, "ThrottlingException", id="aws-400-throttling-exception"),
    ],
)
def test_over_its_own_rate_limit_each_kind_answers_as_the_vendor_throttles(kind, status, marker):
    # Sent over HTTP, and classified throttled, in each adapter's contract tests.
    wire = WIRE_FORMATS[kind]
    answer = wire.answer(wire.RATE_LIMIT_CODE, None, retry_after_s=1)
    assert answer.status == status
    assert marker in answer.body.decode()


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param({"error_code": "21211"}, "error_code must be one of", id="code-of-another-kind"),
        pytest.param({"mode": "error"}, "needs an error_code", id="error-mode-without-code"),
        pytest.param({"credentials": {"auth_token": "x"}}, "credentials must be", id="credential-of-another-kind"),
        pytest.param({"credentials": {"api_key": 5}}, "credentials must be", id="credential-not-a-string"),
        pytest.param({"drip_ms": -1}, "drip_ms", id="negative-drip"),
    ],
)
def test_config_endpoint_refuses_what_the_kind_does_not_have(simulators, changes, problem):
    sim = simulators("vg", kind="vonage")
    response = httpx.post(f"{sim.base_url}/_config", json=changes)
    assert response.status_code == 400
    assert problem in response.json()["error"]


def test_unknown_kind_is_refused():
    from localdev.provider_simulator import SimulatorConfig

    with pytest.raises(ValueError, match="kind must be one of"):
        SimulatorConfig(name="x", kind="sinch")


def test_drip_mode_still_delivers_the_whole_answer_to_a_patient_client(simulators):
    sim = simulators("tw", kind="twilio", mode="drip", drip_ms=1)
    response = twilio_post(sim, {"To": "+14155550100", "From": "+15005550006", "Body": "hi"},
                           basic(ACCOUNT_SID, "x"))
    assert (response.status_code, response.json()["sid"]) == (201, sim.sent()[0]["message_id"])


def test_arrivals_record_kind_path_and_auth_verdict(simulators):
    sim = simulators("vg", kind="vonage", credentials=VONAGE)
    vonage_post(sim, VONAGE_FORM)
    [arrival] = sim.arrivals()
    assert (arrival["kind"], arrival["path"], arrival["auth"], arrival["status"]) == ("vonage", "/sms/json", "ok", 200)
    assert sim.stats()["kind"] == "vonage"


def test_a_post_elsewhere_is_not_a_send(simulators):
    sim = simulators("vg", kind="vonage")
    assert httpx.post(f"{sim.url}/sms/xml", data=VONAGE_FORM).status_code == 404
    assert sim.arrivals() == []


def test_cli_runs_one_simulator_per_kind():
    many = json.dumps([{"name": "tw", "kind": "twilio", "port": 0}, {"name": "aws", "kind": "aws", "port": 0}])
    process = subprocess.Popen([sys.executable, "-m", "localdev.provider_simulator", "--many", many], cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        urls = dict(line.split()[2::3] for line in (process.stdout.readline() for _ in range(2)))
        assert set(urls) == {"tw", "aws"}
        assert httpx.get(f"{urls['tw']}/_stats").json()["kind"] == "twilio"
        assert httpx.get(f"{urls['aws']}/_stats").json()["kind"] == "aws"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        process.stdout.close()


def _receipt_state(kind: str, *, delivered: bool, interim: bool):
    """A simulator's receipt, as the gateway's own parser for that vendor reads it."""
    from urllib.parse import parse_qsl, urlsplit

    from chalicelib.vendors import http_json
    from chalicelib.vendors.aws import events as aws_events
    from chalicelib.vendors.twilio import receipts as twilio
    from chalicelib.vendors.vonage import receipts as vonage

    message = {"to": "+14155550100", "reference": "d" * 32, "account_sid": ACCOUNT_SID,
               "fields": {"From": "+15005550006", "from": "ACME", "api_key": "abcd1234",
                          "StatusCallback": "http://127.0.0.1:8000/webhooks/tw?ref=" + "d" * 32,
                          "Context": {"request_id": "d" * 32, "provider": "aws"}}}
    call = WIRE_FORMATS[kind].receipt(message=message, message_id="m-1", delivered=delivered,
                                      url="http://127.0.0.1:8000/webhooks/x", credentials={}, secret="s",
                                      now=1_700_000_000.0, interim=interim)
    if kind == "aws":
        return aws_events.parse(aws_events.event_of(call.body.decode()), None).state
    if kind == "twilio":
        return twilio.parse("tw", parse_qsl(call.body.decode())).state
    if kind == "vonage":
        return vonage.parse("vg", dict(parse_qsl(urlsplit(call.url).query))).state
    return http_json.parse("http", call.body).state


@pytest.mark.parametrize("kind", ["aws", "twilio", "vonage", "http-json"])
def test_an_interim_receipt_in_each_vendors_format_is_read_as_interim_before_the_final_one(kind):
    assert _receipt_state(kind, delivered=True, interim=True) == "interim"
    assert _receipt_state(kind, delivered=False, interim=True) == "interim"
    assert _receipt_state(kind, delivered=True, interim=False) == "delivered"
    assert _receipt_state(kind, delivered=False, interim=False) == "undelivered"
