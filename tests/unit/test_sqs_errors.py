"""Every SQS failure is a dependency outage (503 at the API, the record back on its queue), for every queue and
call: one mapping (sqs_errors.py)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.aws_deadline import DeadlineExceeded
from chalicelib.callbacks.events import CallbackEvent
from chalicelib.callbacks.queue import CallbackQueue
from chalicelib.dispatch_queue import DispatchMessage, DispatchQueue
from chalicelib.errors import DependencyUnavailable

pytestmark = pytest.mark.unit

EVENT = CallbackEvent(event_id="e-1", id="a" * 32, status="sent", occurred_at="2026-12-02T04:00:00.000Z",
                      url="https://client.example/hook", client="team-a")


class FailingSqs:
    """An SQS client whose every call fails with ``error``."""

    def __init__(self, error: Exception):
        self.error = error

    def __getattr__(self, operation: str):
        def call(**_kwargs):
            raise self.error
        return call


CALLS = {
    "dispatch by_name": lambda sqs: DispatchQueue.by_name(sqs, "sms-dispatch"),
    "dispatch send": lambda sqs: DispatchQueue(sqs, "url").send(DispatchMessage(id="r-1"), delay_s=5),
    "dispatch defer": lambda sqs: DispatchQueue(sqs, "url").defer("handle", 30),
    "callbacks by_name": lambda sqs: CallbackQueue.by_name(sqs, "sms-callbacks", "sms-callbacks-dlq"),
    "callbacks send": lambda sqs: CallbackQueue(sqs, "url", "dlq").send(EVENT, delay_s=5),
    "callbacks send_to_dlq": lambda sqs: CallbackQueue(sqs, "url", "dlq").send_to_dlq(EVENT),
}
ERRORS = [
    pytest.param(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "EndpointConnectionError",
                 id="unreachable"),
    pytest.param(DeadlineExceeded(operation="SendMessage", reason="no time left"), "DeadlineExceeded",
                 id="invocation-deadline"),
    pytest.param(ClientError({"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue"}}, "SendMessage"),
                 "ClientError", id="missing-queue"),
]


@pytest.mark.parametrize("error, name", ERRORS)
@pytest.mark.parametrize("call", CALLS)
def test_any_sqs_failure_is_a_dependency_outage(call, error, name):
    with pytest.raises(DependencyUnavailable, match=f"^SQS unavailable: {name}$"):
        CALLS[call](FailingSqs(error))
