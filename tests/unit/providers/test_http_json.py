"""The http-json adapter against real provider simulators: every class of answer, and what goes on the wire
(the contract in docs/providers.md#http-json)."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from chalicelib.providers import Outcome, OutgoingSms, deadline_client
from chalicelib.vendors import build_providers
from chalicelib.vendors.http_json import HttpJsonConfig, HttpJsonProvider, classify_answer

pytestmark = pytest.mark.unit

PHONE = "+14155550100"


@pytest.fixture
def wire():
    """The gateway's provider client that also keeps every request it sends, headers and body as they went out."""
    seen: list[httpx.Request] = []
    with deadline_client(event_hooks={"request": [seen.append]}) as client:
        yield client, seen


def adapter(http: httpx.Client, url: str, **config) -> HttpJsonProvider:
    return HttpJsonProvider(HttpJsonConfig(name="alpha", url=url, **config), http)


def send(provider: HttpJsonProvider, attempt: int = 1):
    return provider.send(OutgoingSms(PHONE, "hello", "a" * 32, attempt))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_accepted_answer_carries_the_provider_message_id(simulators, wire):
    alpha = simulators("alpha")
    result = send(adapter(wire[0], alpha.url))
    assert result.outcome is Outcome.ACCEPTED
    assert result.status_code == 200
    assert result.message_id == alpha.sent()[0]["message_id"]
    assert result.response_data == {"message_id": result.message_id}
    assert result.error is None


def test_request_carries_the_contract_headers_and_body(simulators, wire):
    alpha = simulators("alpha", api_key="s3cret")
    result = send(adapter(wire[0], alpha.url, api_key="s3cret"), attempt=3)
    assert result.outcome is Outcome.ACCEPTED  # the simulator checks the Bearer token itself
    request = wire[1][0]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["idempotency-key"] == f"{'a' * 32}-3"
    assert json.loads(request.content) == {"to": PHONE, "text": "hello", "reference": "a" * 32}
    [sent] = alpha.sent()
    assert (sent["to"], sent["text"], sent["reference"]) == (PHONE, "hello", "a" * 32)
    assert sent["idempotency_key"] == f"{'a' * 32}-3"


def test_no_authorization_header_without_an_api_key(simulators, wire):
    alpha = simulators("alpha")
    send(adapter(wire[0], alpha.url))
    assert "authorization" not in wire[1][0].headers


def test_same_idempotency_key_is_sent_once_by_the_provider(simulators, wire):
    alpha = simulators("alpha")
    provider = adapter(wire[0], alpha.url)
    first, second = send(provider), send(provider)
    assert first.message_id == second.message_id
    assert len(alpha.sent()) == 1


@pytest.mark.parametrize(
    ("mode", "outcome", "status"),
    [
        pytest.param("reject", Outcome.REFUSED, 400, id="400-refused"),
        pytest.param("throttle", Outcome.THROTTLED, 429, id="429-throttled"),
        pytest.param("unauthorized", Outcome.PROVIDER_FAILURE, 401, id="401-provider-failure"),
        pytest.param("fail", Outcome.PROVIDER_FAILURE, 500, id="500-provider-failure"),
        pytest.param("garbage", Outcome.PROVIDER_FAILURE, 200, id="malformed-2xx-provider-failure"),
    ],
)
def test_provider_answer_classes(simulators, wire, mode, outcome, status):
    alpha = simulators("alpha", mode=mode)
    result = send(adapter(wire[0], alpha.url))
    assert (result.outcome, result.status_code, result.message_id) == (outcome, status, None)
    assert result.error
    assert alpha.arrivals()[0]["status"] == status
    assert alpha.sent() == []


def test_malformed_2xx_body_is_kept_for_the_record(simulators, wire):
    alpha = simulators("alpha", mode="garbage")
    result = send(adapter(wire[0], alpha.url))
    assert "raw" in result.response_data
    assert "message_id" in result.error


def test_wrong_api_key_is_a_configuration_problem_not_a_refusal(simulators, wire, log_output):
    alpha = simulators("alpha", api_key="right")
    result = send(adapter(wire[0], alpha.url, api_key="wrong"))
    assert (result.outcome, result.status_code, result.configuration_problem) == (Outcome.PROVIDER_FAILURE, 401, True)
    [line] = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert (line["message"], line["provider"], line["kind"]) == ("provider configuration problem", "alpha", "http-json")
    assert "wrong" not in log_output.getvalue()


