"""The telnyx adapter against Telnyx's documented contract: the exact request, every answer class, the deadline, and
docs/providers.md's table.

Sources: sending a message (https://developers.telnyx.com/docs/messaging/messages/send-message; the message resource
https://developers.telnyx.com/api-reference/callbacks/delivery-update; team-telnyx/telnyx-python at 6d68c8ca,
src/telnyx/types/message_send_params.py and messaging_outbound_message_payload.py), the error codes
(https://developers.telnyx.com/docs/messaging/messages/error-codes, /development/api-fundamentals/api-errors, one
page per code at https://developers.telnyx.com/api/errors/<code>) and the error body
{"errors": [{"code", "title", "detail", "source", "meta"}]} (telnyx-python src/telnyx/types/shared/messaging_error.py).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from chalicelib.providers import Outcome, OutgoingSms, deadline_client
from chalicelib.providers.base import CONFIGURATION
from chalicelib.settings import ProviderConfig
from chalicelib.vendors import build_providers, telnyx
from chalicelib.vendors.telnyx.adapter import ERROR_CODES, TelnyxConfig, TelnyxProvider, classify
from tests.unit.providers.conftest import PHONE, REQUEST_ID

pytestmark = pytest.mark.unit

API_KEY = "KEY0123456789ABCDEF_telnyx-test"
PROFILE = "4000eba1-a0c0-4563-9925-b25e842a7cb6"
PUBLIC_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="  # RFC 8032 7.1 TEST 1's public key
DOC = Path(__file__).resolve().parents[3] / "docs" / "providers.md"


def config(base_url: str, **fields) -> TelnyxConfig:
    entry = {"name": "tx", "kind": "telnyx", "api_key": API_KEY, "from": "+13125550100", "base_url": base_url,
             **fields}
    return TypeAdapter(ProviderConfig).validate_python(entry)


def send(provider, text="hello", sender=None, validity_s=None):
    return provider.send(OutgoingSms(PHONE, text, REQUEST_ID, 1, sender=sender, validity_s=validity_s))


@pytest.fixture
def sim(simulators):
    return simulators("tx", kind="telnyx", credentials={"api_key": API_KEY})


def test_request_is_telnyxs_documented_json_post(sim, wire):
    """Telnyx's example: curl -X POST https://api.telnyx.com/v2/messages -H "Authorization: Bearer $KEY"
    -d '{"from": "+15551234567", "to": "+15559876543", "text": "Hello, world!"}'"""
    result = send(TelnyxProvider(config(sim.url), wire[0]), text="Olá ✓ café & more", validity_s=600)
    [request] = wire[1]
    assert (request.method, str(request.url)) == ("POST", f"{sim.url}/v2/messages")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    # No validity field: Telnyx's send has none.
    assert json.loads(request.content) == {"to": PHONE, "text": "Olá ✓ café & more", "from": "+13125550100",
                                           "type": "SMS"}
    assert result.outcome is Outcome.ACCEPTED
    [arrival] = sim.arrivals()
    assert (arrival["auth"], arrival["status"]) == ("ok", 200)
    assert sim.sent()[0]["text"] == "Olá ✓ café & more"


def test_profile_webhooks_and_the_clients_sender_are_sent_when_there_are_some(sim, wire):
    provider = TelnyxProvider(config(sim.url, messaging_profile_id=PROFILE,
                                     webhook_url="https://gw.example/webhooks/tx",
                                     webhook_failover_url="https://gw2.example/webhooks/tx"), wire[0])
    assert send(provider, sender="ACME").outcome is Outcome.ACCEPTED
    assert json.loads(wire[1][0].content) == {
        "to": PHONE, "text": "hello", "from": "ACME", "messaging_profile_id": PROFILE,
        "webhook_url": f"https://gw.example/webhooks/tx?ref={REQUEST_ID}",
        "webhook_failover_url": "https://gw2.example/webhooks/tx", "type": "SMS"}


def test_a_profile_alone_lets_telnyx_pick_the_sender(sim, wire):
    provider = TelnyxProvider(config(sim.url, **{"from": None}, messaging_profile_id=PROFILE), wire[0])
    assert send(provider).outcome is Outcome.ACCEPTED
    assert "from" not in json.loads(wire[1][0].content)


def test_accepted_answer_gives_the_message_id_and_keeps_no_text_or_number(sim, wire):
    result = send(TelnyxProvider(config(sim.url), wire[0]))
    [sent] = sim.sent()
    assert (result.outcome, result.status_code, result.message_id) == (Outcome.ACCEPTED, 200, sent["message_id"])
    kept = json.dumps(result.response_data)
    assert PHONE not in kept and "+13125550100" not in kept and "hello" not in kept
    assert result.response_data["to"][0]["status"] == "queued"


# The documented answers (Telnyx's error codes), each through the simulator's Telnyx wire.
@pytest.mark.parametrize(
    ("code", "outcome", "configuration_problem"),
    [
        pytest.param("40300", Outcome.REFUSED, False, id="40300-stop"),
        pytest.param("40310", Outcome.REFUSED, False, id="40310-invalid-to"),
        pytest.param("40001", Outcome.REFUSED, False, id="40001-not-routable"),
        pytest.param("40322", Outcome.REFUSED, False, id="40322-blocked-content"),
        pytest.param("40309", Outcome.REFUSED_HERE, False, id="40309-region-not-whitelisted"),
        pytest.param("40010", Outcome.REFUSED_HERE, False, id="40010-unregistered-10dlc"),
        pytest.param("40329", Outcome.REFUSED_HERE, False, id="40329-toll-free-unverified"),
        pytest.param("10011", Outcome.THROTTLED, False, id="10011-too-many-requests"),
        pytest.param("40318", Outcome.THROTTLED, False, id="40318-queue-full"),
        pytest.param("10007", Outcome.PROVIDER_FAILURE, False, id="10007-unexpected"),
        pytest.param("10008", Outcome.PROVIDER_FAILURE, False, id="10008-timeout"),
        pytest.param("40399", Outcome.PROVIDER_FAILURE, False, id="unclassified-4xx"),
        pytest.param("10009", Outcome.PROVIDER_FAILURE, True, id="10009-authentication"),
        pytest.param("10010", Outcome.PROVIDER_FAILURE, True, id="10010-authorization"),
        pytest.param("10005", Outcome.PROVIDER_FAILURE, True, id="10005-not-found"),
        pytest.param("40305", Outcome.PROVIDER_FAILURE, True, id="40305-invalid-from"),
        pytest.param("40312", Outcome.PROVIDER_FAILURE, True, id="40312-profile-disabled"),
        pytest.param("20100", Outcome.PROVIDER_FAILURE, True, id="20100-insufficient-funds"),
    ],
)
def test_every_answer_class(sim, wire, code, outcome, configuration_problem):
    sim.configure(mode="error", error_code=code)
    result = send(TelnyxProvider(config(sim.url), wire[0]))
    assert (result.outcome, result.configuration_problem, result.message_id) == (outcome, configuration_problem, None)
    assert result.error.startswith(f"telnyx {code}:")
    assert result.response_data["errors"][0]["code"] == code
    assert sim.sent() == []


def test_an_unclassified_4xx_is_a_provider_failure_logged_loudly(sim, wire, log_output):
    sim.configure(mode="error", error_code="40399")
    result = send(TelnyxProvider(config(sim.url), wire[0]))
    assert (result.outcome, result.status_code) == (Outcome.PROVIDER_FAILURE, 400)
    assert result.outcome.counts_for_health  # retried elsewhere with backoff, never a silent refusal
    [line] = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert (line["level"], line["message"], line["kind"], line["code"]) == (
        "ERROR", "unclassified provider answer, read as a provider failure", "telnyx", "40399")


def test_a_wrong_api_key_trips_health_as_a_configuration_problem(sim, wire):
    result = send(TelnyxProvider(config(sim.url, api_key="KEYrotated-away"), wire[0]))
    assert (result.outcome, result.status_code, result.configuration_problem) == (Outcome.PROVIDER_FAILURE, 401, True)
    assert result.outcome.counts_for_health
    assert sim.arrivals()[0]["auth"] == "wrong"


def test_the_simulators_own_rate_limit_answers_429_10011_throttled(sim, wire):
    sim.configure(rate_limit=1)
    provider = TelnyxProvider(config(sim.url), wire[0])
    first, second = send(provider), send(provider)
    assert (first.outcome, second.outcome, second.status_code) == (Outcome.ACCEPTED, Outcome.THROTTLED, 429)


def test_a_missing_sender_parameter_is_the_entrys_problem():
    # A profile without a number pool answers a send without "from" so: the entry must name a sender.
    body = {"errors": [{"code": "10004", "title": "Missing required parameter", "source": {"pointer": "/from"}}]}
    verdict = classify(422, json.dumps(body).encode())
    assert (verdict.outcome, verdict.configuration_problem) == (Outcome.PROVIDER_FAILURE, True)
    assert verdict.error.startswith("telnyx 10004: missing required parameter 'from'")


def test_the_adapter_ends_at_its_timeout_on_a_dripping_simulator(simulators):
    simulator = simulators("drip-telnyx", kind="telnyx", mode="drip", drip_ms=300)
    entry = config(simulator.url, timeout_s=0.5)
    with deadline_client() as http:
        [provider] = build_providers([entry], http).values()
        started = time.perf_counter()
        result = send(provider)
    assert (result.outcome, result.status_code, result.error) == (Outcome.PROVIDER_FAILURE, None,
                                                                   "timeout after 0.5 s")
    assert time.perf_counter() - started < 1.5


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        pytest.param({"from": None}, "give 'from', 'messaging_profile_id' or both", id="no-sender"),
        pytest.param({"messaging_profile_id": "not-a-uuid"}, "messaging_profile_id", id="profile-not-a-uuid"),
        pytest.param({"from": "14155550100abc"}, "from", id="from-neither-number-nor-sender-id"),
        pytest.param({"public_key": "dG9vLXNob3J0"}, "Ed25519 public key", id="public-key-too-short"),
        pytest.param({"webhook_url": "https://gw.example/webhooks/tx?x=1"}, "webhook_url", id="webhook-url-query"),
        pytest.param({"base_url": "https://api.telnyx.com/v2"}, "base_url", id="base-url-with-a-path"),
    ],
)
def test_an_entry_that_cannot_work_is_refused_by_name(fields, problem):
    with pytest.raises(ValidationError, match=re.escape(problem)):
        config(fields.pop("base_url", "https://api.telnyx.com"), **fields)


def test_the_api_key_and_the_public_key_are_never_shown_and_may_come_from_a_secret():
    entry = config("https://api.telnyx.com", public_key=PUBLIC_KEY)
    assert API_KEY not in repr(entry) and PUBLIC_KEY not in repr(entry)
    assert set(TelnyxConfig.SECRET_FIELDS) == {"api_key", "public_key"}
    assert entry.missing_secrets(frozenset({"public_key"})) == ["api_key"]
    assert entry.missing_secrets(frozenset({"api_key"})) == []
    assert entry.configured_sender == "+13125550100"


def test_the_kind_is_registered_with_its_webhook():
    assert (telnyx.KIND.name, telnyx.KIND.config, telnyx.KIND.webhook_methods, telnyx.KIND.signed_with) == (
        "telnyx", TelnyxConfig, ("POST",), "public_key")


def documented_table() -> dict[str, object]:
    """Each code docs/providers.md's Telnyx table names -> the class its row gives."""
    classes = {"refused": Outcome.REFUSED, "refused here": Outcome.REFUSED_HERE, "throttled": Outcome.THROTTLED,
               "provider failure": Outcome.PROVIDER_FAILURE, "provider failure, configuration": CONFIGURATION}
    body = DOC.read_text().split("\n## Telnyx\n", 1)[1].split("\n## ", 1)[0]
    lines = body.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^\| [^|]+ \| outcome \|", line))
    found: dict[str, object] = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        first, outcome = (cell.strip() for cell in line.strip("|").split("|")[:2])
        outcome = outcome.split(" (")[0]  # "refused (on `from` ...: provider failure, configuration)"
        for code in re.findall(r"\b\d{5}\b", first):
            if outcome in classes:
                assert code not in found, f"{code} is in two rows"
                found[code] = classes[outcome]
    return found


