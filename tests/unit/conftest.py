"""Unit-tier fixtures: a clean environment, moto in-process (tables and the dispatch queue), the stores."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from chalicelib.container import Container
from chalicelib.dispatch_queue import DispatchQueue
from chalicelib.settings import ENV_NAMES, Settings, get_settings
from chalicelib.storage.claims import ClaimLedger
from chalicelib.storage.health_snapshots import HealthSnapshots
from chalicelib.storage.idempotency import IdempotencyKeys
from chalicelib.storage.queries import RequestQueries
from chalicelib.storage.requests import RequestStore
from chalicelib.storage.tables import Tables
from chalicelib.wiring import tables_for
from localdev.resources import create_tables
from tests.conftest import QueueProbe

REGION = "us-east-1"
QUEUE_NAME = "sms-dispatch"


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch):
    """No gateway variable and no AWS endpoint from the developer's shell leaks into a unit test."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def settings() -> Settings:
    """The local stage's settings with every default: what the services below are built from."""
    return get_settings({"STAGE": "local"})


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
def aws(sqs_client, settings) -> Iterator[Aws]:
    """Fresh tables and a fresh dispatch queue in moto, per test."""
    with mock_aws(), QueueProbe.attached(sqs_client) as probe:
        create_tables(settings, wait=False)
        url = sqs_client.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
        yield Aws(sqs_client, DispatchQueue(sqs_client, url), probe)


@pytest.fixture
def tables(aws, settings) -> Tables:
    return tables_for(settings)


@pytest.fixture
def container(aws, tables, clock, settings) -> Container:
    """The services as the gateway wires them, on moto's tables and queue and the test's clock."""
    return Container(settings, clock=clock, tables=tables, queue=aws.queue)


@pytest.fixture
def request_store(container) -> RequestStore:
    return container.requests


@pytest.fixture
def claims(container) -> ClaimLedger:
    return container.claims


@pytest.fixture
def queries(container) -> RequestQueries:
    return container.queries


@pytest.fixture
def idempotency(tables, clock, settings) -> IdempotencyKeys:
    return IdempotencyKeys(tables, clock, ttl_s=settings.retention.idempotency_ttl_s)


@pytest.fixture
def health_snapshots(container) -> HealthSnapshots:
    return container.health_snapshots
