"""Every error the gateway raises, in one place.

Two branches matter to the dispatcher: a ``RetryableError`` means "try again later"
(the message goes back to the queue), a ``PermanentError`` means "this request is done"
(it ends ``failed``). API errors carry the HTTP status and the field they concern;
``app.py`` only maps them to responses.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    code = "gateway_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None,
                 request_id: str | None = None, retry_after_s: int | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.request_id = request_id  # set when the error concerns a request that exists
        self.retry_after_s = retry_after_s  # when trying again makes sense (the Retry-After header)
        self.headers = headers or {}  # further headers for the answer (RateLimit-*)
        if code:
            self.code = code


class RetryableError(GatewayError):
    """The same work may succeed later: a dependency or a provider is failing."""

    code = "retryable"


class PermanentError(GatewayError):
    """The same work will never succeed: retrying would only repeat the failure."""

    code = "permanent"


# --- API errors: a client's request is refused (4xx), or a dependency is down (503) ---


class ApiError(PermanentError):
    status = 400
    code = "bad_request"


class ValidationFailed(ApiError):
    status = 400
    code = "invalid_field"


class UnprocessableEntity(ApiError):
    status = 422
    code = "unprocessable"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class TooManyRequests(ApiError):
    """A client's rate limit or daily quota: try again after ``retry_after_s``."""

    status = 429
    code = "rate_limited"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class DependencyUnavailable(RetryableError):
    """Redis, DynamoDB or SQS did not answer: the API says 503, the dispatcher retries the record."""

    status = 503
    code = "dependency_unavailable"


class StorageRejected(PermanentError):
    """DynamoDB refused a call as malformed (ValidationException and the like): a bug, not an outage.

    Not retried as an outage; the API answers 500, the dispatcher leaves the record to come back
    and, if the bug persists, to reach the DLQ."""

    status = 500
    code = "internal_error"


class ConfigurationError(PermanentError):
    """A setting in the environment is malformed; the message names the variable (never its secret value).

    An operator's mistake, not the client's: the API answers 503 until the configuration is fixed."""

    status = 503
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
    (a webhook answers 409 with Retry-After; an SQS record comes back)."""

    status = 409
    code = "receipt_too_early"
