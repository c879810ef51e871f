"""What the logs give away: nothing. Full requests go through the app (chalice.test.Client) and the dispatcher
handler, with moto in-process, Redis and real provider simulators that require an api_key; every JSON line
written is then searched for the phone number, the message text, the client's API key and the providers'
api_key."""

from __future__ import annotations

import json
import uuid

import pytest
from chalice.test import Client

from localdev.queue_emulator import build_event
from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional

PHONE = "+14155550123"
NATIONAL_DIGITS = "4155550123"  # the number without its country code: must not appear either
TEXT = "Your one-time code is 918273 - secret-words-zebra"
PROVIDER_KEY = "provider-secret-" + uuid.uuid4().hex


@pytest.fixture
def provider_api_key() -> str:
    return PROVIDER_KEY


@pytest.fixture
def private_gateway(monkeypatch, gateway_env, gateway):
    monkeypatch.setenv("HEALTH_MIN_SAMPLES", "3")  # so that a health change is logged too
    return gateway, gateway_env


def _dispatch_everything_queued(client: Client, probe) -> None:
    """Deliver what the queue holds (delays ignored) to the SQS handler, as the event source mapping would."""
    for queued in probe.take():
        message = {"MessageId": str(uuid.uuid4()), "ReceiptHandle": uuid.uuid4().hex,
                   "Body": queued.message.to_body()}
        event = build_event([message], "arn:aws:sqs:us-east-1:123456789012:sms-dispatch", "us-east-1")
        client.lambda_.invoke("dispatch_sms", event)


def _send(client: Client, **headers) -> str:
    response = client.http.post("/api/sms", headers={"X-Api-Key": API_KEY, "Content-Type": "application/json",
                                                    **headers},
                                body=json.dumps({"phone": PHONE, "text": TEXT}))
    assert response.status_code == 202, response.body
    return json.loads(response.body)["id"]


def test_full_requests_log_no_number_no_text_no_key(private_gateway, queue_probe, log_output):
    client, sims = private_gateway
    stream = log_output

    # 1. every provider fails, then recovers: retries, health changes, a send
    for sim in sims.values():
        sim.configure(mode="fail", api_key=PROVIDER_KEY)
    first = _send(client, **{"Idempotency-Key": "k-" + uuid.uuid4().hex})
    for _ in range(4):
        _dispatch_everything_queued(client, queue_probe)
    for sim in sims.values():
        sim.configure(mode="ok", api_key=PROVIDER_KEY)
    _dispatch_everything_queued(client, queue_probe)
    # 2. a provider refuses the message; 3. a provider rejects the gateway's credentials
    for mode in ("reject", "unauthorized"):
        for sim in sims.values():
            sim.configure(mode=mode, api_key=PROVIDER_KEY)
        _send(client)
        _dispatch_everything_queued(client, queue_probe)
    # 4. a malformed queue record; 5. a read of the request; 6. refusals at the API
    client.lambda_.invoke("dispatch_sms", build_event(
        [{"MessageId": "m-1", "ReceiptHandle": "r", "Body": json.dumps({"phone": PHONE, "text": TEXT})}],
        "arn:aws:sqs:us-east-1:123456789012:sms-dispatch", "us-east-1"))
    assert client.http.get(f"/api/sms/{first}", headers={"X-Api-Key": API_KEY}).status_code == 200
    client.http.post("/api/sms", headers={"X-Api-Key": API_KEY + "x", "Content-Type": "application/json"},
                     body=json.dumps({"phone": PHONE, "text": TEXT}))
    client.http.post("/api/sms", headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
                     body=json.dumps({"phone": PHONE, "text": TEXT + "\x00"}))

    output = stream.getvalue()
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, "the full request logged nothing: the test would prove nothing"
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"level", "message", "service", "timestamp"} <= set(r) for r in records)
    for secret in (PHONE, NATIONAL_DIGITS, TEXT, "secret-words-zebra", "918273", API_KEY, PROVIDER_KEY):
        assert secret not in output, f"{secret!r} appears in the logs"
    # The request id is on the dispatcher's lines, so one SMS can be followed through the logs.
    assert any(r.get("request_id") == first and r["message"] == "sms sent" for r in records), records
