"""The client registry read from Secrets Manager, through the app: a secret store that is down costs one look per
back-off while the keys already loaded keep working; a secret that is deleted or may not be read is a
configuration error that stops the old keys within the refresh interval (503 configuration_error, never a 500)."""

from __future__ import annotations

import json
import secrets
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from chalicelib import refreshing, wiring
from tests.conftest import ManualClock

pytestmark = pytest.mark.functional

SECRET_ID = "gw/clients"
KEY = secrets.token_urlsafe(32)
MAX_AGE_S = 60


class SecretStore:
    """Counts the app's GetSecretValue calls; ``fault`` makes the next ones fail before they reach moto."""

    def __init__(self):
        self.calls = 0
        self.fault: Exception | None = None

    def __call__(self, **_):
        self.calls += 1
        if self.fault is not None:
            raise self.fault


@pytest.fixture
def store(gateway, monkeypatch) -> SecretStore:
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name=SECRET_ID,
                                                                          SecretString=json.dumps([KEY]))
    monkeypatch.setenv("API_KEYS_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("CLIENTS_MAX_AGE_S", str(MAX_AGE_S))
    counter = SecretStore()
    client = wiring.container().secretsmanager
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", counter)
    yield counter
    client.meta.events.unregister("before-call.secrets-manager.GetSecretValue", counter)


@pytest.fixture
def registry_clock(monkeypatch) -> ManualClock:
    """The clock the registry's Refreshing reads (monotonic seconds)."""
    clock = ManualClock(1000.0)
    monkeypatch.setattr(refreshing, "time", SimpleNamespace(monotonic=clock))
    return clock


def providers(gateway) -> tuple[int, str | None]:
    response = gateway.http.get("/api/providers", headers={"X-Api-Key": KEY})
    return response.status_code, json.loads(response.body)["error"]["code"] if response.status_code >= 400 else None


@pytest.mark.parametrize("fault", [
    pytest.param(ReadTimeoutError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com"), id="timeout"),
    pytest.param(ClientError({"Error": {"Code": "InternalServiceError"},
                              "ResponseMetadata": {"HTTPStatusCode": 500}}, "GetSecretValue"), id="5xx"),
])
def test_loaded_keys_keep_working_while_the_secret_store_is_down_and_it_is_asked_once_per_backoff(
        gateway, store, registry_clock, fault):
    assert providers(gateway) == (200, None)
    store.fault = fault
    registry_clock.advance(MAX_AGE_S)
    answers = [providers(gateway) for _ in range(10)]
    assert answers == [(200, None)] * 10
    assert store.calls == 2  # the first load, one failed look: not one per request
    registry_clock.advance(refreshing.FIRST_BACKOFF_S)
    providers(gateway)
    assert store.calls == 3


def force_delete(sm, store) -> None:
    sm.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)


def schedule_deletion(sm, store) -> None:
    sm.delete_secret(SecretId=SECRET_ID)


def deny_access(sm, store) -> None:  # moto does not enforce IAM: the refusal AWS would give
    store.fault = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "GetSecretValue")


@pytest.mark.parametrize("break_secret", [
    pytest.param(force_delete, id="deleted"),
    pytest.param(schedule_deletion, id="scheduled-for-deletion"),
    pytest.param(deny_access, id="access-denied"),
])
def test_a_deleted_or_unreadable_secret_stops_the_old_keys_within_the_refresh_interval(
        gateway, store, registry_clock, break_secret):
    assert providers(gateway) == (200, None)
    break_secret(boto3.client("secretsmanager", region_name="us-east-1"), store)
    registry_clock.advance(MAX_AGE_S)
    answers = [providers(gateway) for _ in range(10)]
    assert answers == [(503, "configuration_error")] * 10
    assert store.calls == 2  # one look per refresh interval, not one per request
