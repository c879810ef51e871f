"""The request options through the Chalice app: what a client sends (reference, from, validity_s, send_at,
callback_url), what it gets back, what it can filter on, and when its SMS is sent."""

from __future__ import annotations

import json
import secrets
import socket
import time
from datetime import UTC, datetime

import pytest

from chalicelib import wiring
from chalicelib.clients import key_hash
from tests.conftest import QueueProbe
from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional

PHONE = "+14155550100"
JSON = {"Content-Type": "application/json", "X-Api-Key": API_KEY}


def post_sms(client, headers=None, **options):
    body = {"phone": PHONE, "text": "hello", **options}
    return client.http.post("/api/sms", headers={**JSON, **(headers or {})}, body=json.dumps(body))


def body_of(response) -> dict:
    return json.loads(response.body)


def get(client, path: str, key: str = API_KEY):
    return client.http.get(path, headers={"X-Api-Key": key})


def at(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.body
    return body_of(response)["error"]


def dispatch(client, sqs_event, *bodies) -> dict:
    return client.lambda_.invoke("dispatch_sms", sqs_event(*bodies)).payload


def sweep(client) -> dict:
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=[])
    return client.lambda_.invoke("sweep_stuck_requests", event).payload


@pytest.fixture
def acme_sender(monkeypatch) -> None:
    """The test's API key as a client whose registry entry lists the sender ACME (deny by default otherwise)."""
    monkeypatch.setenv("CLIENTS", json.dumps({"clients": {
        "shop": {"key_hashes": [key_hash(API_KEY)], "senders": ["ACME"]}}}))


# ------------------------------------------------------------------ reference and the other options answered


def test_reference_and_options_come_back_in_every_answer(gateway, monkeypatch, acme_sender):
    public = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: public)  # offline: example.com as DNS has it
    send_at = time.time() + 600
    accepted = post_sms(gateway, reference="order-1234", **{"from": "ACME"}, validity_s=900, send_at=at(send_at),
                        callback_url="https://example.com/sms-status")
    assert accepted.status_code == 202, accepted.body
    answer = body_of(accepted)
    assert answer["reference"] == "order-1234"
    assert answer["send_at"].endswith("Z") and abs(datetime.fromisoformat(answer["send_at"]).timestamp()
                                                   - send_at) < 0.002
    one = body_of(get(gateway, f"/api/sms/{answer['id']}"))
    assert (one["reference"], one["from"], one["validity_s"], one["send_at"], one["status"]) == (
        "order-1234", "ACME", 900, answer["send_at"], "pending")
    [item] = body_of(get(gateway, "/api/sms"))["items"]
    assert (item["reference"], item["from"], item["validity_s"], item["send_at"]) == (
        "order-1234", "ACME", 900, answer["send_at"])


def test_answers_without_options_carry_none_of_them(gateway):
    answer = body_of(post_sms(gateway))
    one = body_of(get(gateway, f"/api/sms/{answer['id']}"))
    for shown in (answer, one):
        assert not {"reference", "from", "validity_s", "send_at", "callback_url"} & set(shown)


def test_list_filters_by_reference(gateway):
    wanted = body_of(post_sms(gateway, reference="order-7"))["id"]
    post_sms(gateway, reference="order-8")
    post_sms(gateway)
    listed = body_of(get(gateway, "/api/sms?reference=order-7"))
    assert ([item["id"] for item in listed["items"]], listed["next_cursor"]) == ([wanted], None)
    assert body_of(get(gateway, "/api/sms?reference=order-9"))["items"] == []
    spaced = body_of(post_sms(gateway, reference="a b/c?"))["id"]
    assert [i["id"] for i in body_of(get(gateway, "/api/sms?reference=a%20b%2Fc%3F"))["items"]] == [spaced]


def test_reference_filter_keeps_its_cursor_to_itself(gateway):
    for _ in range(2):
        post_sms(gateway, reference="batch-1")
    first = body_of(get(gateway, "/api/sms?reference=batch-1&limit=1"))
    assert first["next_cursor"]
    elsewhere = get(gateway, f"/api/sms?reference=batch-2&limit=1&cursor={first['next_cursor']}")
    assert error_of(elsewhere, 400)["code"] == "invalid_cursor"
    rest = body_of(get(gateway, f"/api/sms?reference=batch-1&limit=1&cursor={first['next_cursor']}"))
    assert len(rest["items"]) == 1


def test_bad_reference_filter_is_a_400_naming_it(gateway):
    error = error_of(get(gateway, "/api/sms?reference=" + "x" * 129), 400)
    assert (error["code"], error["field"]) == ("invalid_reference", "reference")


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("options", "field", "code"),
    [
        pytest.param({"reference": "x" * 129}, "reference", "invalid_reference", id="reference-too-long"),
        pytest.param({"reference": "tab\there"}, "reference", "invalid_reference", id="reference-control"),
        pytest.param({"from": "TWELVE CHARS"}, "from", "invalid_sender", id="from-too-long"),
        pytest.param({"from": "1234"}, "from", "invalid_sender", id="from-no-letter"),
        pytest.param({"validity_s": 59}, "validity_s", "invalid_validity", id="validity-too-short"),
        pytest.param({"validity_s": 72 * 3600 + 1}, "validity_s", "invalid_validity", id="validity-too-long"),
        pytest.param({"send_at": "2026-12-01T09:00:00"}, "send_at", "invalid_send_at", id="send-at-no-offset"),
        pytest.param({"callback_url": "ftp://example.com"}, "callback_url", "invalid_callback_url",
                     id="callback-not-https"),
    ],
)
def test_bad_option_is_a_400_in_the_api_error_shape(gateway, options, field, code):
    error = error_of(post_sms(gateway, **options), 400)
    assert (error["code"], error["field"]) == (code, field)


