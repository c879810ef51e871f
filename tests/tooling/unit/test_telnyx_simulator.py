"""The simulator's telnyx wire (localdev/simulators/telnyx.py), spoken to directly: what Telnyx checks and answers,
read back by the gateway's own telnyx vendor (chalicelib/vendors/telnyx/); over HTTP in
tests/unit/providers/test_telnyx_contract.py."""

from __future__ import annotations

import json

import pytest

from chalicelib.delivery_receipt import DeliveryState
from chalicelib.errors import SignatureInvalid
from chalicelib.vendors.telnyx import adapter, receipts
from localdev.simulators import SimRequest
from localdev.simulators.telnyx import TelnyxWire

pytestmark = pytest.mark.unit

WIRE = TelnyxWire()
CREDENTIALS = {"api_key": "KEYtest"}
MESSAGE = {"to": "+14155550100", "text": "hello", "from": "+13125550100",
           "webhook_url": "http://127.0.0.1:8000/webhooks/tx?ref=" + "d" * 32}


def request(body, authorization="Bearer KEYtest", content_type="application/json", path="/v2/messages"):
    headers = {"content-type": content_type}
    if authorization is not None:
        headers["authorization"] = authorization
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return SimRequest("POST", path, headers, raw)


def test_a_send_is_a_post_to_v2_messages():
    assert WIRE.is_send(request(MESSAGE))
    assert not WIRE.is_send(request(MESSAGE, path="/v2/messages/group_mms"))
    assert not WIRE.is_send(SimRequest("GET", "/v2/messages", {}, b""))


@pytest.mark.parametrize(
    ("authorization", "auth"),
    [
        pytest.param("Bearer KEYtest", "ok", id="the-key"),
        pytest.param(None, "missing", id="no-authorization"),
        pytest.param("Basic a2V5", "missing", id="not-bearer"),
        pytest.param("Bearer KEYother", "wrong", id="another-key"),
    ],
)
def test_the_api_key_is_checked(authorization, auth):
    inbound = WIRE.read(request(MESSAGE, authorization), CREDENTIALS, None)
    assert inbound.auth == auth
    if auth != "ok":
        assert inbound.auth_code == "10009"
        reply = WIRE.answer(inbound.auth_code, inbound)
        assert reply.status == 401 and json.loads(reply.body)["errors"][0]["code"] == "10009"


def test_without_credentials_any_bearer_key_is_unchecked():
    assert WIRE.read(request(MESSAGE, "Bearer anything"), {}, None).auth == "unchecked"


@pytest.mark.parametrize(
    ("body", "status", "code", "pointer"),
    [
        pytest.param({**MESSAGE, "to": None}, 422, "10004", "/to", id="no-to"),
        pytest.param({**MESSAGE, "text": ""}, 422, "10004", "/text", id="no-text"),
        pytest.param({**MESSAGE, "from": None}, 422, "10004", "/from", id="no-sender"),
        pytest.param({**MESSAGE, "to": "14155550100"}, 400, "40310", "/to", id="to-without-plus"),
        pytest.param(b"{", 400, "10015", None, id="not-json"),
    ],
)
def test_a_malformed_send_is_answered_with_telnyxs_code(body, status, code, pointer):
    problem = WIRE.read(request(body), CREDENTIALS, None).problem
    [error] = json.loads(problem.body)["errors"]
    assert (problem.status, error["code"], error.get("source", {}).get("pointer")) == (status, code, pointer)


def test_a_messaging_profile_may_stand_for_the_sender():
    body = {**MESSAGE, "from": None, "messaging_profile_id": "4000eba1-a0c0-4563-9925-b25e842a7cb6"}
    assert WIRE.read(request(body), CREDENTIALS, None).problem is None


