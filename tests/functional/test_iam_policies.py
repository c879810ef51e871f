"""Each function's IAM policy allows what its code calls, and nothing it grants goes unused (defect B6,
issue 19 §2).

moto does not enforce IAM, so the functions run through chalice.test.Client against moto while every AWS call
is recorded as IAM sees it (action and resource ARN, localdev/iam_policies.py) with the function that made it.
Each function runs as on AWS: a cold process of its own (fresh wiring), with only the environment
infra/resources.json gives it (its table names, queue URLs and secret ARNs, resolved to moto's), the client
registry and the provider keys in Secrets Manager. Each call is then evaluated against the function's generated
policy: .chalice/policy-*.json rendered with the ARNs of the moto resources (infra/stack.py's render_policy, what
`make infra` writes for `chalice deploy`).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from chalicelib import wiring
from chalicelib.lifecycle import TERMINAL
from chalicelib.settings import get_settings
from chalicelib.storage.idempotency import IdempotencyKeys, fingerprint
from chalicelib.vendors.http_json import signature_header
from chalicelib.wiring import tables_for
from infra.stack import chalice_functions
from localdev.iam_policies import Account, CallRecorder, function_policies, needed_by
from localdev.resources import resource_names
from tests.functional.conftest import API_KEY, REGION

pytestmark = pytest.mark.functional

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
TEMPLATE = json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"]
ACCOUNT_ID = "123456789012"  # moto's
STAGE = "local"
WEBHOOK_SECRET = "iam-test-webhook-secret"
CLIENT_DEFAULT_URL = "http://127.0.0.1:9/default"  # nobody listens: each callback is queued again for later
# Grants the platform uses, never the code: Lambda consumes the SQS event source, writes the logs and attaches
# the network interfaces in the VPC. Everything else a policy grants must be needed by a call the code makes.
PLATFORM_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "logs:", "ec2:")
# Grants the code needs on paths this scenario does not take, each with the call that needs it.
NOT_EXERCISED = {
    ("dispatch_sms", "AttemptRecords", "dynamodb:GetItem"): "finishing an abandoned attempt from its record",
    ("api_handler", "RequestsReadWrite", "dynamodb:DeleteItem"): "intake: an accept that could not be queued",
    ("api_handler", "IdempotencyKeys", "dynamodb:DeleteItem"): "intake: a key whose request could not be accepted",
}


@pytest.fixture
def account(gateway, gateway_env, monkeypatch) -> Account:
    """The client registry and the provider keys in Secrets Manager, as on AWS: a shared secret and one of each
    provider's own."""
    secrets = boto3.client("secretsmanager", region_name=REGION)
    registry = {"cursor_key": "c" * 32, "clients": {"team": {
        "key_hashes": ["sha256:" + hashlib.sha256(API_KEY.encode()).hexdigest()], "roles": ["send", "operator"],
        "callback_secret": "s" * 32, "callback_url": CLIENT_DEFAULT_URL}}}
    arns = {}
    for name, value in ((f"sms-gateway/{STAGE}/api-keys", registry),
                        (f"sms-gateway/{STAGE}/provider-keys", {name: {"webhook_secret": WEBHOOK_SECRET}
                                                                 for name in gateway_env}),
                        *((f"sms-gateway/{STAGE}/providers/{name}", {"api_key": f"{name}-key"})
                          for name in gateway_env)):
        arns[name] = secrets.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
    monkeypatch.setenv("SMS_PROVIDERS", json.dumps([{"name": name, "url": sim.url, "rate_limit": 50, "timeout_s": 1,
                                                     "secret_id": f"sms-gateway/{STAGE}/providers/{name}"}
                                                    for name, sim in gateway_env.items()]))
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "127.0.0.1")
    return Account(ACCOUNT_ID, secret_arns=arns)


@pytest.fixture
def aws_provider(simulators) -> dict:
    """An AWS End User Messaging provider (the aws simulator checks the SigV4 signature of what it gets)."""
    credentials = boto3.session.Session().get_credentials()
    aws = simulators("aws", kind="aws", credentials={"aws_access_key_id": credentials.access_key,
                                                     "aws_secret_access_key": credentials.secret_key})
    return {"name": "aws", "kind": "aws", "endpoint_url": aws.url, "origination_identity": "+15005550007",
            "timeout_s": 1}


def function_environments(account: Account) -> dict[str, dict[str, str]]:
    """{handler: the variables infra/resources.json gives its function}, resolved to moto's resources (a Ref of a
    queue is its URL, of a secret its ARN, of a table its name). REDIS_URL stays the test's."""
    names = resource_names(get_settings())
    secrets = {"ApiKeysSecret": f"sms-gateway/{STAGE}/api-keys",
               "ProviderKeysSecret": f"sms-gateway/{STAGE}/provider-keys"}

    def resolved(value) -> str | None:
        if "Ref" in value:
            logical_id = value["Ref"]
            if logical_id in secrets:
                return account.secret_arns[secrets[logical_id]]
            if logical_id.endswith("Table"):
                return names[logical_id]
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{names[logical_id]}"
        if value.get("Fn::GetAtt", [None, None])[1] == "QueueName":
            return names[value["Fn::GetAtt"][0]]
        return None

    environments = {}
    for logical_id, function in chalice_functions(ROOT, STAGE).items():
        variables = TEMPLATE[logical_id]["Properties"]["Environment"]["Variables"]
        environments[function["handler"]] = {name: resolved(value) for name, value in variables.items()
                                             if resolved(value) is not None}
    return environments


