"""A delivery receipt, whichever vendor sent it: what ``apply`` needs and nothing of the vendor's wire.

Beside lifecycle.py rather than in receipts/, so that storage/deliveries.py can write a receipt without
importing the receipts package (storage sits below it)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.lifecycle import Status


class DeliveryState(StrEnum):
    """What a receipt says; a final one is the status it moves a sent request to (the lifecycle's words)."""

    DELIVERED = Status.DELIVERED.value  # the handset has it
    UNDELIVERED = Status.UNDELIVERED.value  # the vendor or the network gave up on it
    INTERIM = "interim"  # on its way (queued, accepted, buffered, sent): changes nothing


class DeliveryReason(StrEnum):
    """Why a message was not delivered, whatever the vendor's own code (kept beside it)."""

    UNREACHABLE = "unreachable"  # handset off or out of coverage, unknown or absent subscriber, landline
    REJECTED = "rejected"  # the vendor or carrier refused it: invalid number, account, price, not routable
    EXPIRED = "expired"  # its validity period passed before the network could deliver it
    BLOCKED = "blocked"  # filtered: spam, opt-out, carrier or regulatory block, unregistered sender
    UNKNOWN = "unknown"  # the vendor did not say


@dataclass(frozen=True)
class Receipt:
    provider: str  # the configured provider's name (not its kind)
    message_id: str  # the vendor's id of the message: provider_message_id on the request
    state: DeliveryState
    error_code: str | None = None  # the vendor's own code, kept as text
    reason: DeliveryReason | None = None  # for undelivered
    occurred_at: float | None = None  # epoch s, when the vendor says it happened; None = when received (see below)
    request_id: str | None = None  # our request id when the vendor echoes it (Vonage client-ref, AWS Context)
    vendor_status: str = ""  # the vendor's status word, for the log

    @property
    def status(self) -> Status | None:
        """The request status this receipt moves a sent request to; None for an interim one."""
        return None if self.state is DeliveryState.INTERIM else Status(self.state)


def undelivered(reasons: dict[str, DeliveryReason], code: str | None,
                default: DeliveryReason = DeliveryReason.UNKNOWN) -> DeliveryReason:
    """The reason for a vendor's error code, from that vendor's table."""
    return reasons.get(code or "", default)


# No receipt of ours happened before this (2000-01-01T00:00:00Z): an earlier time is a vendor's error.
EARLIEST_OCCURRED_AT = 946_684_800.0


def occurred_at_or_now(occurred_at: float | None, now: float) -> float:
    """When the vendor says it happened, when that can be true; else ``now``.

    Not a finite number, before EARLIEST_OCCURRED_AT, or after now (milliseconds read as seconds, year 0, a clock
    ahead) cannot be true. The receipt itself is still applied: its signature verified, and refusing it would only
    bring the vendor's retries, every one refused alike."""
    if occurred_at is None or not math.isfinite(occurred_at) or not EARLIEST_OCCURRED_AT <= occurred_at <= now:
        return now
    return occurred_at