def test_wrong_url_is_a_configuration_problem_not_a_refusal(simulators, wire):
    alpha = simulators("alpha")
    result = send(adapter(wire[0], alpha.url.replace("/send", "/sned")))
    assert (result.outcome, result.status_code, result.configuration_problem) == (Outcome.PROVIDER_FAILURE, 404, True)


@pytest.mark.parametrize("mode", [pytest.param("slow", id="slow"), pytest.param("hang", id="hang")])
def test_timeout_is_a_provider_failure(fresh_simulator, wire, mode):
    alpha = fresh_simulator("alpha", mode=mode, slow_ms=2000)
    result = send(adapter(wire[0], alpha.url, timeout_s=0.3))
    assert result.outcome is Outcome.PROVIDER_FAILURE
    assert result.status_code is None
    assert "timeout" in result.error
    assert len(alpha.arrivals()) == 1


def test_connection_refused_is_a_provider_failure(wire):
    result = send(adapter(wire[0], f"http://127.0.0.1:{closed_port()}/send", timeout_s=0.5))
    assert result.outcome is Outcome.PROVIDER_FAILURE
    assert result.status_code is None
    assert "connection error" in result.error


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        pytest.param(201, {"message_id": "m-1"}, Outcome.ACCEPTED, id="201-accepted"),
        pytest.param(200, {"message_id": ""}, Outcome.PROVIDER_FAILURE, id="empty-message-id"),
        pytest.param(200, {"message_id": 7}, Outcome.PROVIDER_FAILURE, id="numeric-message-id"),
        pytest.param(200, [1], Outcome.PROVIDER_FAILURE, id="not-an-object"),
        pytest.param(200, {"id": "m-1"}, Outcome.PROVIDER_FAILURE, id="no-message-id"),
        pytest.param(200, {"message_id": "m-1", "detail": "x" * 2000}, Outcome.ACCEPTED, id="large-2xx-accepted"),
        pytest.param(404, {}, Outcome.PROVIDER_FAILURE, id="404-wrong-url-provider-failure"),
        pytest.param(422, {}, Outcome.REFUSED, id="422-refused"),
        pytest.param(403, {}, Outcome.PROVIDER_FAILURE, id="403-provider-failure"),
        pytest.param(409, {}, Outcome.PROVIDER_FAILURE, id="other-4xx-provider-failure"),
        pytest.param(503, {}, Outcome.PROVIDER_FAILURE, id="503-provider-failure"),
        pytest.param(302, {}, Outcome.PROVIDER_FAILURE, id="3xx-provider-failure"),
    ],
)
def test_classify_answer(status, body, outcome):
    assert classify_answer(status, json.dumps(body).encode()).outcome is outcome


def test_a_large_answer_is_kept_cut_to_1_kib():
    verdict = classify_answer(200, json.dumps({"message_id": "m-1", "detail": "x" * 2000}).encode())
    assert verdict.message_id == "m-1"
    assert len(verdict.response_data["raw"]) == 1024


def test_only_accepted_and_provider_failures_count_for_health():
    assert {o for o in Outcome if o.counts_for_health} == {Outcome.ACCEPTED, Outcome.PROVIDER_FAILURE}


def test_build_providers_makes_one_adapter_per_configured_provider(simulators, wire):
    alpha, beta = simulators("alpha"), simulators("beta")
    configs = (HttpJsonConfig(name="alpha", url=alpha.url), HttpJsonConfig(name="beta", url=beta.url))
    providers = build_providers(configs, wire[0])
    assert sorted(providers) == ["alpha", "beta"]
    assert send(providers["beta"]).outcome is Outcome.ACCEPTED
    assert (len(alpha.sent()), len(beta.sent())) == (0, 1)


def test_clients_sender_and_validity_are_from_and_validity_s_in_the_json(simulators, wire):
    alpha = simulators("alpha")
    provider = adapter(wire[0], alpha.url)
    result = provider.send(OutgoingSms(PHONE, "hello", "a" * 32, 1, sender="ACME", validity_s=600))
    assert json.loads(wire[1][0].content) == {"to": PHONE, "text": "hello", "reference": "a" * 32, "from": "ACME",
                                              "validity_s": 600}
    assert result.outcome is Outcome.ACCEPTED
    assert alpha.sent()[0]["fields"] == {"reference": "a" * 32, "from": "ACME", "validity_s": 600}