class Functions:
    """Runs the gateway's code as one function at a time: a cold process with that function's environment."""

    def __init__(self, gateway, recorder: CallRecorder, environments: dict[str, dict[str, str]], monkeypatch):
        self.gateway, self.recorder, self.environments, self.monkeypatch = gateway, recorder, environments, monkeypatch
        self.variables = set().union(*environments.values())

    def become(self, handler: str) -> None:
        for name in self.variables:
            self.monkeypatch.delenv(name, raising=False)
        for name, value in self.environments[handler].items():
            self.monkeypatch.setenv(name, value)
        wiring.reset()
        self.recorder.function = handler

    def api(self, method: str, path: str, **kwargs):
        self.become("api_handler")
        return getattr(self.gateway.http, method)(path, **kwargs)

    def invoke(self, handler: str, event) -> object:
        self.become(handler)
        return self.gateway.lambda_.invoke(handler, event).payload

    def as_sqs(self, take: Callable[[], list[str]]) -> list[str]:
        """What a queue holds, taken as its event source would (not a call of any function)."""
        with self.recorder.running(None):
            return take()


@pytest.fixture
def functions(gateway, account, monkeypatch) -> Iterator[Functions]:
    recorder = CallRecorder(account)
    with recorder.installed():
        yield Functions(gateway, recorder, function_environments(account), monkeypatch)
    wiring.reset()


def run_every_function(functions: Functions, sqs_event, queued_bodies, gateway_env, aws_provider, monkeypatch):
    """Each route and handler down its main paths (the calls end up in functions.recorder)."""
    headers = {"X-Api-Key": API_KEY, "Content-Type": "application/json"}
    named = json.dumps({"phone": "+14155550100", "text": "hi", "callback_url": "http://127.0.0.1:9/status"})
    unnamed = json.dumps({"phone": "+14155550100", "text": "hi"})  # the client's default callback URL
    # The API: accept (with and without an Idempotency-Key, and a replay), read, list, providers, health.
    first = json.loads(functions.api("post", "/api/sms", headers=headers, body=named).body)["id"]
    functions.api("post", "/api/sms", headers={**headers, "Idempotency-Key": "k"}, body=unnamed)
    functions.api("post", "/api/sms", headers={**headers, "Idempotency-Key": "k"}, body=unnamed)
    # A key whose first call died after reserving it (an hour ago): the next call with it takes it over.
    with functions.recorder.running(None):
        settings = get_settings()
        IdempotencyKeys(tables_for(settings), lambda: time.time() - 3600, ttl_s=86400).reserve(
            fingerprint("team", "orphaned"), fingerprint("+14155550100", "hi"), uuid.uuid4().hex)
    taken_over = functions.api("post", "/api/sms", headers={**headers, "Idempotency-Key": "orphaned"}, body=unnamed)
    assert taken_over.status_code == 202, taken_over.body
    for path in (f"/api/sms/{first}", "/api/sms?limit=1", "/api/providers", "/health"):
        assert functions.api("get", path, headers=headers).status_code == 200, path
    # The dispatcher: two sends (a finished request queues its callback), then the same messages again (SQS
    # delivers at least once: the claim is refused, and the request read to see why).
    bodies = functions.as_sqs(queued_bodies)
    functions.invoke("dispatch_sms", sqs_event(*bodies))
    functions.invoke("dispatch_sms", sqs_event(*bodies))
    # A delivery receipt on the API's webhook route: its provider's secrets, the message-id index, the
    # conditional write, and the callback of `delivered`.
    sent = json.loads(functions.api("get", f"/api/sms/{first}", headers=headers).body)
    receipt = json.dumps({"message_id": sent["provider_message_id"], "status": "delivered"}).encode()
    answer = functions.api("post", f"/webhooks/{sent['provider_used']}", body=receipt, headers={
        "Content-Type": "application/json", "X-Signature": signature_header(receipt, WEBHOOK_SECRET, int(time.time()))})
    assert answer.status_code == 204, answer.body
    # A provider failure (retry, a health snapshot on the trip), a throttle, then more messages than the
    # providers can take with no wait allowed (some wait on the queue: ChangeMessageVisibility).
    monkeypatch.setenv("HEALTH_FAILURE_STREAK", "1")
    for mode in ("fail", "throttle"):
        for sim in gateway_env.values():
            sim.configure(mode=mode)
        functions.api("post", "/api/sms", headers=headers, body=named)
        functions.invoke("dispatch_sms", sqs_event(*functions.as_sqs(queued_bodies)))
    monkeypatch.delenv("HEALTH_FAILURE_STREAK")
    for sim in gateway_env.values():
        sim.configure(mode="ok")
    monkeypatch.setenv("SLOT_WAIT_MAX_MS", "0")
    for _ in range(8):
        functions.api("post", "/api/sms", headers=headers, body=named)
    functions.invoke("dispatch_sms", sqs_event(*functions.as_sqs(queued_bodies)))
    # AWS End User Messaging: a send, then its delivery events (one delivered, one blocked), whose callbacks
    # go to the client's default URL. On a queue of their own: earlier retries coming due are not in the way.
    monkeypatch.setenv("SLOT_WAIT_MAX_MS", "500")
    functions.as_sqs(queued_bodies)
    monkeypatch.setenv("SMS_PROVIDERS", json.dumps([aws_provider]))
    ids = [json.loads(functions.api("post", "/api/sms", headers=headers, body=unnamed).body)["id"] for _ in range(2)]
    for _ in range(5):  # a slow machine leaves the invocation too little time for some: requeued, sent next time
        functions.invoke("dispatch_sms", sqs_event(*functions.as_sqs(queued_bodies)))
        views = [json.loads(functions.api("get", f"/api/sms/{request_id}", headers=headers).body) for request_id in ids]
        if all(view["provider_message_id"] for view in views):
            break
    assert {view["provider_used"] for view in views} == {"aws"}, views
    events = [{"eventType": event_type, "messageId": view["provider_message_id"],
               "context": {"provider": "aws", **({"request_id": view["id"]} if with_id else {})}}
              for view, event_type, with_id in zip(views, ("TEXT_DELIVERED", "TEXT_BLOCKED"), (True, False),
                                                   strict=True)]
    # and the first one again: a repeat changes nothing, which the applier reads the request to tell (GetItem)
    functions.invoke("apply_delivery_events", sqs_event(*map(json.dumps, [*events, events[0]])))
    # The scheduled functions, the sweeper with work: every request due now, an open one past its time to live
    # (expired, its callback queued), a finished one whose callback was not queued (published again, to the
    # client's default URL).
    functions.as_sqs(_make_everything_due)
    scheduled = functions.gateway.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                                           detail={}, resources=[])
    functions.invoke("sweep_stuck_requests", scheduled)
    functions.invoke("snapshot_provider_health", scheduled)
    # The callbacks: the queued ones (retried later), and one whose target the guard refuses at delivery
    # time (straight to the callbacks DLQ).
    callbacks = functions.as_sqs(lambda: _take(functions.environments["deliver_callbacks"]["CALLBACK_QUEUE_URL"]))
    refused = json.loads(callbacks[0])
    callbacks.append(json.dumps({**refused, "url": "https://10.0.0.5/status", "event_id": "refused"}))
    functions.invoke("deliver_callbacks", sqs_event(*callbacks))


