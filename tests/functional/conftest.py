"""Functional-tier fixtures: the Chalice app through chalice.test.Client, moto in-process for DynamoDB and
SQS, the real Redis (fakeredis when none runs) for the router, and real provider simulators."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import fakeredis
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import wiring
from chalicelib.models import bind_models, create_tables
from chalicelib.settings import ENV_DEFAULTS, get_settings
from tests.conftest import REDIS_URL, real_redis_reachable

API_KEY = "functional-test-key"
REGION = "us-east-1"
# Per-Settings objects. The boto3 clients (_aws_client) are kept: moto answers below botocore, and a new
# client costs ~0.3 s. A test that points a client at another endpoint clears them itself.
CACHED = ("_redis", "_store", "_queue", "_router", "_dispatcher", "_intake", "_authenticator")


def clear_wiring(*, clients: bool = False) -> None:
    for name in CACHED + (("_aws_client",) if clients else ()):
        getattr(wiring, name).cache_clear()


@pytest.fixture
def chalice_project(tmp_path_factory) -> str:
    """A project directory whose test stage sets no variables: the test's environment is what the app sees."""
    root = tmp_path_factory.mktemp("chalice-project")
    (root / ".chalice").mkdir()
    (root / ".chalice" / "config.json").write_text(
        json.dumps({"version": "2.0", "app_name": "sms-gateway", "stages": {"test": {}}})
    )
    return str(root)


@pytest.fixture
def gateway_env(monkeypatch, simulators, key_prefix) -> dict:
    for name in ENV_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    sims = {name: simulators(name) for name in ("alpha", "beta", "gamma")}
    providers = [{"name": name, "url": sim.url, "rate_limit": 50, "timeout_s": 2} for name, sim in sims.items()]
    env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
        "API_KEYS": API_KEY, "SMS_PROVIDERS": json.dumps(providers), "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": key_prefix, "SLOT_WAIT_MAX_MS": "0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if not real_redis_reachable():
        monkeypatch.setattr(wiring, "_redis", _fake_redis_getter())
    return sims


def _fake_redis_getter():
    server = fakeredis.FakeServer()

    def get(url):
        return fakeredis.FakeRedis(server=server)

    get.cache_clear = lambda: None
    return get


@pytest.fixture
def gateway(gateway_env, chalice_project) -> Iterator[Client]:
    """The app, its tables and queue in moto, fresh wiring. Yields a chalice.test.Client."""
    from app import app

    clear_wiring()
    with mock_aws():
        settings = get_settings()
        bind_models(settings, endpoint_url=None)
        create_tables(wait=False)
        wiring._aws_client("sqs", settings.aws_region).create_queue(QueueName=settings.dispatch_queue_name)
        with Client(app, stage_name="test", project_dir=chalice_project) as client:
            yield client
    clear_wiring()


@pytest.fixture
def sqs_event() -> Callable[..., dict]:
    """sqs_event(body, ...) -> a Lambda SQS event whose records each have their own messageId."""

    def make(*bodies: str) -> dict:
        return {
            "Records": [
                {
                    "messageId": str(uuid.uuid4()),
                    "receiptHandle": uuid.uuid4().hex,
                    "body": body,
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:sms-dispatch",
                    "awsRegion": REGION,
                }
                for body in bodies
            ]
        }

    return make


@pytest.fixture
def queued_bodies() -> Callable[[], list[str]]:
    """Receive (and delete) every message on the dispatch queue, as the event source mapping would."""

    def take() -> list[str]:
        sqs = wiring._aws_client("sqs", REGION)
        url = sqs.get_queue_url(QueueName=get_settings().dispatch_queue_name)["QueueUrl"]
        bodies = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            bodies += [m["Body"] for m in messages]
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])

    return take
