"""What every store module shares: one mapping of DynamoDB errors, and the timestamp format.

``dynamo_errors()`` turns each PynamoDB error into a gateway error. It wraps one class once, not each
call (the shape of the ``limits`` library's ``Storage.__init_subclass__``): every table model is a
``GatewayModel``, whose connection is a ``MappedTableConnection``, each DynamoDB operation of which runs
inside ``dynamo_errors()``. Every store call (a get, a conditional write, the lazily read pages of a query)
goes through it, so a store only catches the gateway error it means to handle (``ConditionFailed``):

  failed condition                                  -> ConditionFailed   (the caller decides what it means)
  throttling, 5xx, timeout, connection refused      -> DependencyUnavailable (retryable: 503 / record back)
  missing table, access denied                      -> ConfigurationError (an operator's mistake: 503)
  ValidationException and other client-side errors  -> StorageRejected   (a bug: 500 / record to the DLQ)
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from pynamodb.connection import TableConnection
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from chalicelib.errors import ConditionFailed, ConfigurationError, DependencyUnavailable, StorageRejected

CONDITION_FAILED = "ConditionalCheckFailedException"
# Errors of the caller's own making (botocore: HTTP 400 that retrying cannot fix).
CLIENT_ERRORS = frozenset({"ValidationException", "SerializationException", "ItemCollectionSizeLimitExceededException"})
CONFIGURATION_ERRORS = frozenset({
    "ResourceNotFoundException", "AccessDeniedException", "UnrecognizedClientException",
    "MissingAuthenticationTokenException", "InvalidSignatureException",
})


@contextmanager
def dynamo_errors() -> Iterator[None]:
    try:
        yield
    except PynamoDBException as exc:
        raise translate(exc) from None


def translate(exc: PynamoDBException) -> Exception:
    # Not exc.cause_response_code: it raises when the cause has "response": None (a read timeout).
    code = (getattr(exc.cause, "response", None) or {}).get("Error", {}).get("Code")
    if code == CONDITION_FAILED:
        return ConditionFailed("the item is not in the state the write expected")
    if code in CONFIGURATION_ERRORS:
        return ConfigurationError(f"DynamoDB refused the call ({code}): check the table names and the IAM policy")
    if code in CLIENT_ERRORS:
        return StorageRejected(f"DynamoDB rejected the call as malformed ({code})")
    # Throttling, 5xx and no answer at all (code None: refused connection, timeout).
    return DependencyUnavailable(f"DynamoDB unavailable: {code or type(exc.cause or exc).__name__}")


# Every TableConnection method that calls DynamoDB.
OPERATIONS = ("get_item", "put_item", "update_item", "delete_item", "batch_get_item", "batch_write_item", "query",
              "scan", "describe_table")


def _mapped(operation):
    @functools.wraps(operation)
    def call(*args, **kwargs):
        with dynamo_errors():
            return operation(*args, **kwargs)

    return call


class MappedTableConnection(TableConnection):
    """PynamoDB's connection to one table, each DynamoDB operation of it raising gateway errors."""


for _operation in OPERATIONS:
    setattr(MappedTableConnection, _operation, _mapped(getattr(TableConnection, _operation)))


class GatewayModel(Model):
    """The base of every table model: its connection maps DynamoDB's errors (``MappedTableConnection``)."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        connection = super()._get_connection()
        if type(connection) is TableConnection:  # as PynamoDB builds it (once per bound model)
            connection.__class__ = MappedTableConnection
        return connection


def iso(ts: float) -> str:
    """Fixed-width UTC ISO-8601 with milliseconds: sorts as text, which the indexes rely on."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def epoch_of(timestamp: str) -> float:
    """The epoch seconds of an ``iso`` timestamp."""
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