def _make_everything_due() -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    table = get_settings().tables.requests
    items = [item for item in dynamodb.scan(TableName=table)["Items"] if "due_at" in item and "work_shard" in item]
    expired = pending = False
    for item in items:
        status = item["status"]["S"]
        changes = {":due": {"N": "0"}}
        expression = "SET due_at = :due"
        if status in TERMINAL and "callback_url" not in item and not pending:  # the client's default URL
            pending = True
            changes[":pending"] = {"S": status}
            expression += ", callback_pending = :pending"
        elif status not in TERMINAL and not expired:
            expired = True
            changes[":expires"] = {"N": "1"}
            expression += ", expires_at = :expires"
        dynamodb.update_item(TableName=table, Key={"id": item["id"]}, UpdateExpression=expression,
                             ExpressionAttributeValues=changes)
    assert expired and pending, [item["status"]["S"] for item in items]


def _take(queue_url: str) -> list[str]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [m["Body"] for m in messages]


def test_each_function_is_allowed_every_call_it_makes_and_needs_every_grant_it_has(
        functions, account, sqs_event, queued_bodies, gateway_env, aws_provider, monkeypatch):
    run_every_function(functions, sqs_event, queued_bodies, gateway_env, aws_provider, monkeypatch)
    recorder = functions.recorder
    recorder.function = None
    policies = function_policies(get_settings(), account, REGION)
    assert {call.function for call in recorder.calls} == set(CONFIG["lambda_functions"]), "every function ran"

    denied = recorder.denied(policies)
    assert not denied, "AWS would deny:\n" + "\n".join(map(str, denied))

    # The converse: taking any one action, or any one resource, out of any statement denies a call the code made
    # (so a grant removed by mistake fails the assertion above), unless the platform is what uses it.
    unused = []
    for handler, grants in policies.items():
        needed = needed_by([call for call in recorder.calls if call.function == handler], grants)
        for grant in grants:
            for action in grant.actions:
                exempt = action.startswith(PLATFORM_ACTIONS) or (handler, grant.sid, action) in NOT_EXERCISED
                if not exempt and not needed(grant.sid, action=action):
                    unused.append(f"{handler}: {grant.sid} {action}")
            platform_only = all(action.startswith(PLATFORM_ACTIONS) for action in grant.actions)
            for resource in grant.resources:
                if not platform_only and not needed(grant.sid, resource=resource):
                    unused.append(f"{handler}: {grant.sid} on {resource}")
    assert not unused, "granted, and no call of this scenario needs it:\n" + "\n".join(unused)
