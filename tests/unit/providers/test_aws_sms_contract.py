"""The aws adapter against AWS End User Messaging SMS's documented contract (pinpoint-sms-voice-v2
SendTextMessage over AWS JSON 1.0): the exact signed request, every error shape, one attempt only.

Sources: the API reference (https://docs.aws.amazon.com/pinpoint/latest/apireference_smsvoicev2/API_SendTextMessage.html),
the service model botocore ships (botocore/data/pinpoint-sms-voice-v2/2022-03-31/service-2.json: protocol json 1.0,
targetPrefix PinpointSMSVoiceV2, signingName sms-voice, the error shapes and their Reason enums) and SigV4
(https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html). moto does not implement this API:
the simulator speaks it.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading

import pytest
from pydantic import TypeAdapter

from chalicelib.providers import Outcome, OutgoingSms
from chalicelib.settings import ProviderConfig
from chalicelib.vendors.aws.adapter import AwsSmsConfig, AwsSmsProvider, classify_error
from tests.unit.providers.conftest import PHONE, REQUEST_ID

pytestmark = pytest.mark.unit

ENV_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # tests/unit/conftest.py


def config(endpoint_url: str, **fields) -> AwsSmsConfig:
    entry = {"name": "aws", "kind": "aws", "endpoint_url": endpoint_url, "origination_identity": "+15005550007",
             **fields}
    return TypeAdapter(ProviderConfig).validate_python(entry)


def send(provider, text="hello", attempt=1):
    return provider.send(OutgoingSms(PHONE, text, REQUEST_ID, attempt))


@pytest.fixture
def aws_sms(simulators):
    return simulators("aws", kind="aws", credentials=ENV_CREDENTIALS)


def test_request_is_a_sigv4_signed_json_10_call(aws_sms, wire):
    result = send(AwsSmsProvider(config(aws_sms.url), wire[0]), text="Olá ✓ café")
    [request] = wire[1]
    assert (request.method, str(request.url)) == ("POST", f"{aws_sms.url}/")
    assert request.headers["content-type"] == "application/x-amz-json-1.0"
    assert request.headers["x-amz-target"] == "PinpointSMSVoiceV2.SendTextMessage"
    assert re.fullmatch(r"AWS4-HMAC-SHA256 Credential=testing/\d{8}/us-east-1/sms-voice/aws4_request, "
                        r"SignedHeaders=[a-z0-9;-]*x-amz-target[a-z0-9;-]*, Signature=[0-9a-f]{64}",
                        request.headers["authorization"])
    # JSON, not a form: the "+" of the number travels as is, and the text decodes to what was sent.
    assert json.loads(request.content) == {
        "DestinationPhoneNumber": "+14155550100", "OriginationIdentity": "+15005550007", "MessageBody": "Olá ✓ café",
        "MessageType": "TRANSACTIONAL",
        # Context comes back in the delivery events: the request and the provider they are about.
        "Context": {"request_id": REQUEST_ID, "attempt": "1", "provider": "aws"}}
    assert b'"+14155550100"' in request.content
    assert (result.outcome, result.status_code) == (Outcome.ACCEPTED, 200)
    [arrival] = aws_sms.arrivals()
    assert (arrival["auth"], arrival["reference"]) == ("ok", REQUEST_ID)  # the simulator checked the signature


def test_optional_fields_are_sent_when_configured(aws_sms, wire):
    conf = config(aws_sms.url, region="eu-west-1", message_type="PROMOTIONAL", configuration_set="gateway-events",
                  max_price="0.05", time_to_live_s=600)
    send(AwsSmsProvider(conf, wire[0]))
    body = json.loads(wire[1][0].content)
    assert (body["MessageType"], body["ConfigurationSetName"], body["MaxPrice"], body["TimeToLive"]) == (
        "PROMOTIONAL", "gateway-events", "0.05", 600)
    assert "/eu-west-1/sms-voice/" in wire[1][0].headers["authorization"]


def test_accepted_answer_gives_the_message_id(aws_sms, wire):
    result = send(AwsSmsProvider(config(aws_sms.url), wire[0]))
    [sent] = aws_sms.sent()
    assert result.message_id == sent["message_id"]
    assert result.response_data["MessageId"] == sent["message_id"]
    assert result.response_data["request_id"]  # x-amzn-RequestId, for AWS support


@pytest.mark.parametrize(
    ("code", "outcome", "configuration_problem"),
    [
        pytest.param("ValidationException:INVALID_PARAMETER", Outcome.REFUSED, False, id="validation-refused"),
        pytest.param("ValidationException:DESTINATION_COUNTRY_BLOCKED", Outcome.REFUSED_HERE, False,
                     id="destination-country-blocked-here"),
        pytest.param("ValidationException:SENDER_ID_NOT_REGISTERED", Outcome.REFUSED_HERE, False,
                     id="sender-id-not-registered-here"),
        pytest.param("ValidationException:SENDER_ID_REQUIRES_REGISTRATION", Outcome.REFUSED_HERE, False,
                     id="sender-id-requires-registration-here"),
        pytest.param("ValidationException:SENDER_ID_NOT_SUPPORTED", Outcome.REFUSED_HERE, False,
                     id="sender-id-not-supported-here"),
        pytest.param("ValidationException:INVALID_IDENTITY_FOR_DESTINATION_COUNTRY", Outcome.REFUSED_HERE, False,
                     id="invalid-identity-for-destination-country-here"),
        pytest.param("ValidationException:COUNTRY_NOT_ENABLED", Outcome.REFUSED_HERE, False,
                     id="country-not-enabled-here"),
        pytest.param("ValidationException:INTERNATIONAL_SENDING_NOT_SUPPORTED", Outcome.REFUSED_HERE, False,
                     id="international-sending-not-supported-here"),
        pytest.param("ValidationException:PRICE_OVER_THRESHOLD", Outcome.REFUSED_HERE, False,
                     id="price-over-this-providers-max-price-here"),
        pytest.param("ConflictException:DESTINATION_PHONE_NUMBER_NOT_VERIFIED", Outcome.REFUSED_HERE, False,
                     id="sandbox-unverified-destination-here"),
        pytest.param("ConflictException:NO_ORIGINATION_IDENTITIES_FOUND", Outcome.REFUSED_HERE, False,
                     id="no-origination-identity-here"),
        pytest.param("ConflictException:DESTINATION_PHONE_NUMBER_OPTED_OUT", Outcome.REFUSED, False, id="opted-out"),
        pytest.param("ThrottlingException", Outcome.THROTTLED, False, id="throttling"),
        pytest.param("InternalServerException", Outcome.PROVIDER_FAILURE, False, id="internal-server-500"),
        pytest.param("ValidationException:CHANNEL_NOT_ENABLED", Outcome.PROVIDER_FAILURE, True,
                     id="channel-not-enabled"),
        pytest.param("ConflictException:RESOURCE_NOT_ACTIVE", Outcome.PROVIDER_FAILURE, True, id="resource-not-active"),
        pytest.param("AccessDeniedException:ACCOUNT_DISABLED", Outcome.PROVIDER_FAILURE, True, id="access-denied"),
        pytest.param("ResourceNotFoundException:configuration-set", Outcome.PROVIDER_FAILURE, True,
                     id="resource-not-found"),
        pytest.param("ServiceQuotaExceededException:MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT", Outcome.PROVIDER_FAILURE,
                     True, id="spend-limit"),
        pytest.param("UnrecognizedClientException", Outcome.PROVIDER_FAILURE, True, id="unknown-access-key"),
        pytest.param("InvalidSignatureException", Outcome.PROVIDER_FAILURE, True, id="bad-signature"),
    ],
)
def test_every_answer_class(aws_sms, wire, code, outcome, configuration_problem):
    aws_sms.configure(mode="error", error_code=code)
    result = send(AwsSmsProvider(config(aws_sms.url), wire[0]))
    assert (result.outcome, result.configuration_problem, result.message_id) == (outcome, configuration_problem, None)
    assert result.error.startswith(f"aws {code.split(':')[0]}")
    assert len(aws_sms.arrivals()) == 1  # one attempt: botocore's own retries are off, retrying is the gateway's


def test_a_wrong_secret_key_fails_the_signature_check_as_a_configuration_problem(simulators, wire):
    aws_sms = simulators("aws", kind="aws", credentials={**ENV_CREDENTIALS, "aws_secret_access_key": "other"})
    result = send(AwsSmsProvider(config(aws_sms.url), wire[0]))
    assert (result.outcome, result.configuration_problem) == (Outcome.PROVIDER_FAILURE, True)
    assert result.error == "aws InvalidSignatureException"


def test_no_credentials_is_a_configuration_problem(aws_sms, wire, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = send(AwsSmsProvider(config(aws_sms.url), wire[0]))
    assert (result.outcome, result.configuration_problem) == (Outcome.PROVIDER_FAILURE, True)
    assert "NoCredentialsError" in result.error
    assert aws_sms.arrivals() == []


def test_a_text_botocore_refuses_before_sending_is_refused_without_quoting_it(aws_sms, wire):
    result = send(AwsSmsProvider(config(aws_sms.url), wire[0]), text="")
    assert (result.outcome, result.status_code) == (Outcome.REFUSED, None)
    assert aws_sms.arrivals() == []


def test_the_simulators_own_rate_limit_answers_throttling_exception(aws_sms, wire):
    aws_sms.configure(rate_limit=1)
    provider = AwsSmsProvider(config(aws_sms.url), wire[0])
    assert [send(provider).outcome for _ in range(2)] == [Outcome.ACCEPTED, Outcome.THROTTLED]


def error_response(code: str, status: int, **members) -> dict:
    """A ClientError's parsed response, as botocore builds it from {"__type", "Message", ...}."""
    return {"Error": {"Code": code, "Message": "..."}, "ResponseMetadata": {"HTTPStatusCode": status,
                                                                           "RequestId": "r-1"}, **members}


