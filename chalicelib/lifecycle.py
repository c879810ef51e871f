"""The request lifecycle: every status a request can have, and which moves between them are allowed.

    pending ──claim──> processing ──accepted──> sent ──receipt──> delivered | undelivered
       ^                 │  │  │
       │   throttled,    │  │  └──provider failure──> retrying ──claim──> processing ...
       │   refused here, │  │
       └──claim released─┘  └──refused (or refused here by every provider) / retries exhausted──> failed
    pending | retrying | processing (lease passed) ──past its time to live──> failed (expired)

Store conditions, the dispatcher, the sweeper, the API models, the benchmark and the chaos runner
all read the statuses from here; nothing else spells them. The table is the rule, enforced where it is written:

    TRANSITIONS ──moving()──> every status write's DynamoDB condition (storage/claims.py, storage/deliveries.py)
    a write's RequestSnapshot ──StatusChanged.of()──> the callback event (callbacks/publisher.py)
                                                  └─> the timeline's delivery-result entry (timeline.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.storage.records import RequestSnapshot


class Status(StrEnum):
    PENDING = "pending"  # accepted and queued, waiting for a dispatcher
    PROCESSING = "processing"  # a dispatcher holds the claim of one attempt
    RETRYING = "retrying"  # a provider failed it; a delayed retry is queued
    SENT = "sent"  # a provider accepted it
    FAILED = "failed"  # refused, retries exhausted, or expired: permanent
    DELIVERED = "delivered"  # the handset has it (delivery receipt)
    UNDELIVERED = "undelivered"  # the network gave up on it (delivery receipt)


class FailureReason(StrEnum):
    # a provider refused the message itself (bad number, content), or every provider refused it here: no retry
    REFUSED = "refused"
    RETRIES_EXHAUSTED = "retries_exhausted"
    EXPIRED = "expired"  # not sent within its time to live


# A dispatcher can still act on these: the sweeper watches them until they leave.
OPEN: frozenset[Status] = frozenset({Status.PENDING, Status.PROCESSING, Status.RETRYING})
# Waiting for a send: the only statuses a claim may start from.
CLAIMABLE: tuple[Status, ...] = (Status.PENDING, Status.RETRYING)
# Dispatch is over: every accepted request reaches one of these.
TERMINAL: frozenset[Status] = frozenset({Status.SENT, Status.FAILED, Status.DELIVERED, Status.UNDELIVERED})

# What a delivery receipt moves a sent request to.
DELIVERY_RESULTS: tuple[Status, ...] = (Status.DELIVERED, Status.UNDELIVERED)

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.PROCESSING, Status.FAILED}),
    # back to pending: a throttled attempt, or a claim given back before the send
    Status.PROCESSING: frozenset({Status.SENT, Status.RETRYING, Status.PENDING, Status.FAILED}),
    Status.RETRYING: frozenset({Status.PROCESSING, Status.FAILED}),
    Status.SENT: frozenset({Status.DELIVERED, Status.UNDELIVERED}),
    Status.FAILED: frozenset(),
    Status.DELIVERED: frozenset(),
    Status.UNDELIVERED: frozenset(),
}


def can_move(source: Status, target: Status) -> bool:
    return target in TRANSITIONS[source]


def sources_of(target: Status) -> tuple[Status, ...]:
    """Every status a request may reach ``target`` from: the condition of the write that moves it there."""
    return tuple(status for status, targets in TRANSITIONS.items() if target in targets)


class IllegalTransition(ValueError):
    """A write asked for a move the table does not have: a bug, never a race (a race fails the condition)."""


def moving(status_attribute, target: Status, *, among: tuple[Status, ...] | None = None):
    """The condition of every status write: the request is in a status that may move to ``target`` (and, with
    ``among``, one of those: a dispatcher's end of an attempt starts from processing only).

    ``status_attribute`` is the store's status attribute (PynamoDB's ``Model.status``); the table is read on each
    call, so the condition is always the table's."""
    sources = tuple(status for status in sources_of(target) if among is None or status in among)
    if not sources:
        raise IllegalTransition(f"no move to {target} from {', '.join(among or ()) or 'anywhere'}")
    return status_attribute.is_in(*sources)



def delivery_error(reason: str | None, code: str | None) -> str | None:
    """A delivery receipt's error in words, the one way every reader says it: "unreachable (30003)", the reason
    alone without a code, "error (<code>)" for a code without a reason, None for neither."""
    if not code:
        return reason or None
    return f"{reason or 'error'} ({code})"


@dataclass(frozen=True)
class StatusChanged:
    """What one status write tells the world, read from the request as that write left it: the callback event
    (whichever path wrote the status: dispatcher, sweeper, receipt) and the timeline's delivery-result entry are
    both made of this."""

    request_id: str
    status: Status
    provider: str | None
    occurred_at: str  # ISO-8601 UTC: the receipt's time for a delivery result, else the write's
    words: str | None  # what the change says went wrong: a failed request's last error, a delivery receipt's

    @classmethod
    def of(cls, request: RequestSnapshot, status: Status | str | None = None) -> StatusChanged:
        """The change to ``status`` (default: the request's own; another one for a callback published late)."""
        status = Status(status or request.status)
        delivery_result = status in DELIVERY_RESULTS
        words = (request.last_error if status is Status.FAILED
                 else delivery_error(request.delivery_reason, request.delivery_error_code) if delivery_result
                 else None)
        occurred_at = request.delivered_at if delivery_result and request.delivered_at else request.updated_at
        return cls(request_id=request.id, status=status, provider=request.provider_used, occurred_at=occurred_at,
                   words=words)

    @property
    def error(self) -> str | None:
        """The callback's error: none for a delivered message, whatever code its receipt carried along."""
        return None if self.status is Status.DELIVERED else self.words
