"""What the logs give away: nothing. Full requests go through the app (chalice.test.Client) and the dispatcher
handler, with moto in-process, fakeredis and real provider simulators that require an api_key; every JSON
line written is then searched for the phone number, the message text, the client's API key and the
providers' api_key."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import fakeredis
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.logs import REDACTED, logger, mask_phone, redact, scrub_text
from localdev.queue_emulator import build_event

pytestmark = pytest.mark.unit

PHONE = "+14155550123"
NATIONAL_DIGITS = "4155550123"  # the number without its country code: must not appear either
TEXT = "Your one-time code is 918273 - secret-words-zebra"
API_KEY = "client-key-" + uuid.uuid4().hex
PROVIDER_KEY = "provider-secret-" + uuid.uuid4().hex
CACHED = ("_redis", "_store", "_queue", "_router", "_dispatcher", "_intake", "_authenticator")


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Every line the gateway's Powertools logger writes, formatted exactly as it would reach CloudWatch."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    std_logger = logging.getLogger(logger.name)
    # INFO whatever ran before: these tests are about what a line may contain, not about levels (in a full
    # `make test` run an earlier module left the gateway's logger above INFO, and nothing was written).
    level = std_logger.level
    std_logger.setLevel(logging.INFO)
    std_logger.addHandler(handler)
    yield stream
    std_logger.removeHandler(handler)
    std_logger.setLevel(level)


@pytest.fixture
def gateway(aws, monkeypatch, simulators, tmp_path) -> Iterator[tuple[Client, dict]]:
    sims = {name: simulators(name, api_key=PROVIDER_KEY) for name in ("alpha", "beta", "gamma")}
    providers = [{"name": n, "url": s.url, "rate_limit": 50, "timeout_s": 2, "api_key": PROVIDER_KEY}
                 for n, s in sims.items()]
    monkeypatch.setenv("API_KEYS", API_KEY)
    monkeypatch.setenv("SMS_PROVIDERS", json.dumps(providers))
    monkeypatch.setenv("SLOT_WAIT_MAX_MS", "0")
    monkeypatch.setenv("HEALTH_MIN_SAMPLES", "3")  # so that a health change is logged too
    server = fakeredis.FakeServer()
    fake = lambda url: fakeredis.FakeRedis(server=server)  # noqa: E731
    fake.cache_clear = lambda: None
    monkeypatch.setattr(wiring, "_redis", fake)
    for name in CACHED:
        getattr(wiring, name).cache_clear()
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(
        json.dumps({"version": "2.0", "app_name": "sms-gateway", "stages": {"test": {}}}))
    from app import app

    with Client(app, stage_name="test", project_dir=str(tmp_path)) as client:
        yield client, sims
    for name in CACHED:
        getattr(wiring, name).cache_clear()


def _dispatch_everything_queued(client: Client, aws) -> None:
    """Deliver what the queue holds (delays ignored) to the SQS handler, as the event source mapping would."""
    for queued in aws.probe.take():
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


def test_full_requests_log_no_number_no_text_no_key(gateway, aws, log_output):
    client, sims = gateway
    stream = log_output

    # 1. every provider fails, then recovers: retries, health changes, a send
    for sim in sims.values():
        sim.configure(mode="fail", api_key=PROVIDER_KEY)
    first = _send(client, **{"Idempotency-Key": "k-" + uuid.uuid4().hex})
    for _ in range(4):
        _dispatch_everything_queued(client, aws)
    for sim in sims.values():
        sim.configure(mode="ok", api_key=PROVIDER_KEY)
    _dispatch_everything_queued(client, aws)
    # 2. a provider refuses the message; 3. a provider rejects the gateway's credentials
    for mode in ("reject", "unauthorized"):
        for sim in sims.values():
            sim.configure(mode=mode, api_key=PROVIDER_KEY)
        _send(client)
        _dispatch_everything_queued(client, aws)
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


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param({"phone": PHONE}, {"phone": mask_phone(PHONE)}, id="phone-field-masked"),
        pytest.param({"to": PHONE}, {"to": mask_phone(PHONE)}, id="provider-to-field-masked"),
        pytest.param({"text": TEXT}, {"text": REDACTED}, id="text-field-redacted"),
        pytest.param({"api_key": PROVIDER_KEY}, {"api_key": REDACTED}, id="api-key-redacted"),
        pytest.param({"headers": {"Authorization": f"Bearer {PROVIDER_KEY}"}},
                     {"headers": {"Authorization": REDACTED}}, id="nested-authorization-redacted"),
        pytest.param({"error": f"provider said: bad number {PHONE}"},
                     {"error": f"provider said: bad number {mask_phone(PHONE)}"}, id="number-inside-text-masked"),
        pytest.param({"payload": {"to": PHONE, "text": TEXT}}, {"payload": REDACTED}, id="whole-payload-redacted"),
    ],
)
def test_careless_log_calls_are_redacted_anyway(log_output, extra, expected):
    stream = log_output
    logger.info("careless", extra=extra)
    record = json.loads(stream.getvalue().splitlines()[-1])
    assert {key: record[key] for key in expected} == expected


def test_a_logged_exception_carries_no_number_and_no_bearer_token(log_output):
    stream = log_output
    try:
        raise RuntimeError(f"send to {PHONE} failed with Authorization: Bearer {PROVIDER_KEY}")
    except RuntimeError:
        logger.exception("unexpected error")
    output = stream.getvalue()
    assert PHONE not in output and NATIONAL_DIGITS not in output and PROVIDER_KEY not in output
    assert "RuntimeError" in output  # the trace is still useful


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        pytest.param("+14155550100", "+1415*****00", id="e164"),
        pytest.param("+44 20 7946 0958", "+4420******58", id="spaced-international"),
        pytest.param("(+1) 415-555-0100", "(+1415*****00", id="bracketed-country-code"),
        pytest.param("request 0123456789abcdef0123456789abcdef", "request 0123456789abcdef0123456789abcdef",
                     id="request-ids-are-not-numbers"),
    ],
)
def test_scrub_text_masks_international_numbers_only(raw, shown):
    assert scrub_text(raw) == shown


def test_redact_keeps_numbers_and_flags():
    assert redact({"attempt": 2, "healthy": False, "latency_ms": 12.5, "provider": None}) == {
        "attempt": 2, "healthy": False, "latency_ms": 12.5, "provider": None}