@pytest.mark.parametrize(
    ("response", "outcome", "configuration_problem"),
    [
        pytest.param(error_response("ValidationException", 400, Reason="SOMETHING_NEW"), Outcome.REFUSED, False,
                     id="validation-with-an-unknown-reason-refused"),
        pytest.param(error_response("ConflictException", 400, Reason="SOMETHING_NEW"), Outcome.PROVIDER_FAILURE, True,
                     id="conflict-with-an-unknown-reason-configuration"),
        pytest.param(error_response("ConflictException", 400, Reason="DESTINATION_PHONE_NUMBER_NOT_VERIFIED"),
                     Outcome.REFUSED_HERE, False, id="sandbox-unverified-destination-refused-here"),
        pytest.param(error_response("ConflictException", 400,
                                    Reason="DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION"),
                     Outcome.REFUSED, False, id="protect-configuration-block-stays-refused"),
        pytest.param(error_response("ExpiredTokenException", 400), Outcome.PROVIDER_FAILURE, True,
                     id="expired-token"),
        pytest.param(error_response("SomethingElse", 429), Outcome.THROTTLED, False, id="unknown-code-429"),
        pytest.param(error_response("SomethingElse", 503), Outcome.PROVIDER_FAILURE, False, id="unknown-code-503"),
        pytest.param(error_response("SomethingElse", 400), Outcome.PROVIDER_FAILURE, False, id="unknown-code-400"),
    ],
)
def test_classification_of_error_shapes(response, outcome, configuration_problem):
    verdict = classify_error(response)
    assert (verdict.outcome, verdict.configuration_problem) == (outcome, configuration_problem)
    assert verdict.response_data["request_id"] == "r-1"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        pytest.param({"secret_id": "gw/aws"}, "IAM role", id="no-secret"),
        pytest.param({"region": "Europe"}, "region", id="region-pattern"),
        pytest.param({"message_type": "SPAM"}, "message_type", id="message-type"),
        pytest.param({"time_to_live_s": 3}, "time_to_live_s", id="ttl-below-5-s"),
        pytest.param({"max_price": "1"}, "max_price", id="max-price-pattern"),
        pytest.param({"origination_identity": "+1 500"}, "origination_identity", id="identity-pattern"),
    ],
)
def test_configuration_is_validated_field_by_field(fields, problem):
    with pytest.raises(ValueError, match=problem):
        config("https://sms-voice.us-east-1.amazonaws.com", **fields)


