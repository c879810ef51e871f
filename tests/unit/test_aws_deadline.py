"""Every AWS call ends before the invocation's deadline: each attempt reads for at most the time left, none
starts without time for it, no retry starts that could not finish; outside an invocation the fixed ceilings
apply. The clients are real boto3 clients; the endpoint is a black hole (accepts, never answers)."""

from __future__ import annotations

import json
import time

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ConnectionClosedError

from chalicelib import aws_deadline, wiring
from chalicelib.aws_deadline import (
    ANSWER_RESERVE_S,
    CONNECT_TIMEOUT_S,
    MIN_ATTEMPT_S,
    READ_TIMEOUT_S,
    RETRY_SLEEP_MAX_S,
    DeadlineExceeded,
    invocation_deadline,
    time_left_s,
)
from chalicelib.dispatch_queue import DispatchMessage, DispatchQueue
from chalicelib.errors import DependencyUnavailable
from chalicelib.settings import Settings
from chalicelib.storage.requests import RequestStore

pytestmark = pytest.mark.unit


class LambdaContext:
    def __init__(self, remaining_s: float):
        self._ends_at = time.monotonic() + remaining_s

    def get_remaining_time_in_millis(self) -> int:
        return int((self._ends_at - time.monotonic()) * 1000)


class Attempts:
    """Each attempt the client makes, with the read timeout it was given (None: the pool's READ_TIMEOUT_S);
    ``fail`` answers an attempt with that exception instead of sending it."""

    def __init__(self, client, fail: Exception | None = None):
        self.read_timeouts: list[float | None] = []
        self.fail = fail
        client.meta.events.register_last("before-send.*.*", self)

    def __call__(self, request, **_):
        self.read_timeouts.append(request.context.get("read_timeout"))
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def sqs(monkeypatch, black_hole):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", black_hole.url)
    return aws_deadline.aws_client("sqs", "us-east-1")


def send(sqs, black_hole) -> None:
    """As intake sends: an AWS failure of any kind is a DependencyUnavailable."""
    DispatchQueue(sqs, f"{black_hole.url}/123456789012/q").send(DispatchMessage(id="r1"))


def send_raw(sqs, black_hole) -> None:
    sqs.send_message(QueueUrl=f"{black_hole.url}/123456789012/q", MessageBody="{}")


def test_every_client_has_the_ceilings_of_one_call():
    config = aws_deadline.aws_client("sqs", "us-east-1").meta.config
    assert (config.connect_timeout, config.read_timeout, config.retries) == (
        CONNECT_TIMEOUT_S, READ_TIMEOUT_S, {"total_max_attempts": 2, "mode": "standard"})


def test_the_deadline_is_the_time_left_less_the_reserve_for_the_answer_and_none_outside_an_invocation():
    assert time_left_s() is None
    with invocation_deadline(LambdaContext(10)):
        assert 10 - ANSWER_RESERVE_S - 0.5 < time_left_s() <= 10 - ANSWER_RESERVE_S
    with invocation_deadline(None):
        assert time_left_s() is None
    assert time_left_s() is None


def test_a_black_hole_call_ends_by_the_deadline_with_one_attempt_cut_to_the_time_left(sqs, black_hole):
    attempts = Attempts(sqs)
    started = time.monotonic()
    with invocation_deadline(LambdaContext(3)), pytest.raises(DependencyUnavailable, match="DeadlineExceeded"):
        send(sqs, black_hole)
    took_s = time.monotonic() - started
    # 3 s left less the 1 s reserve: one attempt reading for at most 1.5 s, and no time for a retry.
    [read_timeout] = attempts.read_timeouts
    assert read_timeout <= 3 - ANSWER_RESERVE_S - CONNECT_TIMEOUT_S
    assert black_hole.connections == 1
    assert took_s < 3  # the invocation's time; without the deadline: 2 attempts of 5 s