def test_an_accepted_send_is_answered_as_the_gateway_reads_it():
    inbound = WIRE.read(request(MESSAGE), CREDENTIALS, None)
    reply = WIRE.accepted(inbound, ["40385f64-5717-4562-b3fc-2c963f66afa6"])
    data = json.loads(reply.body)["data"]
    assert (reply.status, data["id"], data["to"][0]["status"]) == (200, "40385f64-5717-4562-b3fc-2c963f66afa6",
                                                                   "queued")
    verdict = adapter.classify(reply.status, reply.body)
    assert (verdict.outcome, verdict.message_id) == ("accepted", data["id"])


@pytest.mark.parametrize("code", sorted(TelnyxWire.ERRORS))
def test_each_code_the_simulator_answers_is_the_class_the_gateway_reads(code):
    reply = WIRE.answer(code)
    verdict = adapter.classify(reply.status, reply.body)
    kind = WIRE.ERRORS[code].kind
    expected = {"refused": ("refused", False), "refused_here": ("refused_here", False),
                "throttled": ("throttled", False), "failure": ("provider_failure", False),
                "unauthorized": ("provider_failure", True), "configuration": ("provider_failure", True)}[kind]
    assert (verdict.outcome, verdict.configuration_problem) == expected


def test_over_its_rate_limit_it_answers_429_10011():
    reply = WIRE.answer(WIRE.RATE_LIMIT_CODE)
    assert reply.status == 429 and json.loads(reply.body)["errors"][0]["code"] == "10011"


@pytest.mark.parametrize(
    ("delivered", "interim", "state"),
    [
        pytest.param(True, False, DeliveryState.DELIVERED, id="delivered"),
        pytest.param(False, False, DeliveryState.UNDELIVERED, id="undelivered"),
        pytest.param(True, True, DeliveryState.INTERIM, id="interim-before-delivered"),
        pytest.param(False, True, DeliveryState.INTERIM, id="interim-before-undelivered"),
    ],
)
def test_its_receipts_are_signed_for_the_public_key_it_gives_the_gateway(delivered, interim, state):
    simulator, entry = WIRE.local_receipts("http://127.0.0.1:8000/webhooks/tx", {}, {})
    message = {"to": "+14155550100", "text": "hello", "reference": None, "fields": MESSAGE}
    call = WIRE.receipt(message=message, message_id="m-1", delivered=delivered, url=simulator["receipt_url"],
                        credentials=CREDENTIALS, secret=simulator["receipt_secret"], now=1_700_000_000.0,
                        interim=interim)
    assert (call.method, call.url) == ("POST", MESSAGE["webhook_url"])
    receipts.verify(call.body, call.headers["Telnyx-Signature-Ed25519"], call.headers["Telnyx-Timestamp"],
                  entry["public_key"], 1_700_000_000.0)
    receipt = receipts.parse("tx", call.body, [("ref", "d" * 32)])
    assert (receipt.message_id, receipt.state, receipt.request_id) == ("m-1", state, "d" * 32)
    assert entry["webhook_url"] == "http://127.0.0.1:8000/webhooks/tx"


def test_without_its_key_a_receipt_does_not_verify():
    _, entry = WIRE.local_receipts("http://127.0.0.1:8000/webhooks/tx", {}, {})
    message = {"to": "+14155550100", "text": "hello", "reference": None, "fields": {}}
    call = WIRE.receipt(message=message, message_id="m-1", delivered=True, url="http://127.0.0.1:8000/webhooks/tx",
                        credentials={}, secret=None, now=1_700_000_000.0)
    with pytest.raises(SignatureInvalid):
        receipts.verify(call.body, call.headers["Telnyx-Signature-Ed25519"], call.headers["Telnyx-Timestamp"],
                      entry["public_key"], 1_700_000_000.0)


def test_local_credentials_are_made_up_per_run():
    (first_auth, first), (_, second) = (WIRE.local_setup("http://127.0.0.1:1", {}) for _ in range(2))
    assert first["api_key"] != second["api_key"] and first_auth == {"credentials": {"api_key": first["api_key"]}}
    assert WIRE.local_receipts("u", {}, {})[1]["public_key"] != WIRE.local_receipts("u", {}, {})[1]["public_key"]