def test_the_documented_table_is_the_adapters():
    assert documented_table() == {code: answer_class for code, (answer_class, _) in ERROR_CODES.items()}


# Answers outside the simulator: the table's every code, odd answers, the 10004 pointer.


def answer(*errors: dict) -> bytes:
    return json.dumps({"errors": [{"title": "t", "detail": "d", **error} for error in errors]}).encode()


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_every_code_of_the_table_is_classified_as_it_says(code):
    outcome, _ = ERROR_CODES[code]
    verdict = classify(400, answer({"code": code}))
    if outcome == CONFIGURATION:
        assert (verdict.outcome, verdict.configuration_problem) == (Outcome.PROVIDER_FAILURE, True)
    else:
        assert (verdict.outcome, verdict.configuration_problem) == (outcome, False)
    assert verdict.error.startswith(f"telnyx {code}: ")


def accepted_body(**data) -> bytes:
    """The send's 200 answer: {"data": <the message resource>} (telnyx-python MessageSendResponse)."""
    return json.dumps({"data": {
        "record_type": "message", "direction": "outbound", "id": "40385f64-5717-4562-b3fc-2c963f66afa6",
        "type": "SMS", "messaging_profile_id": "4000eba1-a0c0-4563-9925-b25e842a7cb6",
        "from": {"phone_number": "+13125550100", "carrier": "TELNYX LLC", "line_type": "VoIP"},
        "to": [{"phone_number": "+14155550100", "status": "queued", "carrier": "T-MOBILE USA, INC.",
                "line_type": "Wireless"}],
        "text": "Hello, World!", "encoding": "GSM-7", "parts": 1, "cost": None, "errors": [],
        "received_at": "2019-01-23T18:10:02.574Z", "webhook_url": "https://gw.example/webhooks/tx", **data}}).encode()


