"""What the stores hand out: frozen snapshots, never a PynamoDB item that a caller could save back."""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.lifecycle import FailureReason, Status
from chalicelib.storage.dynamo import epoch_of


def _int(value) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class RequestSnapshot:
    """One sms_requests item as it was read."""

    id: str
    client: str
    phone: str
    text: str | None  # None once removed (TEXT_RETENTION_DAYS after the request finished)
    encoding: str
    segments: int
    status: Status
    attempts: int  # attempts claimed so far; the claim of attempt n is the send-once guard
    retries: int
    provider_used: str | None
    provider_message_id: str | None
    excluded: tuple[str, ...]
    lease_until: int | None
    next_attempt_at: str | None
    last_error: str | None
    failure_reason: FailureReason | None
    created_at: str
    updated_at: str
    expires_at: int
    due_at: int | None
    reference: str | None = None  # the client's own reference, echoed in callbacks
    callback_url: str | None = None  # where this request's status callbacks go (else the client's default)
    callback_pending: str | None = None  # a status whose callback could not be queued yet
    sender: str | None = None
    validity_s: int | None = None
    send_at: str | None = None  # UTC ISO-8601: not sent before this
    delivered_at: str | None = None  # when the delivery receipt says it was delivered, or given up on
    delivery_error_code: str | None = None  # the vendor's code in that receipt
    delivery_reason: str | None = None  # a receipts.DeliveryReason, for undelivered
    delivery_progress: str | None = None  # the vendor's status in the latest intermediate receipt
    delivery_progress_at: str | None = None  # when that receipt says it happened
    refused_by: tuple[str, ...] = ()  # providers whose account refused it (refused here)

    @property
    def not_before(self) -> float | None:
        """send_at in epoch seconds, or None when the request may go at once."""
        return epoch_of(self.send_at) if self.send_at else None

    @classmethod
    def of(cls, item) -> RequestSnapshot:
        return cls(
            id=item.id,
            client=item.client,
            phone=item.phone,
            text=item.text,
            encoding=item.encoding,
            segments=int(item.segments),
            status=Status(item.status),
            attempts=int(item.attempts or 0),
            retries=int(item.retries or 0),
            provider_used=item.provider_used,
            provider_message_id=item.provider_message_id,
            excluded=tuple(item.excluded or ()),
            refused_by=tuple(item.refused_by or ()),
            lease_until=_int(item.lease_until),
            next_attempt_at=item.next_attempt_at,
            last_error=item.last_error,
            failure_reason=FailureReason(item.failure_reason) if item.failure_reason else None,
            created_at=item.created_at,
            updated_at=item.updated_at,
            expires_at=int(item.expires_at),
            due_at=_int(item.due_at),
            reference=item.reference,
            callback_url=item.callback_url,
            sender=item.sender,
            validity_s=_int(item.validity_s),
            send_at=item.send_at,
            callback_pending=item.callback_pending,
            delivered_at=item.delivered_at,
            delivery_error_code=item.delivery_error_code,
            delivery_reason=item.delivery_reason,
            delivery_progress=item.delivery_progress,
            delivery_progress_at=item.delivery_progress_at,
        )

    def holds_live_claim(self, attempt: int, now: float) -> bool:
        """A dispatcher holds attempt ``attempt`` and its lease has not passed."""
        return self.status is Status.PROCESSING and self.attempts == attempt and (self.lease_until or 0) > now


@dataclass(frozen=True)
class AttemptRecord:
    """One sms_responses item: what one attempt's provider answered."""

    attempt: int
    provider: str
    outcome: str
    message_id: str | None
    status_code: int | None
    latency_ms: int | None
    error: str | None
    response_data: str | None  # the provider's answer as JSON text, bounded
    created_at: str

    @classmethod
    def of(cls, item) -> AttemptRecord:
        return cls(
            attempt=int(item.attempt),
            provider=item.provider,
            outcome=item.outcome,
            message_id=item.message_id,
            status_code=_int(item.status_code),
            latency_ms=_int(item.latency_ms),
            error=item.error,
            response_data=item.response_data,
            created_at=item.created_at,
        )


@dataclass(frozen=True)
class Claim:
    """What a dispatcher holds after a successful claim: enough to send."""

    request_id: str
    attempt: int
    provider: str
    phone: str
    text: str
    retries: int
    excluded: tuple[str, ...]
    sender: str | None = None  # the client's sender id; None: the provider's own
    validity_s: int | None = None  # the client's time to live; None: the provider's default
    expires_at: int = 0  # epoch s
    not_before: float | None = None  # epoch s: send_at
    refused_by: tuple[str, ...] = ()  # providers whose account refused it: never chosen for it again
    # the request as the claim's write left it (processing), or as read when a takeover rebuilds the claim
    request: RequestSnapshot | None = field(default=None, compare=False, repr=False)
