"""Unit-tier fixtures: a clean environment, moto in-process (tables and the dispatch queue), the store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sqs.models import sqs_backends

from chalicelib.dispatch_queue import DispatchMessage, DispatchQueue
from chalicelib.models import bind_models, create_tables
from chalicelib.request_store import RequestStore
from chalicelib.settings import ENV_DEFAULTS, get_settings

REGION = "us-east-1"
QUEUE_NAME = "sms-dispatch"


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch):
    """No gateway variable and no AWS endpoint from the developer's shell leaks into a unit test."""
    for name in ENV_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@dataclass(frozen=True)
class Queued:
    message: DispatchMessage
    delay_s: int


class QueueProbe:
    """What SQS holds, read from moto's backend: bodies and the DelaySeconds each was sent with."""

    def __init__(self, queue_name: str):
        self._queue_name = queue_name

    def _messages(self) -> list:
        return sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues[self._queue_name]._messages

    def messages(self) -> list[Queued]:
        return [
            Queued(
                DispatchMessage.from_body(m.body),
                round((m.delayed_until - m.sent_timestamp) / 1000) if m.delayed_until else 0,
            )
            for m in self._messages()
        ]

    def bodies(self) -> list[dict]:
        return [json.loads(m.body) for m in self._messages()]

    def take(self) -> list[Queued]:
        """Everything queued so far, removed from the queue (as if delivered)."""
        queued = self.messages()
        self._messages().clear()
        return queued


@dataclass
class Aws:
    sqs: object
    queue: DispatchQueue
    probe: QueueProbe


@pytest.fixture(scope="session")
def sqs_client():
    # One client for the session: moto intercepts below botocore, and building a client costs ~0.1 s.
    return boto3.session.Session().client(
        "sqs", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def aws(sqs_client) -> Iterator[Aws]:
    """Fresh tables and a fresh dispatch queue in moto, per test."""
    with mock_aws():
        # Tables are new per test; PynamoDB's cached connections are kept (moto answers below botocore, and
        # building a connection costs ~0.5 s). bind_models drops them whenever a table name or host changes.
        bind_models(get_settings({}), endpoint_url=None)
        create_tables(wait=False)
        url = sqs_client.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
        yield Aws(sqs_client, DispatchQueue(sqs_client, url), QueueProbe(QUEUE_NAME))


@pytest.fixture
def store(aws, clock) -> RequestStore:
    return RequestStore(clock, lease_s=60, sweep_after_s=900)
