"""How long an AWS call may take: the one place that says it, for every boto3 and PynamoDB client.

Each client carries fixed ceilings (``AWS_CONFIG``: connect 0.5 s, read 5 s, 2 attempts) and two hooks that
cut them to what the current invocation has left. The app sets the deadline around every handler
(``invocation_deadline``, from Lambda's ``get_remaining_time_in_millis``; ``chalice local`` and
``chalice.test.Client`` give the function's configured timeout the same way):

    invoked                                   deadline          function timeout
    |----------- AWS calls ---------------------|-- ANSWER_RESERVE_S --|
                 each attempt reads for at most min(READ_TIMEOUT_S, left - CONNECT_TIMEOUT_S);
                 none starts with less than MIN_ATTEMPT_S left;
                 no retry after a transient failure unless its back-off (<= RETRY_SLEEP_MAX_S) and
                 MIN_ATTEMPT_S still fit
    the reserve is for what follows the last call: the 503 (or batchItemFailures) itself.

A call cut short raises ``DeadlineExceeded`` (a BotoCoreError): the callers' existing error mapping makes it
a DependencyUnavailable, as any timeout. Outside an invocation (a script, the local queue emulator) there is
no deadline and the ceilings alone apply.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

CONNECT_TIMEOUT_S = 0.5
READ_TIMEOUT_S = 5.0
ATTEMPTS = 2  # one retry: a throttled or dropped call usually succeeds at once
AWS_CONFIG = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
                    retries={"total_max_attempts": ATTEMPTS, "mode": "standard"}, max_pool_connections=50)
ANSWER_RESERVE_S = 1.0
MIN_ATTEMPT_S = 0.25
RETRY_SLEEP_MAX_S = 1.0  # botocore's standard mode sleeps random() x 2^(attempt-1) s before attempt 2
THROTTLING = frozenset({"TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
                        "LimitExceededException", "TransactionInProgressException", "SlowDown"})

_deadline: ContextVar[float | None] = ContextVar("aws_deadline", default=None)  # time.monotonic() seconds


class DeadlineExceeded(BotoCoreError):
    fmt = "{operation}: {reason} before the invocation's deadline"


@contextmanager
def invocation_deadline(lambda_context: Any) -> Iterator[None]:
    """AWS calls made inside end ANSWER_RESERVE_S before the invocation's time runs out (no context: no bound)."""
    remaining_ms = lambda_context.get_remaining_time_in_millis() if lambda_context is not None else None
    deadline = None if remaining_ms is None else time.monotonic() + remaining_ms / 1000 - ANSWER_RESERVE_S
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left_s() -> float | None:
    """Seconds until the current invocation's deadline for AWS calls; None outside an invocation."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def bounded(client):
    """``client`` with its attempts cut to the invocation's deadline (idempotent)."""
    events = client.meta.events
    events.register("before-send.*.*", _bound_attempt, unique_id="aws-deadline-attempt")
    events.register_first("needs-retry.*.*", _retry_only_in_time, unique_id="aws-deadline-retry")
    return client


def aws_client(service: str, region: str):
    """A boto3 client with the ceilings and the deadline. boto3 reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>
    itself: one code path for AWS and emulators."""
    return bounded(boto3.session.Session().client(service, region_name=region, config=AWS_CONFIG))


def _bound_attempt(request, event_name: str = "", **_) -> None:
    left = time_left_s()
    if left is None:
        return
    if left < MIN_ATTEMPT_S:
        raise DeadlineExceeded(operation=event_name.rpartition(".")[2] or "AWS call",
                               reason=f"{max(left, 0):.2f} s left, too little to try")
    # botocore (httpsession.py) reads this per request; the connect timeout stays the pool's CONNECT_TIMEOUT_S.
    request.context["read_timeout"] = min(READ_TIMEOUT_S, max(MIN_ATTEMPT_S, left - CONNECT_TIMEOUT_S))


def _retry_only_in_time(response=None, caught_exception=None, operation=None, **_) -> None:
    left = time_left_s()
    if left is None or isinstance(caught_exception, DeadlineExceeded) or not _transient(response, caught_exception):
        return
    if left < RETRY_SLEEP_MAX_S + MIN_ATTEMPT_S:
        failure = type(caught_exception).__name__ if caught_exception else _error_code(response)
        raise DeadlineExceeded(operation=getattr(operation, "name", "AWS call"),
                               reason=f"{failure}, and no time left to try again")


def _transient(response, caught_exception) -> bool:
    """What botocore's standard mode would retry: no answer, a 5xx, or throttling. Any other answer (a failed
    condition, a missing resource) is left alone: it means what it says, with or without time left."""
    if caught_exception is not None:
        return True
    if response is None:
        return False
    status = response[0].status_code
    code = _error_code(response)
    return status >= 500 or status == 429 or "Throttl" in code or code in THROTTLING


def _error_code(response) -> str:
    return str((response[1] or {}).get("Error", {}).get("Code") or "") if response else ""