def test_no_attempt_starts_with_less_than_the_least_attempt_left(sqs, black_hole):
    attempts = Attempts(sqs)
    context = LambdaContext(ANSWER_RESERVE_S + MIN_ATTEMPT_S / 2)
    with invocation_deadline(context), pytest.raises(DeadlineExceeded, match=r"SendMessage: \d\.\d+ s left"):
        send_raw(sqs, black_hole)
    assert (attempts.read_timeouts, black_hole.connections) == ([], 0)


def test_a_transient_failure_is_retried_when_the_retry_fits_and_not_when_it_does_not(sqs, black_hole):
    dropped = ConnectionClosedError(endpoint_url=black_hole.url)
    attempts = Attempts(sqs, fail=dropped)
    with invocation_deadline(LambdaContext(ANSWER_RESERVE_S + RETRY_SLEEP_MAX_S + MIN_ATTEMPT_S + 2)), \
            pytest.raises(ConnectionClosedError):
        send_raw(sqs, black_hole)
    assert len(attempts.read_timeouts) == 2
    attempts.read_timeouts.clear()
    with invocation_deadline(LambdaContext(ANSWER_RESERVE_S + RETRY_SLEEP_MAX_S + MIN_ATTEMPT_S - 0.2)), \
            pytest.raises(DeadlineExceeded, match="SendMessage: ConnectionClosedError, and no time left to try again"):
        send_raw(sqs, black_hole)
    assert len(attempts.read_timeouts) == 1


def test_outside_an_invocation_an_attempt_keeps_the_ceiling(sqs, black_hole):
    attempts = Attempts(sqs, fail=DeadlineExceeded(operation="SendMessage", reason="stopped by the test"))
    with pytest.raises(DependencyUnavailable):
        send(sqs, black_hole)
    assert attempts.read_timeouts == [None]  # the pool's READ_TIMEOUT_S


def test_the_dynamodb_tables_are_bounded_too(monkeypatch, black_hole):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", black_hole.url)
    settings = Settings(STAGE="local", REQUESTS_TABLE="bh_requests")
    tables = wiring.tables_for(settings)
    connection = tables.requests._get_connection().connection
    assert (connection.client.meta.config.read_timeout, connection.client.meta.config.retries["total_max_attempts"]) \
        == (READ_TIMEOUT_S, 2)
    started = time.monotonic()
    with invocation_deadline(LambdaContext(3)), pytest.raises(DependencyUnavailable):
        RequestStore(tables, time.time, sweep_after_s=900, retention_s=86400).get("r1")
    assert black_hole.connections == 1
    assert time.monotonic() - started < 3


class Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body


def answered(status: int, error_type: str):
    def answer(request, **_):
        return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.0"},
                           Raw(json.dumps({"__type": error_type, "message": "test"}).encode()))

    return answer


@pytest.mark.parametrize(("status", "error_type", "raised"), [
    pytest.param(500, "InternalError", "no time left to try again", id="5xx-is-cut"),
    pytest.param(400, "ThrottlingException", "no time left to try again", id="throttling-is-cut"),
    pytest.param(400, "AWS.SimpleQueueService.NonExistentQueue", "NonExistentQueue", id="a-refusal-means-what-it-says"),
])
def test_with_no_time_for_a_retry_only_a_transient_answer_is_cut_short(sqs, black_hole, status, error_type, raised):
    sqs.meta.events.register_last("before-send.*.*", answered(status, error_type))
    with invocation_deadline(LambdaContext(ANSWER_RESERVE_S + RETRY_SLEEP_MAX_S)), \
            pytest.raises((DeadlineExceeded, ClientError), match=raised) as caught:
        send_raw(sqs, black_hole)
    assert isinstance(caught.value, ClientError) == (raised == "NonExistentQueue")


def test_the_local_api_server_gives_each_request_the_api_functions_timeout():
    from chalice.config import Config

    from localdev.api_server import api_timeout_s

    config = Config.create(chalice_stage="local", app_name="sms-gateway", lambda_timeout=api_timeout_s())
    assert config.lambda_timeout == 10  # .chalice/config.json: api_handler
