"""Every error the gateway raises, in one place.

Two branches matter to the dispatcher: a ``RetryableError`` means "try again later"
(the message goes back to the queue), a ``PermanentError`` means "this request is done"
(it ends ``failed``). An error carries data only (a message, the field at fault, when to retry, the limit
that ran out); what it means in HTTP (status, Retry-After, RateLimit-*, Allow) is said once, at the API edge
(chalicelib/api/http_errors.py), as PynamoDB's and chalice's errors leave the answer to their caller.
"""

from __future__ import annotations

import functools
import inspect
from contextlib import AbstractContextManager
from dataclasses import dataclass


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    code = "gateway_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None,
                 request_id: str | None = None, retry_after_s: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.request_id = request_id  # set when the error concerns a request that exists
        self.retry_after_s = retry_after_s  # when trying again makes sense, in seconds
        if code:
            self.code = code


class RetryableError(GatewayError):
    """The same work may succeed later: a dependency or a provider is failing."""

    code = "retryable"


class PermanentError(GatewayError):
    """The same work will never succeed: retrying would only repeat the failure."""

    code = "permanent"


# --- A client's request is refused, or a dependency is down ---


class ApiError(PermanentError):
    code = "bad_request"


class ValidationFailed(ApiError):
    code = "invalid_field"


class UnprocessableEntity(ApiError):
    code = "unprocessable"


class Unauthorized(ApiError):
    code = "unauthorized"


class Forbidden(ApiError):
    code = "forbidden"


@dataclass(frozen=True)
class RateLimitState:
    """Where a client stands under the limit that runs out first: its size, what is left, and the seconds until
    it has room again (the API shows it as the RateLimit-* headers)."""

    limit: int
    remaining: int
    reset_s: int


class TooManyRequests(ApiError):
    """A client's rate limit or daily quota: try again after ``retry_after_s``."""

    code = "rate_limited"

    def __init__(self, message: str, *, rate_limit: RateLimitState | None = None, **details):
        super().__init__(message, **details)
        self.rate_limit = rate_limit


class NotFound(ApiError):
    code = "not_found"


class MethodNotAllowed(ApiError):
    code = "method_not_allowed"

    def __init__(self, message: str, *, allowed: tuple[str, ...] = (), **details):
        super().__init__(message, **details)
        self.allowed = allowed  # the methods that are


class Conflict(ApiError):
    code = "conflict"


class PayloadTooLarge(ApiError):
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    code = "unsupported_media_type"


class DependencyUnavailable(RetryableError):
    """Redis, DynamoDB or SQS did not answer: the API says try later, the dispatcher retries the record."""

    code = "dependency_unavailable"


class StorageRejected(PermanentError):
    """DynamoDB refused a call as malformed (ValidationException and the like): a bug, not an outage.

    Not retried as an outage; the API answers as to a bug, the dispatcher leaves the record to come back
    and, if the bug persists, to reach the DLQ."""

    code = "internal_error"


class ConfigurationError(PermanentError):
    """A setting in the environment is malformed; the message names the variable (never its secret value).

    An operator's mistake, not the client's: the API says try later until the configuration is fixed."""

    code = "configuration_error"


# --- Dispatch-time and storage conditions ---


class MalformedMessage(PermanentError):
    """A queue record that can never be processed; the only record a dispatcher drops."""

    code = "malformed_message"


class ConditionFailed(PermanentError):
    """A conditional write found the item in another state than the condition asked for."""

    code = "condition_failed"


class ClaimConflict(PermanentError):
    """The conditional claim on a request failed: another delivery owns it or it is already done.

    ``snapshot`` is the request as the store found it (a ``RequestSnapshot``), None when it does not
    exist, so that the dispatcher can tell an abandoned claim from a finished one."""

    code = "claim_conflict"

    def __init__(self, message: str, *, snapshot=None):
        super().__init__(message)
        self.snapshot = snapshot


class ClaimBusy(RetryableError):
    """Another dispatcher holds a live lease on this attempt; the record comes back later."""

    code = "claim_busy"


# --- Delivery receipts (webhooks and the delivery-events queue) ---


class SignatureMissing(Unauthorized):
    """A webhook call without the vendor's signature: never processed."""

    code = "signature_missing"


class SignatureInvalid(Forbidden):
    """A webhook call whose signature does not verify (wrong secret, wrong webhook_url, replayed): never processed."""

    code = "signature_invalid"


class ReceiptTooEarly(RetryableError):
    """A receipt for a request whose answer is not recorded yet (still processing): the vendor sends it again
    (a webhook is refused with Retry-After; an SQS record comes back)."""

    code = "receipt_too_early"


# --- Mapping a backend's errors to these, once per class ---


class MapsErrors:
    """The base of a class that talks to one backend (Redis, SQS): each public method a subclass defines runs
    inside ``self._errors()``, which turns the backend's errors into gateway errors. The class is wrapped once,
    when it is defined (the ``limits`` library's ``Storage.__init_subclass__``), not each call."""

    def _errors(self) -> AbstractContextManager:
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, member in list(vars(cls).items()):
            if not name.startswith("_") and inspect.isfunction(member):
                setattr(cls, name, _mapping_errors(member))


def _mapping_errors(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        with self._errors():
            return method(self, *args, **kwargs)

    return call
