"""The SQS handler and the scheduled functions through chalice.test.Client."""

from __future__ import annotations

import json

import boto3
import pytest

from chalicelib import wiring
from chalicelib.settings import get_settings
from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional


def post_sms(client, text="hello") -> str:
    response = client.http.post("/api/sms", headers={"Content-Type": "application/json", "X-Api-Key": API_KEY},
                                body=json.dumps({"phone": "+14155550100", "text": text}))
    assert response.status_code == 202
    return json.loads(response.body)["id"]


def status_of(client, request_id) -> dict:
    return json.loads(client.http.get(f"/api/sms/{request_id}", headers={"X-Api-Key": API_KEY}).body)


def test_handler_sends_every_record_and_reports_no_failures(gateway, gateway_env, sqs_event, queued_bodies):
    ids = [post_sms(gateway) for _ in range(3)]
    event = sqs_event(*queued_bodies())
    assert gateway.lambda_.invoke("dispatch_sms", event).payload == {"batchItemFailures": []}
    assert [status_of(gateway, i)["status"] for i in ids] == ["sent"] * 3
    assert sum(len(sim.sent()) for sim in gateway_env.values()) == 3


def test_handler_reports_only_the_record_that_must_come_back(gateway, sqs_event, queued_bodies):
    busy, free = post_sms(gateway), post_sms(gateway)
    bodies = {json.loads(b)["id"]: b for b in queued_bodies()}
    wiring.get_claims().claim(busy, 1, "alpha")  # another dispatcher holds it with a live lease
    event = sqs_event(bodies[busy], bodies[free], "not json")
    payload = gateway.lambda_.invoke("dispatch_sms", event).payload
    assert payload == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert status_of(gateway, free)["status"] == "sent"


def test_same_record_delivered_twice_calls_provider_once(gateway, gateway_env, sqs_event, queued_bodies):
    request_id = post_sms(gateway)
    [body] = queued_bodies()
    for _ in range(2):
        assert gateway.lambda_.invoke("dispatch_sms", sqs_event(body)).payload == {"batchItemFailures": []}
    assert sum(len(sim.arrivals()) for sim in gateway_env.values()) == 1
    assert len(status_of(gateway, request_id)["attempts"]) == 1


def test_failing_provider_leads_to_a_retry_on_another(gateway, gateway_env, sqs_event, queued_bodies):
    for sim in gateway_env.values():
        sim.configure(mode="fail")
    request_id = post_sms(gateway)
    gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies()))
    view = status_of(gateway, request_id)
    assert (view["status"], view["retries"]) == ("retrying", 1)
    queue = wiring.get_queue()
    counts = queue.sqs.get_queue_attributes(QueueUrl=queue.queue_url, AttributeNames=["All"])["Attributes"]
    waiting = (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesDelayed"])
    assert waiting == ("0", "1")


def scheduled(client) -> dict:
    return client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                           resources=[])


def test_sweeper_runs_on_schedule(gateway):
    post_sms(gateway)
    report = gateway.lambda_.invoke("sweep_stuck_requests", scheduled(gateway)).payload
    assert report == {"requeued": 0, "scheduled": 0, "expired": 0, "skipped": 0, "texts_removed": 0,
                      "callbacks_queued": 0}


def test_provider_health_snapshot_runs_on_schedule(gateway):
    assert gateway.lambda_.invoke("snapshot_provider_health", scheduled(gateway)).payload == {"saved": True}
    saved = wiring.tables_for(get_settings()).health.scan()
    assert sorted(s.provider_name for s in saved) == ["alpha", "beta", "gamma"]


# ------------------------------------------------------------------ keys from Secrets Manager


def put_secret(name: str, value) -> None:
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name=name, SecretString=json.dumps(value))


def test_api_keys_come_from_the_secret_when_one_is_named(gateway, monkeypatch):
    put_secret("gw/api-keys", ["from-secret"])
    monkeypatch.setenv("API_KEYS_SECRET_ID", "gw/api-keys")
    ok = gateway.http.get("/api/providers", headers={"X-Api-Key": "from-secret"})
    refused = gateway.http.get("/api/providers", headers={"X-Api-Key": API_KEY})
    assert (ok.status_code, refused.status_code) == (200, 401)


def test_missing_api_key_secret_is_a_configuration_error_not_a_500(gateway, monkeypatch):
    monkeypatch.setenv("API_KEYS_SECRET_ID", "gw/no-such-secret")
    response = gateway.http.get("/api/providers", headers={"X-Api-Key": API_KEY})
    assert response.status_code == 503
    assert json.loads(response.body)["error"]["code"] == "configuration_error"


def test_provider_keys_come_from_the_secret(gateway, gateway_env, monkeypatch, sqs_event, queued_bodies):
    for name, sim in gateway_env.items():
        sim.configure(api_key=f"key-of-{name}")
    put_secret("gw/provider-keys", {name: f"key-of-{name}" for name in gateway_env})
    monkeypatch.setenv("PROVIDER_KEYS_SECRET_ID", "gw/provider-keys")
    request_id = post_sms(gateway)
    gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies()))
    assert status_of(gateway, request_id)["status"] == "sent"


def test_unexpected_error_in_a_route_is_a_json_500(gateway, monkeypatch):
    def broken():
        raise RuntimeError("a bug")

    monkeypatch.setattr(wiring, "get_requests", broken)
    response = gateway.http.get("/api/sms/" + "0" * 32, headers={"X-Api-Key": API_KEY})
    assert response.status_code == 500
    assert json.loads(response.body)["error"]["code"] == "internal_error"


def test_openapi_document_and_docs_page_are_served(gateway):
    document = gateway.http.get("/openapi.json")
    assert document.status_code == 200
    assert "/api/sms" in json.loads(document.body)["paths"]
    docs = gateway.http.get("/docs")
    assert docs.status_code == 200 and docs.headers["Content-Type"].startswith("text/html")