def test_an_unreachable_endpoint_is_a_provider_failure(wire):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = send(AwsSmsProvider(config(closed), wire[0]))
    assert (result.outcome, result.error) == (Outcome.PROVIDER_FAILURE, "connection error: ConnectError")


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", "malformed answer: no MessageId",
                     id="200-without-message-id"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n" + b" " * 70000,
                     "answer larger than 65536 bytes", id="answer-over-the-cap"),
    ],
)
def test_an_odd_answer_is_a_provider_failure(wire, answer, error):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def answer_once():
            connection, _ = listener.accept()
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += connection.recv(65536)
                connection.sendall(answer)
                connection.settimeout(5)  # read the rest until the client hangs up: unread data would reset
                with contextlib.suppress(OSError):
                    while connection.recv(65536):
                        pass

        server = threading.Thread(target=answer_once, daemon=True)
        server.start()
        result = send(AwsSmsProvider(config(f"http://127.0.0.1:{listener.getsockname()[1]}"), wire[0]))
        server.join(5)
    assert (result.outcome, result.error) == (Outcome.PROVIDER_FAILURE, error)


# The client's options: its sender id and what is left of its validity.


def test_clients_sender_is_the_origination_identity_and_its_validity_the_time_to_live(aws_sms, wire):
    provider = AwsSmsProvider(config(aws_sms.url, time_to_live_s=60), wire[0])
    result = provider.send(OutgoingSms(PHONE, "hello", REQUEST_ID, 1, sender="ACME",
                           validity_s=900))
    body = json.loads(wire[1][0].content)
    assert (body["OriginationIdentity"], body["TimeToLive"]) == ("ACME", 900)
    assert result.outcome is Outcome.ACCEPTED


def test_validity_is_kept_within_aws_time_to_live_bounds(aws_sms, wire):
    provider = AwsSmsProvider(config(aws_sms.url), wire[0])
    provider.send(OutgoingSms(PHONE, "hello", REQUEST_ID, 1, validity_s=2))
    provider.send(OutgoingSms(PHONE, "hello", REQUEST_ID, 2, validity_s=10**6))
    assert [json.loads(request.content)["TimeToLive"] for request in wire[1]] == [5, 259_200]


def test_without_options_the_configured_identity_is_used_and_no_time_to_live_sent(aws_sms, wire):
    send(AwsSmsProvider(config(aws_sms.url), wire[0]))
    body = json.loads(wire[1][0].content)
    assert body["OriginationIdentity"] == "+15005550007" and "TimeToLive" not in body
