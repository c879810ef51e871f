"""One provider of each kind behind the app (chalice.test.Client, moto in-process, real simulators over HTTP):
a request ends sent with the vendor's own message id, a provider's token comes from its own secret, and the
dispatcher starts no send its Lambda's remaining time could cut off."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional

ACCOUNT_SID = "AC" + "8" * 32
TWILIO = {"account_sid": ACCOUNT_SID, "auth_token": "tw-functional-token"}
VONAGE = {"api_key": "vgkey001", "api_secret": "vg-functional-secret"}


@pytest.fixture
def vendor_sims(gateway, simulators):
    # The aws simulator checks signatures made with the credentials the dispatcher finds (moto sets its own).
    found = boto3.session.Session().get_credentials()
    aws = {"aws_access_key_id": found.access_key, "aws_secret_access_key": found.secret_key}
    return {"tw": simulators("tw", kind="twilio", credentials=TWILIO),
            "vg": simulators("vg", kind="vonage", credentials=VONAGE),
            "aws": simulators("aws", kind="aws", credentials=aws)}


def use_providers(monkeypatch, *entries) -> None:
    monkeypatch.setenv("SMS_PROVIDERS", json.dumps(list(entries)))


def entries(sims, **overrides):
    return [
        {"name": "tw", "kind": "twilio", "account_sid": ACCOUNT_SID, "from": "+15005550006", "timeout_s": 1,
         "auth_token": TWILIO["auth_token"], "base_url": sims["tw"].url, **overrides.get("tw", {})},
        {"name": "vg", "kind": "vonage", "api_key": "vgkey001", "from": "Gateway", "timeout_s": 1,
         "api_secret": VONAGE["api_secret"], "base_url": sims["vg"].url, **overrides.get("vg", {})},
        {"name": "aws", "kind": "aws", "endpoint_url": sims["aws"].url, "origination_identity": "+15005550007",
         "timeout_s": 1, **overrides.get("aws", {})},
    ]


def post_sms(gateway, text="hello") -> str:
    response = gateway.http.post("/api/sms", headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
                                 body=json.dumps({"phone": "+14155550100", "text": text}))
    assert response.status_code == 202, response.body
    return json.loads(response.body)["id"]


def view(gateway, request_id: str) -> dict:
    return json.loads(gateway.http.get(f"/api/sms/{request_id}", headers={"X-Api-Key": API_KEY}).body)


def test_each_kind_sends_and_the_request_shows_the_vendors_message_id(gateway, vendor_sims, monkeypatch, sqs_event,
                                                                      queued_bodies):
    use_providers(monkeypatch, *entries(vendor_sims))
    ids = [post_sms(gateway, f"hello {i}") for i in range(6)]
    gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies()))
    views = [view(gateway, request_id) for request_id in ids]
    assert {v["status"] for v in views} == {"sent"}
    sent_ids = {name: {s["message_id"] for s in sim.sent()} for name, sim in vendor_sims.items()}
    for v in views:
        assert v["provider_message_id"] in sent_ids[v["provider_used"]]
    assert {v["provider_used"] for v in views} == {"tw", "vg", "aws"}
    assert {a["auth"] for sim in vendor_sims.values() for a in sim.arrivals()} == {"ok"}


def test_a_providers_token_comes_from_its_own_secret(gateway, vendor_sims, monkeypatch, sqs_event, queued_bodies):
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="sms-gateway/test/providers/tw", SecretString=json.dumps({"auth_token": TWILIO["auth_token"]}))
    tw = {key: value for key, value in entries(vendor_sims)[0].items() if key != "auth_token"}
    use_providers(monkeypatch, {**tw, "secret_id": "sms-gateway/test/providers/tw"})
    request_id = post_sms(gateway)
    gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies()))
    assert view(gateway, request_id)["status"] == "sent"
    assert vendor_sims["tw"].arrivals()[0]["auth"] == "ok"


def test_misconfigured_credentials_retry_elsewhere_instead_of_failing_the_request(gateway, vendor_sims, monkeypatch,
                                                                                 sqs_event, queued_bodies):
    use_providers(monkeypatch, *entries(vendor_sims, tw={"auth_token": "revoked"}))
    ids = [post_sms(gateway) for _ in range(3)]
    gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies()))
    views = {request_id: view(gateway, request_id) for request_id in ids}
    at_twilio = [v for v in views.values() if v["attempts"][0]["provider"] == "tw"]
    assert at_twilio, "round-robin gave twilio none of the three"
    for v in at_twilio:
        assert (v["status"], v["attempts"][0]["outcome"]) == ("retrying", "provider_failure")
    assert all(v["status"] == "sent" for v in views.values() if v["attempts"][0]["provider"] != "tw")


def test_no_send_starts_when_the_lambda_has_less_time_left_than_the_provider_needs(gateway, vendor_sims,
                                                                                  monkeypatch, sqs_event,
                                                                                  queued_bodies):
    # chalice.test gives the handler a 3 s context; a provider with a 2.5 s timeout (+ the 1 s margin) cannot fit.
    use_providers(monkeypatch, entries(vendor_sims, tw={"timeout_s": 2.5})[0])
    request_id = post_sms(gateway)
    bodies = queued_bodies()
    gateway.lambda_.invoke("dispatch_sms", sqs_event(*bodies))
    assert view(gateway, request_id)["status"] == "pending"
    assert vendor_sims["tw"].arrivals() == []
    assert queued_bodies() == bodies  # back on the queue, unchanged, for an invocation with time to spare