@pytest.mark.parametrize(
    ("offset_s", "message"),
    [
        pytest.param(-3600, "send_at is in the past (more than 60 s ago)", id="an-hour-ago"),
        pytest.param(8 * 86400, "send_at is more than 7 days ahead", id="eight-days-ahead"),
    ],
)
def test_send_at_outside_its_window_is_a_400_naming_it(gateway, queue_probe, offset_s, message):
    error = error_of(post_sms(gateway, send_at=at(time.time() + offset_s)), 400)
    assert (error["code"], error["field"], error["message"]) == ("invalid_send_at", "send_at", message)
    assert queue_probe.messages() == []


def test_sender_outside_the_clients_senders_is_refused(gateway, monkeypatch):
    key = secrets.token_urlsafe(32)
    monkeypatch.setenv("CLIENTS", json.dumps({"clients": {
        "shop": {"key_hashes": [key_hash(key)], "senders": ["ACME"]}}}))
    allowed = post_sms(gateway, headers={"X-Api-Key": key}, **{"from": "ACME"})
    assert allowed.status_code == 202, allowed.body
    error = error_of(post_sms(gateway, headers={"X-Api-Key": key}, **{"from": "OTHER"}), 422)
    assert (error["code"], error["field"]) == ("sender_not_allowed", "from")


def test_a_client_without_senders_may_name_only_a_providers_configured_sender(gateway, gateway_env, monkeypatch):
    """API_KEYS clients list no senders: they send from the providers' configured senders, never as anyone."""
    entries = [{"name": "alpha", "url": gateway_env["alpha"].url, "timeout_s": 1},
               {"name": "vg", "kind": "vonage", "api_key": "vgkey001", "from": "14155550123", "api_secret": "s",
                "base_url": "http://127.0.0.1:9"},
               {"name": "tw", "kind": "twilio", "account_sid": "AC" + "8" * 32, "from": "Gateway", "auth_token": "t",
                "base_url": "http://127.0.0.1:9"}]
    monkeypatch.setenv("SMS_PROVIDERS", json.dumps(entries))
    for configured in (None, "Gateway", "+14155550123"):  # Vonage's number as a request writes it
        options = {"from": configured} if configured else {}
        assert post_sms(gateway, **options).status_code == 202, configured
    error = error_of(post_sms(gateway, **{"from": "PAYPAL"}), 422)
    assert (error["code"], error["field"]) == ("sender_not_allowed", "from")
    assert error["message"] == ("this API key has no senders of its own: leave from out to send from the provider's "
                                "configured sender (+14155550123, Gateway) (an operator lists a client's senders in "
                                "the client registry)")


# ------------------------------------------------------------------ when it is sent


def test_send_at_within_15_minutes_is_delayed_on_the_queue_and_never_sent_early(gateway, gateway_env, queue_probe,
                                                                               sqs_event, acme_sender):
    send_at = time.time() + 2
    request_id = body_of(post_sms(gateway, send_at=at(send_at), **{"from": "ACME"}))["id"]
    [queued] = queue_probe.take()
    assert queued.delay_s in (2, 3)
    # Delivered before its time (a redrive, a lost delay): put back with what is left, nothing sent.
    assert dispatch(gateway, sqs_event, queued.message.to_body()) == {"batchItemFailures": []}
    assert sum(len(sim.arrivals()) for sim in gateway_env.values()) == 0
    [back] = queue_probe.take()
    assert 1 <= back.delay_s <= 3
    time.sleep(max(0.0, send_at - time.time()) + 0.05)
    assert dispatch(gateway, sqs_event, back.message.to_body()) == {"batchItemFailures": []}
    view = body_of(get(gateway, f"/api/sms/{request_id}"))
    assert view["status"] == "sent"
    assert datetime.fromisoformat(view["attempts"][0]["at"]).timestamp() >= send_at - 0.001
    [sent] = [message for sim in gateway_env.values() for message in sim.sent()]
    assert sent["fields"]["from"] == "ACME"


def test_send_at_beyond_15_minutes_waits_for_the_sweeper(gateway, queue_probe, inject):
    send_at = time.time() + 3600
    request_id = body_of(post_sms(gateway, send_at=at(send_at)))["id"]
    assert queue_probe.messages() == []  # only stored
    assert sweep(gateway) == {"requeued": 0, "scheduled": 0, "expired": 0, "skipped": 0, "texts_removed": 0,
                              "callbacks_queued": 0}
    assert queue_probe.messages() == []
    # 46 minutes later (the sweeper's clock; it runs every minute): 14 minutes from due.
    inject(clock=lambda: time.time() + 46 * 60)  # every service of the rebuilt container reads it
    with QueueProbe.attached(wiring.get_queue().sqs) as probe:  # the rebuilt queue client
        assert sweep(gateway)["scheduled"] == 1
        assert sweep(gateway)["scheduled"] == 0  # queued once
    [queued] = probe.messages()
    assert (queued.message.id, queued.message.attempt) == (request_id, 1)
    assert 14 * 60 - 2 <= queued.delay_s <= 14 * 60 + 1  # delayed until send_at
    assert body_of(get(gateway, f"/api/sms/{request_id}"))["status"] == "pending"


def test_openapi_documents_every_option(gateway):
    document = body_of(gateway.http.get("/openapi.json"))
    body = document["components"]["schemas"]["SendSmsBody"]
    assert set(body["properties"]) == {"phone", "text", "reference", "from", "validity_s", "send_at", "callback_url"}
    assert body["required"] == ["phone", "text"]
    parameters = {p["name"] for p in document["paths"]["/api/sms"]["get"]["parameters"]}
    assert "reference" in parameters
