"""Functional-tier fixtures: the Chalice app through chalice.test.Client, moto in-process for DynamoDB and
SQS, the real Redis (fakeredis when none runs) for the router, and real provider simulators."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import boto3
import fakeredis
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import wiring
from chalicelib.settings import ENV_NAMES, get_settings
from localdev.resources import create_tables
from tests.conftest import REDIS_URL, QueueProbe, real_redis_reachable

API_KEY = "functional-test-key"
REGION = "us-east-1"


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
def provider_api_key() -> str | None:
    """The api_key the simulators demand and the gateway sends (a test module may override it)."""
    return None


@pytest.fixture
def gateway_env(monkeypatch, simulators, key_prefix, provider_api_key, inject) -> dict:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    sims = {name: simulators(name, api_key=provider_api_key) for name in ("alpha", "beta", "gamma")}
    providers = [{"name": name, "url": sim.url, "rate_limit": 50, "timeout_s": 1, "api_key": provider_api_key}
                 for name, sim in sims.items()]
    env = {
        "STAGE": "local",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
        "API_KEYS": API_KEY, "SMS_PROVIDERS": json.dumps(providers), "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": key_prefix, "SLOT_WAIT_MAX_MS": "500",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if not real_redis_reachable():  # one fake server stands in for Redis in every container the test builds
        inject(redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    return sims


@pytest.fixture
def gateway(gateway_env, chalice_project) -> Iterator[Client]:
    """The app, its tables and queue in moto, fresh wiring. Yields a chalice.test.Client."""
    from app import app

    wiring.reset()
    with mock_aws():
        settings = get_settings()
        create_tables(settings, wait=False)
        sqs = boto3.client("sqs", region_name=REGION)
        queues = settings.queues
        for name in (queues.dispatch_queue_name, queues.callback_queue_name, queues.callback_dlq_name):
            sqs.create_queue(QueueName=name)
        with Client(app, stage_name="test", project_dir=chalice_project) as client:
            yield client
    wiring.reset()


@pytest.fixture
def queue_probe(gateway) -> Iterator[QueueProbe]:
    """Every message the app puts on the dispatch queue, with its delay (see QueueProbe)."""
    with QueueProbe.attached(wiring.get_queue().sqs) as probe:
        yield probe


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
        sqs, url = wiring.get_queue().sqs, wiring.get_queue().queue_url
        bodies = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            bodies += [m["Body"] for m in messages]
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])

    return take