def test_an_accepted_send_keeps_its_id_and_no_number_or_text():
    verdict = classify(200, accepted_body())
    assert (verdict.outcome, verdict.message_id) == (Outcome.ACCEPTED, "40385f64-5717-4562-b3fc-2c963f66afa6")
    kept = json.dumps(verdict.response_data)
    assert "+14155550100" not in kept and "+13125550100" not in kept and "Hello" not in kept
    assert verdict.response_data["to"] == [{"status": "queued", "carrier": "T-MOBILE USA, INC.",
                                            "line_type": "Wireless"}]


@pytest.mark.parametrize(
    ("status_code", "body", "outcome", "configuration_problem"),
    [
        pytest.param(200, accepted_body(id=None), Outcome.PROVIDER_FAILURE, False, id="200-without-id"),
        pytest.param(200, b'{"data": []}', Outcome.PROVIDER_FAILURE, False, id="200-data-not-an-object"),
        pytest.param(200, b"<html>", Outcome.PROVIDER_FAILURE, False, id="200-not-json"),
        pytest.param(200, accepted_body(to=[{"status": "sending_failed"}], errors=[{"code": "40305"}]),
                     Outcome.PROVIDER_FAILURE, True, id="200-sending-failed-40305"),
        pytest.param(200, accepted_body(to=[{"status": "sending_failed"}]), Outcome.PROVIDER_FAILURE, False,
                     id="200-sending-failed-no-code"),
        pytest.param(429, b"", Outcome.THROTTLED, False, id="429-no-body"),
        pytest.param(429, answer({"code": "10099"}), Outcome.THROTTLED, False, id="429-unknown-code"),
        pytest.param(401, answer({"code": "10099"}), Outcome.PROVIDER_FAILURE, True, id="401-unknown-code"),
        pytest.param(404, b"Not Found", Outcome.PROVIDER_FAILURE, True, id="404-not-json"),
        pytest.param(503, b"", Outcome.PROVIDER_FAILURE, False, id="503"),
        pytest.param(500, answer({"code": "10007"}), Outcome.PROVIDER_FAILURE, False, id="500-10007"),
        pytest.param(409, answer({"code": 40300}), Outcome.REFUSED, False, id="code-as-a-number"),
    ],
)
def test_answers_outside_the_table(status_code, body, outcome, configuration_problem):
    verdict = classify(status_code, body)
    assert (verdict.outcome, verdict.configuration_problem) == (outcome, configuration_problem)



@pytest.mark.parametrize(
    ("pointer", "outcome", "configuration_problem"),
    [
        pytest.param("/text", Outcome.REFUSED, False, id="text"),
        pytest.param("/to", Outcome.REFUSED, False, id="to"),
        pytest.param(None, Outcome.REFUSED, False, id="no-pointer"),
        pytest.param("/from", Outcome.PROVIDER_FAILURE, True, id="from"),
        pytest.param("/messaging_profile_id", Outcome.PROVIDER_FAILURE, True, id="messaging-profile-id"),
    ],
)
def test_a_missing_parameter_is_the_entrys_problem_when_it_is_the_sender(pointer, outcome, configuration_problem):
    error = {"code": "10004", **({"source": {"pointer": pointer}} if pointer else {})}
    verdict = classify(422, answer(error))
    assert (verdict.outcome, verdict.configuration_problem) == (outcome, configuration_problem)
