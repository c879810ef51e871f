"""Each function's IAM policy grants what its code calls (defect B6): every AWS call the functions make is
recorded while they run through chalice.test.Client (each route and handler down its main paths), and each
call's action must be in the policy file .chalice/config.json gives that function.

As on AWS, the queue's URL is configured (DISPATCH_QUEUE_URL), so no function looks it up by name.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.client import BaseClient

from chalicelib import wiring
from chalicelib.receipts.http_json import signature_header
from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
# Actions only the platform uses (Lambda itself consumes the SQS event source, writes the logs, and attaches
# network interfaces): granted, never called by the code.
PLATFORM_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "logs:CreateLogStream",
                    "logs:PutLogEvents"}


def granted(handler: str) -> set[str]:
    document = json.loads((ROOT / ".chalice" / CONFIG["lambda_functions"][handler]["iam_policy_file"]).read_text())
    actions: set[str] = set()
    for statement in document["Statement"]:
        found = statement["Action"]
        actions |= set(found if isinstance(found, list) else [found])
    return actions


class CallLog:
    """Every AWS API call made in the process, by the function running when it was made."""

    def __init__(self):
        self.current: str | None = "api_handler"
        self.calls: dict[str, set[str]] = defaultdict(set)

    def record(self, client: BaseClient, operation: str) -> None:
        if self.current is not None:  # None: the test itself (taking what is queued, as SQS would deliver it)
            self.calls[self.current].add(f"{client.meta.service_model.signing_name}:{operation}")

    def queued(self, queued_bodies) -> list[str]:
        self.current = None
        try:
            return queued_bodies()
        finally:
            self.current = "api_handler"


@pytest.fixture
def call_log(monkeypatch, gateway) -> Iterator[CallLog]:
    log = CallLog()
    original = BaseClient._make_api_call

    def recording(self, operation_name, api_params):
        log.record(self, operation_name)
        return original(self, operation_name, api_params)

    sqs = boto3.client("sqs", region_name="us-east-1")
    for variable, name in (("DISPATCH_QUEUE_URL", "sms-dispatch"), ("CALLBACK_QUEUE_URL", "sms-callbacks"),
                           ("CALLBACK_DLQ_URL", "sms-callbacks-dlq")):
        monkeypatch.setenv(variable, sqs.get_queue_url(QueueName=name)["QueueUrl"])
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "127.0.0.1")
    wiring.reset()
    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    yield log


def invoke(gateway, log: CallLog, handler: str, event) -> object:
    log.current = handler
    try:
        return gateway.lambda_.invoke(handler, event).payload
    finally:
        log.current = "api_handler"


def test_every_call_of_every_function_is_granted_by_its_policy(gateway, gateway_env, call_log, sqs_event,
                                                               queued_bodies, monkeypatch):
    headers = {"X-Api-Key": API_KEY, "Content-Type": "application/json"}
    # Every request has a callback URL: finishing one queues its callback (the dispatcher, the sweeper).
    body = json.dumps({"phone": "+14155550100", "text": "hi", "callback_url": "http://127.0.0.1:9/status"})
    # The API: accept (with and without an Idempotency-Key, and a replay), read, list, providers, health.
    first = json.loads(gateway.http.post("/api/sms", headers=headers, body=body).body)["id"]
    gateway.http.post("/api/sms", headers={**headers, "Idempotency-Key": "k"}, body=body)
    gateway.http.post("/api/sms", headers={**headers, "Idempotency-Key": "k"}, body=body)
    for path in (f"/api/sms/{first}", "/api/sms?limit=1", "/api/providers", "/health"):
        assert gateway.http.get(path, headers=headers).status_code == 200, path
    # The dispatcher: a send, then a provider failure (retry, health snapshot on the trip) and a throttle.
    invoke(gateway, call_log, "dispatch_sms", sqs_event(*call_log.queued(queued_bodies)))
    # A delivery receipt on the API's webhook route: the message-id index, then the conditional write.
    sent = json.loads(gateway.http.get(f"/api/sms/{first}", headers=headers).body)
    providers = [{**entry, "webhook_secret": "iam-test-secret"} for entry in json.loads(os.environ["SMS_PROVIDERS"])]
    monkeypatch.setenv("SMS_PROVIDERS", json.dumps(providers))
    receipt = json.dumps({"message_id": sent["provider_message_id"], "status": "delivered"}).encode()
    signed = signature_header(receipt, "iam-test-secret", int(time.time()))
    answer = gateway.http.post(f"/webhooks/{sent['provider_used']}", body=receipt,
                               headers={"Content-Type": "application/json", "X-Signature": signed})
    assert answer.status_code == 204, answer.body
    # The delivery events handler: one event naming its request, one found through the message-id index.
    events = [{"eventType": "TEXT_DELIVERED", "messageId": sent["provider_message_id"],
               "context": {"provider": sent["provider_used"], **({"request_id": first} if named else {})}}
              for named in (True, False)]
    invoke(gateway, call_log, "apply_delivery_events", sqs_event(*map(json.dumps, events)))
    for mode in ("fail", "throttle"):
        for sim in gateway_env.values():
            sim.configure(mode=mode)
        gateway.http.post("/api/sms", headers=headers, body=body)
        invoke(gateway, call_log, "dispatch_sms", sqs_event(*call_log.queued(queued_bodies)))
    # More messages than the providers can take at once, with no wait allowed: some wait on the queue.
    for sim in gateway_env.values():
        sim.configure(mode="ok")
    monkeypatch.setenv("SLOT_WAIT_MAX_MS", "0")
    for _ in range(8):
        gateway.http.post("/api/sms", headers=headers, body=body)
    invoke(gateway, call_log, "dispatch_sms", sqs_event(*call_log.queued(queued_bodies)))
    # The scheduled functions.
    scheduled = gateway.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                                 resources=[])
    invoke(gateway, call_log, "sweep_stuck_requests", scheduled)
    invoke(gateway, call_log, "snapshot_provider_health", scheduled)
    # The callbacks: the queued ones (nobody listens on port 9: each is queued again for later), and one whose
    # target the guard refuses at delivery time (straight to the callbacks DLQ).
    callbacks = call_log.queued(lambda: _take(wiring.get_callback_delivery()._queue))
    refused = json.loads(callbacks[0])
    callbacks.append(json.dumps({**refused, "url": "https://10.0.0.5/status", "event_id": "refused"}))
    invoke(gateway, call_log, "deliver_callbacks", sqs_event(*callbacks))

    assert set(call_log.calls) == set(CONFIG["lambda_functions"]), "every function ran"
    assert "sqs:ChangeMessageVisibility" in call_log.calls["dispatch_sms"]  # the waiting path ran too
    assert "sqs:SendMessage" in call_log.calls["deliver_callbacks"]  # retried and dead-lettered
    for handler, calls in call_log.calls.items():
        assert calls <= granted(handler), f"{handler} calls what its policy does not grant: {calls - granted(handler)}"


def _take(queue) -> list[str]:
    messages = queue.sqs.receive_message(QueueUrl=queue.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [m["Body"] for m in messages]


@pytest.mark.parametrize("handler", list(CONFIG["lambda_functions"]))
def test_no_policy_grants_writes_outside_what_the_code_can_call(handler):
    """The reverse, by reading: a grant must name an action the code has a call for (or the platform uses)."""
    code = "\n".join(path.read_text() for path in (ROOT / "chalicelib").rglob("*.py"))
    pynamodb_calls = {"GetItem": ".get(", "PutItem": ".save(", "UpdateItem": ".update(", "DeleteItem": ".delete(",
                      "Query": ".query(", "DescribeTable": "describe_table", "BatchWriteItem": "batch_write"}
    for action in granted(handler) - PLATFORM_ACTIONS:
        service, operation = action.split(":")
        if service == "ec2":
            continue  # Lambda's own network interfaces in the VPC
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")
        hint = pynamodb_calls.get(operation) if service == "dynamodb" else None
        assert (hint and hint in code) or snake in code, f"{handler}: {action} is granted, nothing calls it"
