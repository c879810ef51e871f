"""An AWS dependency that accepts connections and never answers (a black hole) still gets the client its
documented answer, a 503 with a code, before the API function's timeout: every AWS call is bounded by the time
the invocation has left (chalicelib/aws_deadline.py), whatever the ceilings of one call would allow."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from chalicelib import wiring
from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional

FUNCTION_TIMEOUT_S = 4  # the test stage's lambda_timeout: chalice.test.Client's context counts down from it


@pytest.fixture
def chalice_project(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("chalice-project")
    (root / ".chalice").mkdir()
    (root / ".chalice" / "config.json").write_text(json.dumps({
        "version": "2.0", "app_name": "sms-gateway", "stages": {"test": {"lambda_timeout": FUNCTION_TIMEOUT_S}}}))
    return str(root)


def send(gateway, key: str = API_KEY):
    started = time.monotonic()
    response = gateway.http.post("/api/sms", headers={"Content-Type": "application/json", "X-Api-Key": key},
                                 body=json.dumps({"phone": "+14155550100", "text": "hello"}))
    return response, time.monotonic() - started


def sqs_black_hole(monkeypatch, url: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", url)
    monkeypatch.setenv("DISPATCH_QUEUE_URL", f"{url}/123456789012/sms-dispatch")


def dynamodb_black_hole(monkeypatch, url: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)


def secrets_black_hole(monkeypatch, url: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", url)
    monkeypatch.setenv("API_KEYS_SECRET_ID", "gw/clients")


@pytest.mark.parametrize(("make_black_hole", "codes"), [
    # Stored, then the send hangs: the request is removed again (not accepted), or, when no time is left
    # for that, the client is told the outcome is unknown and given the id (docs/reliability.md).
    pytest.param(sqs_black_hole, {"dependency_unavailable", "accept_outcome_unknown"}, id="sqs"),
    pytest.param(dynamodb_black_hole, {"dependency_unavailable"}, id="dynamodb"),
    pytest.param(secrets_black_hole, {"dependency_unavailable"}, id="secrets-manager"),
])
def test_a_black_hole_dependency_gets_a_503_with_a_code_before_the_function_times_out(
        gateway, black_hole, monkeypatch, make_black_hole, codes):
    make_black_hole(monkeypatch, black_hole.url)
    wiring.reset()
    response, took_s = send(gateway)
    assert response.status_code == 503
    assert json.loads(response.body)["error"]["code"] in codes
    assert black_hole.connections >= 1  # the call did reach it, and was cut short
    assert took_s < FUNCTION_TIMEOUT_S


def test_a_black_hole_queue_leaves_no_stored_request_the_client_holds_no_id_for(gateway, black_hole, monkeypatch):
    sqs_black_hole(monkeypatch, black_hole.url)
    wiring.reset()
    response, _ = send(gateway)
    error = json.loads(response.body)["error"]
    if error["code"] == "accept_outcome_unknown":  # the request stays stored: the sweeper sends it
        assert wiring.get_requests().get(error["request_id"]) is not None
    else:  # removed again: nothing was accepted
        assert boto3.client("dynamodb", region_name="us-east-1").scan(
            TableName="sms_requests")["Count"] == 0


def test_after_one_request_waited_on_a_black_hole_secret_store_the_next_do_not_wait(gateway, black_hole, monkeypatch):
    secrets_black_hole(monkeypatch, black_hole.url)
    wiring.reset()
    first, _ = send(gateway)
    reached = black_hole.connections
    then = [send(gateway)[0] for _ in range(5)]
    assert [r.status_code for r in [first, *then]] == [503] * 6
    assert black_hole.connections == reached  # within the back-off nobody asks the secret store again
    assert all(r.headers["Retry-After"] == "1" for r in then)
